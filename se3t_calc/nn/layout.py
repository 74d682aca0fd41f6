"""Index bookkeeping of the attention layer: the per-edge layout of its heads, and the
pairing of queries with keys."""

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


class QueryKeyPairing(torch.nn.Module):
    """Which query entries meet which key entries, and how their products are summed.

    A query is a linear map of ``f_i`` and has only the irreps of ``f_i``: key paths to
    other irreps would meet zeros in ``<q, k>``, so keys are computed only for the paths
    whose ``l3`` a query has (the key paths, a subset of the value paths).

    Shapes, with ``C`` channels (heads x channels per head), ``S`` the dimension of all
    value paths, ``K`` that of the key paths and ``P`` the number of key paths:

    =============  ===========  ===============================================================
    buffer         shape        meaning
    =============  ===========  ===============================================================
    query_index    (C * K,)     position, in the query's edge layout (C, S), of every key entry
    path_sum       (K, P)       sums ``q * k`` over the components of each key path (each sum
                                scaled by ``1 / sqrt(dim(l3))`` with ``scaled``)
    =============  ===========  ===============================================================

    ``key_paths`` (a list, length ``P``) gives the value path of each key path.

    Parameters
    ----------
    values, keys : EdgeTensorProduct
        The value and key tensor products of the layer (keys: the key paths only).
    heads : HeadLayout
        The layout of the value paths.
    channels : int
        ``C``.
    scaled : bool
        Scale the per-path sums (for a logit MLP, which reads them one by one).
    """

    query_index: torch.Tensor
    path_sum: torch.Tensor

    def __init__(self, values, keys, heads: HeadLayout, channels: int, *, scaled: bool):
        super().__init__()
        key_irreps = {ir3 for _, _, ir3 in keys.paths}
        self.key_paths = [p for p, (_, _, ir3) in enumerate(values.paths) if ir3 in key_irreps]
        columns = values.path_of_column.tolist()
        key_columns = [c for c, p in enumerate(columns) if values.paths[p][2] in key_irreps]
        query_index = heads.to_edge_index.view(channels, values.dim)[:, key_columns]
        self.register_buffer("query_index", query_index.reshape(-1), persistent=False)
        path_sum = torch.nn.functional.one_hot(keys.path_of_column, keys.num_paths)
        if scaled:
            path_sum = path_sum / torch.tensor([ir3.dim for _, _, ir3 in keys.paths]).sqrt()
        self.register_buffer("path_sum", path_sum.to(torch.get_default_dtype()), persistent=False)
