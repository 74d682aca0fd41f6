"""Permutation between e3nn's irreps layout and the per-edge layout of the attention."""

from __future__ import annotations

import torch
from e3nn import o3


class HeadLayout(torch.nn.Module):
    """Reorder head features between two layouts of the same numbers.

    e3nn layout (``irreps_heads``): one block per path ``p``, each ``C x l3(p)``
    with index ``(channel, component)``. Edge layout, as produced by
    :class:`~se3t_calc.nn.tensor_product.EdgeTensorProduct`: index
    ``(channel, path, component)``, so that with channels ordered (head, channel)
    each head's entries are contiguous.

    Parameters
    ----------
    blocks : list of o3.Irrep
        Output irrep ``l3`` of each path, in path order.
    channels : int
        ``C``, heads times channels per head.
    """

    to_edge_index: torch.Tensor
    to_e3nn_index: torch.Tensor

    def __init__(self, blocks: list, channels: int):
        super().__init__()
        self.irreps_heads = o3.Irreps([(channels, ir) for ir in blocks])
        per_path = []
        start = 0
        for ir in blocks:
            per_path.append(start + torch.arange(channels * ir.dim).view(channels, ir.dim))
            start += channels * ir.dim
        order = torch.cat(per_path, dim=1).reshape(-1)  # edge position -> e3nn position
        self.register_buffer("to_edge_index", order, persistent=False)
        self.register_buffer("to_e3nn_index", torch.argsort(order), persistent=False)

    def to_e3nn(self, flat: torch.Tensor) -> torch.Tensor:
        """``(N, irreps_heads.dim)`` edge layout -> e3nn layout (``to_edge_index`` goes the other way)."""
        return flat.index_select(1, self.to_e3nn_index)
