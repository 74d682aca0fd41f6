"""Smooth radial basis, cutoff envelope and safe edge geometry."""

from __future__ import annotations

import math

import torch

# normalisation of the bump exp(-2 / (1 - d^2)) to unit second moment (as in e3nn)
_BUMP_NORM = 1.14136 * math.exp(2.0)
# sharpness of the cutoff envelope: w(0.9 r_cut) = exp(-0.9) ~ 0.41
_ENVELOPE_BETA = 10.0


def edge_length_and_direction(vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Length and unit vector of edges, finite (with finite gradients) for zero vectors.

    Parameters
    ----------
    vectors : torch.Tensor, shape (E, 3)
        Edge vectors in Å.

    Returns
    -------
    length : torch.Tensor, shape (E,)
        Å; zero for coincident atoms.
    direction : torch.Tensor, shape (E, 3)
        Unit vectors; zero for coincident atoms.
    """
    r2 = vectors.pow(2).sum(-1)
    nonzero = r2 > 0
    length = torch.where(nonzero, torch.where(nonzero, r2, torch.ones_like(r2)).sqrt(), 0.0)
    direction = vectors / torch.where(nonzero, length, torch.ones_like(length)).unsqueeze(-1)
    return length, direction


def smooth_basis(x: torch.Tensor, start: float, end: float, number: int) -> torch.Tensor:
    """Smooth finite basis on ``[start, end]`` that vanishes with all derivatives at both ends.

    Bumps ``c * exp(-2 / (1 - d^2))`` of width two grid steps on a grid of
    ``number + 2`` points, scaled by ``sqrt(number)`` so that their summed square is
    of order ``number``.

    Parameters
    ----------
    x : torch.Tensor, shape (E,)
        Values of the distance invariant (Å or 1/Å).
    start, end : float
        Interval of the basis, in the units of ``x``.
    number : int
        Number of basis functions.

    Returns
    -------
    torch.Tensor, shape (E, number)
    """
    step = (end - start) / (number + 1)
    centers = start + step * torch.arange(1, number + 1, dtype=x.dtype, device=x.device)
    d = (x.unsqueeze(-1) - centers) / step
    t = 1.0 - d * d
    inside = t > 0
    safe_t = torch.where(inside, t, torch.ones_like(t))
    bump = torch.where(inside, torch.exp(-2.0 / safe_t), torch.zeros_like(t))
    return bump * (_BUMP_NORM * math.sqrt(number))


def log_envelope(length: torch.Tensor, r_cut: float) -> torch.Tensor:
    """Logarithm of the cutoff envelope ``w(r) = exp(-x / (beta (1 - x)))``, ``x = r / r_cut``.

    ``w`` is 1 at ``r = 0`` and goes to zero with all its derivatives at ``r_cut``;
    beyond the cutoff the log is ``-inf`` so the weight is exactly zero.

    Parameters
    ----------
    length : torch.Tensor, shape (E,)
        Edge lengths in Å.
    r_cut : float
        Cutoff radius in Å.

    Returns
    -------
    torch.Tensor, shape (E,)
    """
    x = length / r_cut
    inside = x < 1.0
    safe_x = torch.where(inside, x, torch.zeros_like(x))
    value = -safe_x / (_ENVELOPE_BETA * (1.0 - safe_x))
    return torch.where(inside, value, torch.full_like(x, -math.inf))


class RadialEmbedding(torch.nn.Module):
    """Basis functions of ``r`` and of ``1/r``, and the log cutoff envelope.

    Parameters
    ----------
    r_cut : float
        Cutoff radius in Å.
    r_min : float
        Smallest distance (Å) resolved by the inverse-distance basis.
    num_basis : int
        Basis functions per invariant.
    invariants : sequence of str
        Which of ``"r"`` and ``"inverse"`` to compute.
    """

    def __init__(self, r_cut: float, r_min: float, num_basis: int, invariants: tuple[str, ...]):
        super().__init__()
        self.r_cut = r_cut
        self.r_min = r_min
        self.num_basis = num_basis
        self.invariants = tuple(sorted(set(invariants)))

    def forward(self, length: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Embed edge lengths.

        Parameters
        ----------
        length : torch.Tensor, shape (E,)
            Edge lengths in Å.

        Returns
        -------
        basis : dict of str to torch.Tensor, each of shape (E, num_basis)
            Keyed by invariant name.
        log_env : torch.Tensor, shape (E,)
            Log of the cutoff envelope.
        """
        basis = {}
        if "r" in self.invariants:
            basis["r"] = smooth_basis(length, 0.0, self.r_cut, self.num_basis)
        if "inverse" in self.invariants:
            # below r_min the basis is zero; clamping keeps 1/r finite for r -> 0
            inv = 1.0 / length.clamp(min=0.5 * self.r_min)
            basis["inverse"] = smooth_basis(inv, 1.0 / self.r_cut, 1.0 / self.r_min, self.num_basis)
        return basis, log_envelope(length, self.r_cut)
