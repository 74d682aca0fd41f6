"""Node-wise equivariant product of features with themselves (higher body order)."""

from __future__ import annotations

import torch
from e3nn import o3

from se3t_calc.nn.linear import Linear
from se3t_calc.nn.tensor_product import coupling


class NodeProduct(torch.nn.Module):
    """Residual update ``f_i + Linear(y_i ⊗ y_i)`` with ``y_i = Linear(f_i)``.

    The product is channel-wise: channel ``u`` of every irrep of ``y`` is coupled
    only with channel ``u`` of the others, through every path ``l1 x l2 -> l3`` with
    ``l1 <= l2`` and ``l3`` among the irreps of the features (natural parity). The
    output linear map weighs every path and channel, so the product itself has no
    weights. After an attention layer, whose features are sums of two-body messages,
    this raises the body order at a cost that grows with the number of atoms, not of
    edges. For each ``l1`` the outer products with all ``l2 >= l1`` are coupled by
    one matrix product with the stacked Clebsch-Gordan coefficients.

    Parameters
    ----------
    irreps : o3.Irreps
        Irreps of the node features, kept by the update.
    channels : int
        Channels per irrep of ``y``.
    """

    to_e3nn: torch.Tensor

    def __init__(self, irreps: o3.Irreps, channels: int):
        super().__init__()
        irreps = o3.Irreps(irreps)
        ls = sorted({ir for _, ir in irreps})
        self.channels = channels
        self.dims = [ir.dim for ir in ls]
        self.down = Linear(irreps, o3.Irreps([(channels, ir) for ir in ls]))
        paths: list[o3.Irrep] = []  # output irrep of each path, in output order
        self.num_couplings = len(ls)
        for i1, ir1 in enumerate(ls):
            rest = ls[i1:]
            pairs = [(k, ir3) for k, ir2 in enumerate(rest) for ir3 in ls if ir3 in ir1 * ir2]
            paths += [ir3 for _, ir3 in pairs]
            offsets = [sum(ir.dim for ir in rest[:k]) for k in range(len(rest))]
            # (d1, sum_{l2 >= l1} d2, S_l1): block-diagonal in l2, paths side by side
            stacked = torch.zeros(
                ir1.dim, offsets[-1] + rest[-1].dim, sum(ir3.dim for _, ir3 in pairs), dtype=torch.float64
            )
            col = 0
            for k, ir3 in pairs:
                row = slice(offsets[k], offsets[k] + rest[k].dim)
                stacked[:, row, col : col + ir3.dim] = coupling(ir1, rest[k], ir3)
                col += ir3.dim
            self.register_buffer(f"coupling_{i1}", stacked.reshape(-1, col), persistent=False)
        # products in e3nn layout with the paths of each l3 side by side, so that the
        # output map is one matrix product per l3: column (channel, path component) of
        # the products -> position in blocks (paths of l3 x channels) x l3
        starts = [sum(ir.dim for ir in paths[:k]) for k in range(len(paths))]
        total = starts[-1] + paths[-1].dim
        order = [
            (torch.arange(channels).unsqueeze(-1) * total + starts[k] + torch.arange(ir.dim)).reshape(-1)
            for ir3 in ls
            for k, ir in enumerate(paths)
            if ir == ir3
        ]
        self.register_buffer("to_e3nn", torch.cat(order), persistent=False)
        counts = [sum(ir == ir3 for ir in paths) for ir3 in ls]
        self.up = Linear(o3.Irreps([(n * channels, ir3) for n, ir3 in zip(counts, ls, strict=True)]), irreps)
        # the update starts at zero: stacked products square their input, and after a few
        # layers random ones gave features (and attention logits) in the hundreds
        torch.nn.init.zeros_(self.up.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, irreps.dim)`` -> ``(N, irreps.dim)``."""
        n, c = x.shape[0], self.channels
        flat = self.down(x).split([c * d for d in self.dims], dim=1)
        blocks = [b.reshape(n, c, d) for b, d in zip(flat, self.dims, strict=True)]
        outputs = []
        for k in range(self.num_couplings):
            rest = torch.cat(blocks[k:], dim=-1)
            outer = (blocks[k].unsqueeze(-1) * rest.unsqueeze(-2)).reshape(n, c, -1)
            outputs.append(outer @ getattr(self, f"coupling_{k}").to(x.dtype))
        products = torch.cat(outputs, dim=-1).reshape(n, -1).index_select(1, self.to_e3nn)
        return x + self.up(products)
