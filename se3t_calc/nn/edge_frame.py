"""The edge tensor product evaluated in each edge's own frame (SO(2) convolution, as in eSCN).

Rotated so that the edge points along the y axis (the pole of e3nn's spherical
harmonics), the harmonics of the edge have one non-zero component per degree, and
coupling a feature ``x^{l1}`` with ``Y^{l2}`` onto ``l3`` becomes a diagonal map of the
order ``m``: ``out_m = c(l1, l2, l3, |m|) x_m``. A layer then rotates the neighbour's
features into the edge frame, scales and sums them per ``(l1 m) -> (l3 m)`` pair, and
rotates the result back. The result is the same tensor product, and the paths into one
``l3`` are summed per edge with their radial weights: the keys and values of a layer
have one block per output irrep instead of one per path.
"""

from __future__ import annotations

import math

import torch
from e3nn import o3

from se3t_calc.nn.tensor_product import block_of_column, coupling, edge_paths

# e3nn's spherical harmonics have the y axis as their pole: Y^l(y) is zero but for m = 0
_POLE = (0.0, 1.0, 0.0)


class EdgeFrames(torch.nn.Module):
    """Rotations that carry each edge onto the y axis, as signed Wigner-D matrices.

    ``R`` is the smallest rotation taking the unit edge vector ``u`` to ``s y``, with
    ``s = +1`` where ``u_y >= 0`` and ``-1`` elsewhere, so that ``1 + u . s y >= 1`` and
    neither ``R`` nor its gradient is ever singular. At ``-y`` the harmonics are
    ``Y^{l2}(-y) = s^{l2} Y^{l2}(y)``, and with natural parities ``s^{l2} = s^{l1} s^{l3}``:
    block ``l`` carries the factor ``s^l``, so that the coupling at ``+y`` serves every
    edge. A zero vector (coincident atoms, which the calculator refuses) gets ``R = 1``,
    ``s = 1``. ``D^1 = R`` in e3nn's basis, and ``D^l`` comes from ``D^{l-1} x D^1`` by
    Clebsch-Gordan coefficients: polynomials of ``R``, with exact gradients everywhere.

    Parameters
    ----------
    lmax : int
        Largest degree of the features rotated.
    """

    def __init__(self, lmax: int):
        super().__init__()
        self.lmax = lmax
        for degree in range(2, lmax + 1):
            cg = o3.wigner_3j(degree - 1, 1, degree, dtype=torch.float64).reshape(3 * (2 * degree - 1), -1)
            self.register_buffer(f"cg_{degree}", cg * math.sqrt(2 * degree + 1), persistent=False)

    def forward(self, direction: torch.Tensor) -> torch.Tensor:
        """Frames of edges.

        Parameters
        ----------
        direction : torch.Tensor, shape (E, 3)
            Unit edge vectors, or zero.

        Returns
        -------
        torch.Tensor, shape (E, (lmax + 1)**2, (lmax + 1)**2)
            Block-diagonal ``s^l D^l(R)``, ``l = 0 ... lmax``, in e3nn's real basis.
        """
        zero = (direction == 0).all(dim=-1)
        sign = torch.where(direction[:, 1] >= 0, 1.0, -1.0).to(direction.dtype)
        target = torch.tensor(_POLE, dtype=direction.dtype, device=direction.device) * sign.unsqueeze(-1)
        axis = torch.linalg.cross(direction, target)
        cos = (direction * target).sum(-1)
        eye = torch.eye(3, dtype=direction.dtype, device=direction.device)
        outer = axis.unsqueeze(-1) * axis.unsqueeze(-2) / (1.0 + cos)[:, None, None]
        rot = torch.where(zero[:, None, None], eye, cos[:, None, None] * eye + _skew(axis) + outer)
        size = (self.lmax + 1) ** 2
        rows = [  # each block padded to the full width, at its place on the diagonal
            torch.nn.functional.pad(
                block * sign[:, None, None] if degree % 2 else block, (degree**2, size - (degree + 1) ** 2)
            )
            for degree, block in enumerate(self.wigner_blocks(rot))
        ]
        return torch.cat(rows, dim=1)

    def wigner_blocks(self, rot: torch.Tensor) -> list[torch.Tensor]:
        """Wigner-D matrices ``D^l(R)`` (E, 2l+1, 2l+1), ``l = 0 ... lmax``, of rotation
        matrices ``R`` (E, 3, 3)."""
        blocks = [torch.ones_like(rot[:, :1, :1]), rot][: self.lmax + 1]
        for degree in range(2, self.lmax + 1):
            # sqrt(2l+1) C^T (D^{l-1} x R) sqrt(2l+1) C, C orthonormal up to 1 / (2l+1)
            cg = getattr(self, f"cg_{degree}").to(rot.dtype)
            d = 2 * degree - 1
            kron = (blocks[-1][:, :, None, :, None] * rot[:, None, :, None, :]).reshape(-1, 3 * d, 3 * d)
            blocks.append(cg.t() @ kron @ cg)
        return blocks


def _skew(v: torch.Tensor) -> torch.Tensor:
    """Cross-product matrices ``[v]x`` (E, 3, 3) of vectors (E, 3)."""
    zero = torch.zeros_like(v[:, 0])
    x, y, z = v.unbind(-1)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).view(-1, 3, 3)


class EdgeFrameConvolution(torch.nn.Module):
    """``out[e, u, l3] = D^{l3}(R_e)^T sum_{l1, m} W[e, u, (l1 m -> l3 m)] (D^{l1}(R_e) x[e, u, l1])_m``.

    ``W`` sums, over the paths ``(l1, l2, l3)``, the path's radial weight times its
    coupling at the pole, ``c(l1, l2, l3, |m|) / sqrt(n_l3)`` (``n_l3`` paths end
    on ``l3``, so each output block has about unit variance). This equals the sum over
    paths into ``l3`` of the weighted :class:`~se3t_calc.nn.tensor_product.EdgeTensorProduct`.

    Parameters
    ----------
    irreps_in : list of o3.Irrep
        Distinct input irreps ``l1`` (natural parity), each with ``channels`` channels.
    channels : int
        Channels per input irrep.
    irreps_sh : o3.Irreps
        Irreps of the edge's spherical harmonics (``0e + 1o + ... + lmax``).
    targets : set of o3.Irrep
        Output irreps ``l3``.

    Attributes
    ----------
    paths : list of tuple of o3.Irrep
        ``(l1, l2, l3)`` of every path: one radial weight each per channel.
    blocks : list of o3.Irrep
        Output irreps, in output order.
    dim : int
        Summed dimension of the output blocks.
    """

    block_of_column: torch.Tensor
    coefficients: torch.Tensor
    pair_in: torch.Tensor
    in_index: torch.Tensor
    pair_out: torch.Tensor
    out_index: torch.Tensor

    def __init__(self, irreps_in: list, channels: int, irreps_sh: o3.Irreps, targets: set):
        super().__init__()
        self.channels = channels
        self.in_dims = [ir.dim for ir in irreps_in]
        self.paths = edge_paths(irreps_in, irreps_sh, targets)
        self.blocks = sorted({ir3 for _, _, ir3 in self.paths})
        self.dim = sum(ir.dim for ir in self.blocks)
        # component (l, m) -> position l^2 + l + m in the rotation blocks
        in_index = [ir.l**2 + k for ir in irreps_in for k in range(ir.dim)]
        out_index = [ir.l**2 + k for ir in self.blocks for k in range(ir.dim)]
        self.register_buffer("in_index", torch.tensor(in_index), persistent=False)
        self.register_buffer("out_index", torch.tensor(out_index), persistent=False)
        coefficients, pair_in, pair_out = _pair_coefficients(self.paths)
        self.register_buffer("coefficients", coefficients, persistent=False)
        self.register_buffer("pair_in", pair_in, persistent=False)
        self.register_buffer("pair_out", pair_out, persistent=False)
        self.register_buffer("block_of_column", block_of_column(self.blocks), persistent=False)

    @property
    def num_paths(self) -> int:
        return len(self.paths)

    def edge_layout(self, x: torch.Tensor) -> torch.Tensor:
        """Features (N, sum_l1 channels * dim(l1)) in e3nn layout (one ``channels x l1`` block
        per ``l1``) -> (N, channels, sum_l1 dim(l1)), the input of :meth:`forward`."""
        blocks = x.split([self.channels * d for d in self.in_dims], dim=1)
        shaped = [b.view(x.shape[0], self.channels, d) for b, d in zip(blocks, self.in_dims, strict=True)]
        return torch.cat(shaped, dim=-1)

    # inductor (torch 2.13, CPU) fused this product with the layer around it into code that
    # gave wrong forces, or corrupted the heap, while eager and aot_eager were exact: under
    # torch.compile it runs eagerly, between compiled graphs
    @torch.compiler.disable
    def forward(self, x: torch.Tensor, rotation: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Couple features with the edge's harmonics, in its frame.

        Parameters
        ----------
        x : torch.Tensor, shape (E, channels, sum_l1 dim(l1))
            Neighbour features in :meth:`edge_layout`.
        rotation : torch.Tensor, shape (E, (lmax + 1)**2, (lmax + 1)**2)
            The edge frames of :class:`EdgeFrames`.
        weight : torch.Tensor, shape (E, channels, num_paths)
            Radial weight of every path.

        Returns
        -------
        torch.Tensor, shape (E, channels, dim)
            One block per output irrep, in ``blocks`` order.
        """
        # rotate in and pick the component of every pair: (E, in, pairs); pairs back out: (E, pairs, out)
        gather = rotation.index_select(1, self.pair_in).index_select(2, self.in_index).transpose(1, 2)
        scatter = rotation.index_select(1, self.pair_out).index_select(2, self.out_index)
        coefficients = self.coefficients.to(weight.dtype)
        pair_weight = (weight.flatten(0, 1) @ coefficients).view(*x.shape[:2], coefficients.shape[1])
        return torch.bmm(torch.bmm(x, gather) * pair_weight, scatter)


def _pair_coefficients(paths: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The maps of the paths at the pole, as weights of ``(l1 m) -> (l3 m)`` pairs.

    Returns the coefficients (paths, pairs), ``c(l1, l2, l3, |m|) / sqrt(n_l3)`` with
    ``n_l3`` the paths that end on ``l3``, and the positions ``l^2 + l + m`` of each
    pair's input and output component in the rotation blocks, (pairs,) each.
    """
    pairs: dict[tuple[int, int], int] = {}  # (position of l1 m, position of l3 m) -> pair
    entries = []  # (path, pair, coefficient)
    for p, (ir1, ir2, ir3) in enumerate(paths):
        at_pole = torch.einsum("ijk,j->ik", coupling(ir1, ir2, ir3), _pole_harmonics(ir2.l))
        norm = math.sqrt(sum(path[2] == ir3 for path in paths))
        for m in range(-min(ir1.l, ir3.l), min(ir1.l, ir3.l) + 1):
            pair = pairs.setdefault((ir1.l**2 + ir1.l + m, ir3.l**2 + ir3.l + m), len(pairs))
            entries.append((p, pair, float(at_pole[ir1.l + m, ir3.l + m]) / norm))
    coefficients = torch.zeros(len(paths), len(pairs), dtype=torch.float64)
    for p, pair, value in entries:
        coefficients[p, pair] = value
    return coefficients, torch.tensor([i for i, _ in pairs]), torch.tensor([o for _, o in pairs])


def _pole_harmonics(degree: int) -> torch.Tensor:
    """``Y^l`` (2l+1,) at the pole, in the component normalisation of the edge features."""
    pole = torch.tensor(_POLE, dtype=torch.float64)
    return o3.spherical_harmonics(degree, pole, normalize=True, normalization="component")
