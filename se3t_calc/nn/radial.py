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


def bessel_basis(length: torch.Tensor, r_cut: float, number: int, p: int = 6) -> torch.Tensor:
    """Bessel functions ``sqrt(2 / r_cut) sin(n pi r / r_cut) / r`` times a polynomial envelope.

    The envelope ``1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)``,
    ``x = r / r_cut``, makes every function vanish at the cutoff with its first
    ``p - 1`` derivatives; beyond the cutoff the basis is zero.

    Parameters
    ----------
    length : torch.Tensor, shape (E,)
        Edge lengths in Å.
    r_cut : float
        Cutoff radius in Å.
    number : int
        Number of functions, ``n = 1 ... number``.
    p : int
        Order of the envelope.

    Returns
    -------
    torch.Tensor, shape (E, number)
    """
    n = torch.arange(1, number + 1, dtype=length.dtype, device=length.device)
    safe = torch.where(length > 0, length, torch.ones_like(length)).unsqueeze(-1)
    value = torch.sin(n * (math.pi / r_cut) * safe) / safe
    # r -> 0: sin(n pi r / r_cut) / r -> n pi / r_cut
    value = torch.where(length.unsqueeze(-1) > 0, value, n * (math.pi / r_cut))
    x = (length / r_cut).clamp(max=1.0)
    envelope = 1.0 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1)
    envelope = envelope - p * (p + 1) / 2 * x ** (p + 2)
    return math.sqrt(2.0 / r_cut) * value * envelope.unsqueeze(-1)


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
    kind : {"bump", "bessel"}
        Basis of the distance ``r``: smooth bumps on ``[0, r_cut]`` or Bessel
        functions with a polynomial envelope. The ``1/r`` basis is always bumps.
    """

    def __init__(
        self, r_cut: float, r_min: float, num_basis: int, invariants: tuple[str, ...], kind: str = "bump"
    ):
        super().__init__()
        self.kind = kind
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
            if self.kind == "bessel":
                basis["r"] = bessel_basis(length, self.r_cut, self.num_basis)
            else:
                basis["r"] = smooth_basis(length, 0.0, self.r_cut, self.num_basis)
        if "inverse" in self.invariants:
            # below r_min the basis is zero; clamping keeps 1/r finite for r -> 0
            inv = 1.0 / length.clamp(min=0.5 * self.r_min)
            basis["inverse"] = smooth_basis(inv, 1.0 / self.r_cut, 1.0 / self.r_min, self.num_basis)
        return basis, log_envelope(length, self.r_cut)
