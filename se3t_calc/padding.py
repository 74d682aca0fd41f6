"""The calculator's graph arrays, and static shapes: edges padded to a few size buckets.

The calculator uploads a structure as per-atom indices (:func:`atom_arrays`), cells and
one packed (5, E) int64 edge array (:func:`pack_edges`: centre, neighbour, integer
shift), which :func:`unpack_edges` turns into the graph's ``edge_index`` and
``cell_shifts`` on the device (see :mod:`se3t_calc.keys`).

With padding, the graph of ``N`` atoms gets one more atom (the padding atom, index
``N``) in a structure of its own (batch index ``B``), whose cell is a cube larger than
twice the cutoff. Padding edges go from the padding atom to its own image one cell
vector away, so they lie beyond the cutoff: their attention weight is exactly zero, the
padding atom behaves like an isolated atom, and its energy, forces and stress land in
the extra structure, which the caller drops. Shapes then change only when the number of
edges leaves its bucket.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from se3t_calc import keys

EDGE_HEADROOM = 1.2  # capacity over edge count when a bucket is chosen
EDGE_MULTIPLE = 64  # capacities are multiples of this


def edge_capacity(num_edges: int, *, headroom: float = EDGE_HEADROOM, multiple: int = EDGE_MULTIPLE) -> int:
    """Bucket for ``num_edges``: ``headroom * num_edges`` rounded up to a multiple of ``multiple``."""
    return max(multiple, math.ceil(num_edges * headroom / multiple) * multiple)


class EdgeBuckets:
    """Edge capacity that follows the edge count with hysteresis.

    The capacity is chosen by :func:`edge_capacity` and kept while the edges fit
    and fill at least half of it; otherwise it is chosen again (a re-bucket).
    """

    def __init__(self) -> None:
        self.capacity = 0
        self.num_rebuckets = 0

    def fit(self, num_edges: int) -> int:
        """Capacity for ``num_edges`` edges (>= ``num_edges``)."""
        if num_edges > self.capacity or 2 * num_edges < self.capacity:
            self.capacity = edge_capacity(num_edges)
            self.num_rebuckets += 1
        return self.capacity


def padding_cell(cutoff: float) -> np.ndarray:
    """(3, 3) cell of the padding atom's structure, Å: a cube of side ``2 cutoff + 1``."""
    return np.eye(3) * (2.0 * cutoff + 1.0)


def atom_arrays(
    species: np.ndarray, cell: np.ndarray, *, pad_cutoff: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-atom indices and cells of one structure, with the padding atom when padding.

    Parameters
    ----------
    species : np.ndarray, shape (N,)
        Species indices.
    cell : np.ndarray, shape (3, 3)
        Cell, Å.
    pad_cutoff : float or None
        Cutoff (Å) to pad for, or None for no padding atom.

    Returns
    -------
    species, batch : np.ndarray, shape (N,) or (N + 1,), int64
    cells : np.ndarray, shape (1, 3, 3) or (2, 3, 3)
    """
    species = np.asarray(species, dtype=np.int64)
    if pad_cutoff is None:
        return species, np.zeros(len(species), dtype=np.int64), cell[None]
    batch = np.concatenate([np.zeros(len(species), dtype=np.int64), [1]])
    return np.append(species, 0), batch, np.stack([cell, padding_cell(pad_cutoff)])


def pack_edges(
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray], num_atoms: int, capacity: int | None
) -> np.ndarray:
    """Edges as one (5, C) int64 array: centre, neighbour, integer shift (3 rows).

    Parameters
    ----------
    pairs : tuple of np.ndarray
        ``(i, j, shifts)`` from the neighbour list, shapes (E,), (E,), (E, 3).
    num_atoms : int
        ``N``; the padding atom, if any, has index ``N``.
    capacity : int or None
        ``C >= E`` to pad to with the padding atom's own images one cell vector away;
        None: ``C = E``.
    """
    i, j, shifts = pairs
    edges = np.concatenate([i[None], j[None], shifts.T]).astype(np.int64)
    if capacity is None:
        return edges
    padding = np.zeros((5, capacity - edges.shape[1]), dtype=np.int64)
    padding[:2] = num_atoms
    padding[2] = 1
    return np.concatenate([edges, padding], axis=1)


def unpack_edges(packed: torch.Tensor, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """``edge_index`` (2, E) int64 and ``cell_shifts`` (E, 3) in ``dtype`` from the (5, E)
    array of :func:`pack_edges`, on its device."""
    shifts = packed[2:].t().to(dtype, memory_format=torch.contiguous_format)
    return {keys.EDGE_INDEX: packed[:2], keys.CELL_SHIFTS: shifts}
