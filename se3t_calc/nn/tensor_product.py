"""Per-edge "uvu" tensor product of node features with spherical harmonics.

A lean replacement of ``e3nn.o3.TensorProduct`` for the one product the
attention layer needs: every channel ``u`` of an input irrep ``l1`` is coupled
to the spherical harmonics ``Y^{l2}`` of the edge and projected on ``l3`` with a
Clebsch-Gordan matrix and a per-edge, per-channel, per-path weight. For each
``l1`` the coupling with all ``(l2, l3)`` paths is one matrix product
``Y @ C`` and one batched matrix product with the features.
"""

from __future__ import annotations

import itertools
import math

import torch
from e3nn import o3


class EdgeTensorProduct(torch.nn.Module):
    """``out[e, u, path k] = w[e, u, path] * sum_ij C[i, j, k] x[e, u, i] Y[e, j]``.

    Parameters
    ----------
    irreps_in : list of o3.Irrep
        Distinct input irreps ``l1`` (natural parity); every one has the same number of
        channels, read from the input.
    irreps_sh : o3.Irreps
        Irreps of the spherical harmonics (``0e + 1o + ... + lmax``).
    targets : set of o3.Irrep
        Output irreps ``l3`` that are kept.

    Attributes
    ----------
    paths : list of tuple of o3.Irrep
        ``(l1, l2, l3)`` of every path, in output order (by ``l1``, then ``l3``, then ``l2``).
    blocks : list of o3.Irrep
        Output irrep ``l3`` of every path: each path is one output block.
    dim : int
        ``S``, summed dimension of all path outputs.
    """

    block_of_column: torch.Tensor

    def __init__(self, irreps_in: list, irreps_sh: o3.Irreps, targets: set):
        super().__init__()
        self.in_dims = [ir.dim for ir in irreps_in]
        self.paths = edge_paths(irreps_in, irreps_sh, targets)
        # first row of each harmonic's block (the last offset, the total, has no block)
        starts = itertools.accumulate([ir.dim for _, ir in irreps_sh], initial=0)
        sh_offsets = dict(zip([ir for _, ir in irreps_sh], starts, strict=False))
        # per l1, (sh_dim, d1 * S_l1): for each i, the columns of all paths of this l1
        couplings = [
            torch.cat(
                [
                    _coupling(ir1, ir2, ir3, sh_offsets[ir2], irreps_sh.dim)
                    for a, ir2, ir3 in self.paths
                    if a == ir1
                ],
                dim=-1,
            ).reshape(irreps_sh.dim, -1)
            for ir1 in irreps_in
        ]
        self.out_dims = [c.shape[1] // d for c, d in zip(couplings, self.in_dims, strict=True)]
        self.dim = sum(self.out_dims)
        self.blocks = [ir3 for _, _, ir3 in self.paths]
        for k, c in enumerate(couplings):
            self.register_buffer(f"coupling_{k}", c, persistent=False)
        # the path of every output column, to spread the per-path weights over them
        self.register_buffer("block_of_column", block_of_column(self.blocks), persistent=False)

    @property
    def num_paths(self) -> int:
        return len(self.paths)

    def forward(self, x: torch.Tensor, sh: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Couple features with harmonics.

        Parameters
        ----------
        x : torch.Tensor, shape (E, sum_l1 C * dim(l1))
            Neighbour features in e3nn layout (one ``C x l1`` block per ``l1``), any number
            ``C`` of channels (keys and values side by side, say): the product is the same
            for every channel.
        sh : torch.Tensor, shape (E, irreps_sh.dim)
        weight : torch.Tensor, shape (E, C, num_paths), optional
            Without it the paths are not weighted.

        Returns
        -------
        torch.Tensor, shape (E, C, dim)
            Path outputs, concatenated along the last axis in ``paths`` order.
        """
        num_edges = x.shape[0]
        channels = x.shape[1] // sum(self.in_dims)
        blocks = x.split([channels * d for d in self.in_dims], dim=1)
        outputs = []
        for k, (block, d1, s) in enumerate(zip(blocks, self.in_dims, self.out_dims, strict=True)):
            coupling = getattr(self, f"coupling_{k}").to(sh.dtype)
            a = (sh @ coupling).view(num_edges, d1, s)
            features = block.reshape(num_edges, channels, d1)
            # scalars: an outer product, which a batched matrix product with an inner size
            # of one computes several times slower
            outputs.append(features * a if d1 == 1 else torch.bmm(features, a))
        out = torch.cat(outputs, dim=-1)
        return out if weight is None else self.weigh(out, weight)

    def weigh(self, out: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Path outputs (E, C, dim) times their weights (E, C, num_paths).

        One product with the weights spread over columns: slicing per path would make the
        backward allocate and zero an edge-sized tensor for every slice.
        """
        return out * weight.index_select(2, self.block_of_column)


def edge_paths(
    irreps_in: list, irreps_sh: o3.Irreps, targets: set
) -> list[tuple[o3.Irrep, o3.Irrep, o3.Irrep]]:
    """Every path ``l1 x l2 -> l3`` from the input irreps and the edge's harmonics to the
    targets, ordered by ``l1``, then ``l3``, then ``l2``."""
    return [
        (ir1, ir2, ir3)
        for ir1 in irreps_in
        for ir3 in sorted(targets)
        for _, ir2 in irreps_sh
        if ir3 in ir1 * ir2
    ]


def block_of_column(blocks: list) -> torch.Tensor:
    """Index of the output block (irreps ``blocks``) of every output column, (sum dim,)."""
    return torch.tensor([b for b, ir in enumerate(blocks) for _ in range(ir.dim)])


def coupling(ir1: o3.Irrep, ir2: o3.Irrep, ir3: o3.Irrep) -> torch.Tensor:
    """Clebsch-Gordan coefficients (d1, d2, d3) of one path, scaled so that its outputs have
    unit variance; float64, so that float64 models are exact (cast to the input dtype when used)."""
    return o3.wigner_3j(ir1.l, ir2.l, ir3.l, dtype=torch.float64) * math.sqrt(ir3.dim)


def _coupling(ir1: o3.Irrep, ir2: o3.Irrep, ir3: o3.Irrep, sh_offset: int, sh_dim: int) -> torch.Tensor:
    """:func:`coupling` as (sh_dim, d1, d3), zero outside the rows of its ``l2``."""
    full = torch.zeros(sh_dim, ir1.dim, ir3.dim, dtype=torch.float64)
    full[sh_offset : sh_offset + ir2.dim] = coupling(ir1, ir2, ir3).permute(1, 0, 2)
    return full
