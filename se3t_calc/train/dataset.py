"""Structures -> precomputed graph arrays, splits and batches for training."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from se3t_calc import keys
from se3t_calc.graph import check_atoms, concatenate, species_indices, structure_arrays, to_tensors
from se3t_calc.neighbors import neighbor_list
from se3t_calc.train.labels import LabeledStructure


class GraphDataset:
    """Labelled structures with their neighbour lists built once.

    Parameters
    ----------
    structures : sequence of LabeledStructure
    species : sequence of str
        The model's species.
    cutoff : float
        Neighbour cutoff, Å.

    Attributes
    ----------
    energies : np.ndarray, shape (S,)
        Reference total energies, eV.
    counts : np.ndarray, shape (S, K)
        Atoms of each species per structure.
    """

    def __init__(self, structures: Sequence[LabeledStructure], species: Sequence[str], cutoff: float):
        self.structures = list(structures)
        self.graphs = []
        for s in self.structures:
            try:
                check_atoms(s.atoms)
                index = species_indices(s.atoms.numbers, species)
            except ValueError as err:
                raise ValueError(f"{s.source}: {err}") from None
            pairs = neighbor_list(s.atoms.positions, s.atoms.cell.array, s.atoms.pbc, cutoff)
            self.graphs.append(structure_arrays(s.atoms, index, pairs))
        self.energies = np.array([s.energy for s in self.structures])
        self.counts = np.stack([np.bincount(g[keys.SPECIES], minlength=len(species)) for g in self.graphs])

    def subset(self, indices: Sequence[int] | np.ndarray) -> GraphDataset:
        """The structures ``indices`` as a dataset sharing this one's graphs (nothing rebuilt)."""
        out = copy.copy(self)
        out.structures = [self.structures[i] for i in indices]
        out.graphs = [self.graphs[i] for i in indices]
        out.energies, out.counts = self.energies[indices], self.counts[indices]
        return out

    def __len__(self) -> int:
        return len(self.structures)

    def num_edges(self) -> np.ndarray:
        """Edges per structure, shape (S,)."""
        return np.array([g[keys.EDGE_INDEX].shape[1] for g in self.graphs])

    def batch(self, indices: Sequence[int], atomic_energies: np.ndarray) -> dict[str, np.ndarray]:
        """Graph and labels of ``indices``; energies relative to ``sum_i E0[species_i]``.

        The reference is subtracted here in float64, so that training in float32 never
        adds large atomic energies to small interaction energies.
        """
        out = concatenate([self.graphs[i] for i in indices])
        chosen = [self.structures[i] for i in indices]
        idx = np.asarray(indices)
        out[keys.REF_ENERGY] = self.energies[idx] - self.counts[idx] @ atomic_energies
        out[keys.REF_FORCES] = np.concatenate(
            [np.zeros((len(s.atoms), 3)) if s.forces is None else s.forces for s in chosen]
        )  # zeros where absent: evaluate() then leaves forces out
        out[keys.REF_STRESS] = np.stack([np.zeros((3, 3)) if s.stress is None else s.stress for s in chosen])
        out[keys.HAS_STRESS] = np.array([s.stress is not None for s in chosen])
        out[keys.NUM_ATOMS] = self.counts[idx].sum(axis=1)
        return out


_LABEL_FLOATS = (keys.REF_ENERGY, keys.REF_FORCES, keys.REF_STRESS)


def batch_tensors(
    dataset: GraphDataset,
    indices: Sequence[int],
    atomic_energies: np.ndarray,
    *,
    device: torch.device,
    dtype: torch.dtype,
) -> dict[str, torch.Tensor]:
    """:meth:`GraphDataset.batch` as tensors on ``device``, floats (labels too) in ``dtype``."""
    tensors = to_tensors(dataset.batch(indices, atomic_energies), device=device, dtype=dtype)
    for key in _LABEL_FLOATS:
        tensors[key] = tensors[key].to(dtype)
    return tensors


def batches(
    dataset: GraphDataset,
    indices: Sequence[int],
    batch_size: int,
    atomic_energies: np.ndarray,
    *,
    device: torch.device,
    dtype: torch.dtype,
) -> Iterator[dict[str, torch.Tensor]]:
    """Consecutive batches of ``indices``, see :func:`batch_tensors`."""
    for start in range(0, len(indices), batch_size):
        chunk = indices[start : start + batch_size]
        yield batch_tensors(dataset, chunk, atomic_energies, device=device, dtype=dtype)


def random_split(num: int, sizes: Sequence[int | float | None], seed: int) -> list[np.ndarray]:
    """Disjoint random subsets of ``range(num)``.

    Each size is a count, a fraction in (0, 1), or None for all that remain (at most
    one None).

    Raises
    ------
    ValueError
        If the sizes need more structures than there are.
    """
    counts = [None if s is None else (round(s * num) if 0 < s < 1 else int(s)) for s in sizes]
    if counts.count(None) > 1:
        raise ValueError("at most one split may take 'the rest'")
    fixed = sum(c for c in counts if c is not None)
    if fixed > num:
        raise ValueError(f"splits of sizes {counts} need {fixed} structures, the data has {num}")
    counts = [num - fixed if c is None else c for c in counts]
    order = np.random.default_rng(seed).permutation(num)
    bounds = np.cumsum([0, *counts])
    return [np.sort(order[a:b]) for a, b in itertools.pairwise(bounds)]
