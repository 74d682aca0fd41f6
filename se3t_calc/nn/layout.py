"""Index bookkeeping between e3nn's flat irreps layout and a per-head layout."""

from __future__ import annotations

import torch
from e3nn import o3


class HeadLayout(torch.nn.Module):
    """Gather indices that regroup flat irreps tensors by attention head.

    The fused key/value tensor product has one output block per path ``p`` with
    ``2 * H * m`` channels ordered (key/value, head, channel). Queries and the
    mixed heads use ``irreps_heads``: one block per path with ``H * m`` channels
    ordered (head, channel). The per-head layout is ``(..., H, D)`` with
    ``D = sum_p m * dim(p)`` ordered (path, channel, component).

    Parameters
    ----------
    blocks : list of o3.Irrep
        Output irrep of each tensor-product path.
    num_heads, head_channels : int
        ``H`` and ``m``.
    head_invariants : tuple of str
        Distance invariant of each head; heads sharing one share a radial MLP.
    """

    def __init__(self, blocks: list, num_heads: int, head_channels: int, head_invariants: tuple[str, ...]):
        super().__init__()
        h, m = num_heads, head_channels
        self.num_heads = h
        self.irreps_heads = o3.Irreps([(h * m, ir) for ir in blocks])
        self.invariants = tuple(sorted(set(head_invariants)))
        self.head_dim = sum(m * ir.dim for ir in blocks)
        query, key, value = _head_indices(blocks, h, m)
        self.register_buffer("query_index", query, persistent=False)
        self.register_buffer("query_inverse", torch.argsort(query), persistent=False)
        self.register_buffer("kv_index", torch.cat([key, value]), persistent=False)
        groups = {
            inv: [k for k, name in enumerate(head_invariants) if name == inv] for inv in self.invariants
        }
        self._widths = {inv: len(blocks) * 2 * len(heads) * m for inv, heads in groups.items()}
        self.register_buffer(
            "weight_index", _weight_index(len(blocks), groups, self.invariants, h, m), persistent=False
        )

    def radial_width(self, invariant: str) -> int:
        """Output width of the radial MLP of the heads using ``invariant``."""
        return self._widths[invariant]

    def heads(self, flat: torch.Tensor) -> torch.Tensor:
        """``(N, irreps_heads.dim)`` -> ``(N, H, D)``."""
        return flat.index_select(1, self.query_index).view(flat.shape[0], self.num_heads, self.head_dim)

    def flat(self, per_head: torch.Tensor) -> torch.Tensor:
        """``(N, H, D)`` -> ``(N, irreps_heads.dim)``; inverse of :meth:`heads`."""
        return per_head.reshape(per_head.shape[0], -1).index_select(1, self.query_inverse)

    def split_kv(self, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused tensor-product output ``(E, F)`` -> keys and values, each ``(E, H, D)``."""
        both = kv.index_select(1, self.kv_index).view(kv.shape[0], 2, self.num_heads, self.head_dim)
        return both[:, 0], both[:, 1]


def _head_indices(blocks: list, h: int, m: int) -> tuple[torch.Tensor, ...]:
    """Flat positions of queries, keys and values in per-head order (head, path, channel, comp)."""
    q_start, kv_start = [], []
    q_pos = kv_pos = 0
    for ir in blocks:
        q_start.append(q_pos)
        kv_start.append(kv_pos)
        q_pos += h * m * ir.dim
        kv_pos += 2 * h * m * ir.dim
    query, key, value = [], [], []
    for head in range(h):
        for p, ir in enumerate(blocks):
            for c in range(m):
                for comp in range(ir.dim):
                    query.append(q_start[p] + (head * m + c) * ir.dim + comp)
                    key.append(kv_start[p] + (head * m + c) * ir.dim + comp)
                    value.append(kv_start[p] + ((h + head) * m + c) * ir.dim + comp)
    return tuple(torch.tensor(x, dtype=torch.long) for x in (query, key, value))


def _weight_index(
    num_paths: int, groups: dict[str, list[int]], order: tuple[str, ...], h: int, m: int
) -> torch.Tensor:
    """Map tensor-product weights (path, kv, head, channel) to concatenated radial outputs.

    The radial MLP of each invariant group emits ``(path, kv, head-in-group, channel)``;
    the outputs of the groups are concatenated in ``order``.
    """
    source = {}
    offset = 0
    for inv in order:
        heads = groups[inv]
        for p in range(num_paths):
            for kv in range(2):
                for local, head in enumerate(heads):
                    for c in range(m):
                        source[(p, kv, head, c)] = offset + ((p * 2 + kv) * len(heads) + local) * m + c
        offset += num_paths * 2 * len(heads) * m
    index = [
        source[(p, kv, head, c)]
        for p in range(num_paths)
        for kv in range(2)
        for head in range(h)
        for c in range(m)
    ]
    return torch.tensor(index, dtype=torch.long)
