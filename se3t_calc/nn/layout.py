"""Index bookkeeping of the attention layer: the per-edge layout of its heads, and the
pairing of queries with keys."""

from __future__ import annotations

import torch
from e3nn import o3


class HeadLayout(torch.nn.Module):
    """Reorder head features between two layouts of the same numbers.

    e3nn layout (``irreps_heads``): one block per output block ``b`` of the edge
    product (a path, or an output irrep), each ``C x l3(b)`` with index
    ``(channel, component)``. Edge layout, as produced by the edge products: index
    ``(channel, block, component)``, so that with channels ordered (head, channel)
    each head's entries are contiguous.

    Parameters
    ----------
    blocks : list of o3.Irrep
        Irrep ``l3`` of each output block, in order.
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


class QueryKeyPairing(torch.nn.Module):
    """Which query entries meet which key entries, and how their products are summed.

    A query is a linear map of ``f_i`` and has only the irreps of ``f_i``: key blocks of
    other irreps would meet zeros in ``<q, k>``, so keys are computed only for the blocks
    whose ``l3`` a query has (the key blocks, a subset of the value blocks). A block is one
    path of a tensor product, or one output irrep of an edge-frame convolution.

    Shapes, with ``C`` channels (heads x channels per head), ``S`` the dimension of all
    value blocks, ``K`` that of the key blocks and ``P`` the number of key blocks:

    =============  ===========  ===============================================================
    buffer         shape        meaning
    =============  ===========  ===============================================================
    key_columns    (K,)         column of every key entry among the value columns (S)
    query_index    (C * K,)     position, in the query's edge layout (C, S), of every key entry
    path_sum       (K, P)       sums ``q * k`` over the components of each key block (each sum
                                scaled by ``1 / sqrt(dim(l3))`` with ``scaled``)
    =============  ===========  ===============================================================

    ``key_blocks`` (a list, length ``P``) gives the value block of each key block. Keys are
    the value blocks of the key irreps, in the same order.

    Parameters
    ----------
    values : EdgeTensorProduct or EdgeFrameConvolution
        The value product of the layer.
    key_irreps : set of o3.Irrep
        Irreps of the queries.
    heads : HeadLayout
        The layout of the value blocks.
    channels : int
        ``C``.
    scaled : bool
        Scale the per-block sums (for a logit MLP, which reads them one by one).
    """

    key_columns: torch.Tensor
    query_index: torch.Tensor
    path_sum: torch.Tensor

    def __init__(self, values, key_irreps: set, heads: HeadLayout, channels: int, *, scaled: bool):
        super().__init__()
        self.key_blocks = [b for b, ir3 in enumerate(values.blocks) if ir3 in key_irreps]
        columns = values.block_of_column.tolist()
        key_columns = [c for c, b in enumerate(columns) if values.blocks[b] in key_irreps]
        self.register_buffer("key_columns", torch.tensor(key_columns), persistent=False)
        query_index = heads.to_edge_index.view(channels, values.dim)[:, key_columns]
        self.register_buffer("query_index", query_index.reshape(-1), persistent=False)
        # key block (0 ... P-1) of every key column
        block = {b: k for k, b in enumerate(self.key_blocks)}
        of_column = torch.tensor([block[columns[c]] for c in key_columns])
        path_sum = torch.nn.functional.one_hot(of_column, len(block))
        if scaled:
            dims = [values.blocks[b].dim for b in self.key_blocks]
            path_sum = path_sum / torch.tensor(dims).sqrt()
        self.register_buffer("path_sum", path_sum.to(torch.get_default_dtype()), persistent=False)
