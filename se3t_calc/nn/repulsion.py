"""Screened nuclear repulsion (ZBL), switched off smoothly before the training data begins."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from ase.data import atomic_numbers, covalent_radii

COULOMB_EV_A = 14.399645  # e^2 / (4 pi eps0), eV Å
# universal ZBL screening function: sum_k c_k exp(-d_k r / a)
_PHI_C = (0.18175, 0.50986, 0.28022, 0.02817)
_PHI_D = (3.19980, 0.94229, 0.40290, 0.20162)
INNER_FRACTION = 0.5  # the repulsion is whole below INNER_FRACTION * r_outer
DEFAULT_OUTER_FRACTION = 0.6  # r_outer without data: this fraction of the covalent bond length


class ZBLRepulsion(torch.nn.Module):
    """Pair energy ``phi(r) = k Z_a Z_b / r * Phi(r / a) * s(r)`` of the ZBL universal potential.

    ``a = 0.46850 / (Z_a^0.23 + Z_b^0.23)`` Å. The switch ``s`` is 1 below
    ``INNER_FRACTION * r_outer`` and goes to 0 at ``r_outer`` with zero first and
    second derivatives (``1 - 10t^3 + 15t^4 - 6t^5``), so energy, forces and their
    derivatives stay continuous. ``r_outer`` (Å, per species pair, a buffer stored in
    the model file) is set from the training data to the shortest distance seen for
    the pair: where the data lives, the term is exactly zero.

    Parameters
    ----------
    species : sequence of str
        Chemical symbols of the model's species.
    """

    r_outer: torch.Tensor
    charges: torch.Tensor

    def __init__(self, species: Sequence[str]):
        super().__init__()
        numbers = [atomic_numbers[s] for s in species]
        dtype = torch.get_default_dtype()
        radii = torch.tensor([covalent_radii[z] for z in numbers], dtype=dtype)
        self.register_buffer("charges", torch.tensor(numbers, dtype=dtype), persistent=False)
        self.register_buffer("r_outer", DEFAULT_OUTER_FRACTION * (radii[:, None] + radii[None, :]))

    def forward(
        self, length: torch.Tensor, species: torch.Tensor, edge_index: torch.Tensor, num_nodes: int
    ) -> torch.Tensor:
        """Per-atom repulsion energies: half of each pair term on either atom.

        Parameters
        ----------
        length : torch.Tensor, shape (E,)
            Edge lengths, Å (every pair appears in both directions).
        species : torch.Tensor, shape (N,)
            Species indices.
        edge_index : torch.Tensor, shape (2, E)
            Centre and neighbour of each edge.
        num_nodes : int
            ``N``.

        Returns
        -------
        torch.Tensor, shape (N,)
            eV, in the dtype of ``length``.
        """
        si = species.index_select(0, edge_index[0])
        sj = species.index_select(0, edge_index[1])
        outer = self.r_outer.to(length.dtype)[si, sj]
        zi = self.charges.to(length.dtype).index_select(0, si)
        zj = self.charges.to(length.dtype).index_select(0, sj)
        r = length.clamp(min=1e-4)  # coincident atoms: a huge, finite energy
        x = r * (zi.pow(0.23) + zj.pow(0.23)) / 0.46850
        phi = sum(c * torch.exp(-d * x) for c, d in zip(_PHI_C, _PHI_D, strict=True))
        inner = INNER_FRACTION * outer
        t = ((r - inner) / (outer - inner)).clamp(0.0, 1.0)
        switch = 1.0 - t.pow(3) * (10.0 - 15.0 * t + 6.0 * t.pow(2))
        pair = (0.5 * COULOMB_EV_A) * zi * zj / r * phi * switch
        out = torch.zeros(num_nodes, dtype=length.dtype, device=length.device)
        return out.index_add(0, edge_index[0], pair)


def pair_energy(z_a: int, z_b: int, r: float) -> float:
    """Unswitched ZBL energy of two nuclei at ``r`` Å, eV (a reference for tests and plots)."""
    a = 0.46850 / (z_a**0.23 + z_b**0.23)
    phi = sum(c * math.exp(-d * r / a) for c, d in zip(_PHI_C, _PHI_D, strict=True))
    return COULOMB_EV_A * z_a * z_b / r * phi
