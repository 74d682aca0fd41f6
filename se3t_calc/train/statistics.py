"""Statistics of the training set stored in the model: E0, energy scale and shift, neighbours,
where the ZBL repulsion switches off."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from ase.data import atomic_numbers, covalent_radii
from ase.io import read

from se3t_calc import keys
from se3t_calc.nn.radial import log_envelope
from se3t_calc.nn.repulsion import DEFAULT_OUTER_FRACTION
from se3t_calc.train.dataset import GraphDataset


def fit_atomic_energies(counts: np.ndarray, energies: np.ndarray) -> np.ndarray:
    """Per-species reference energies E0 by least squares, ``energies ≈ counts @ E0``.

    Parameters
    ----------
    counts : np.ndarray, shape (S, K)
        Atoms of each species per structure.
    energies : np.ndarray, shape (S,)
        Total energies, eV.

    Returns
    -------
    np.ndarray, shape (K,)
        eV. When compositions do not determine E0 uniquely (e.g. one molecule),
        the minimum-norm solution, which still reproduces the mean energy of
        every composition seen.
    """
    solution, *_ = np.linalg.lstsq(counts.astype(np.float64), energies, rcond=None)
    return solution


def isolated_atom_energies(
    path: str | os.PathLike, species: Sequence[str], energy_key: str = "energy"
) -> np.ndarray:
    """E0 from a file of single-atom structures with energies (``ase.io.read``), shape (K,), eV.

    Parameters
    ----------
    path : str or path-like
    species : sequence of str
        The elements whose E0 is returned, in this order.
    energy_key : str
        Info key (or calculator result) holding the energies, as for the training data.

    Raises
    ------
    ValueError
        If a species has no single-atom entry with an energy, or more than one; the
        message names the file and the element.
    """
    frames = read(str(path), index=":")
    assert isinstance(frames, list)
    table: dict[str, float] = {}
    for k, atoms in enumerate(frames):
        energy = atoms.info.get(energy_key)
        if energy is None and atoms.calc is not None:
            energy = atoms.calc.results.get(energy_key)
        if len(atoms) != 1 or energy is None:
            continue
        symbol = atoms.get_chemical_symbols()[0]
        if symbol in table:
            raise ValueError(
                f"{path}: two isolated-atom energies for {symbol} ({table[symbol]} and {float(energy)} "
                f"eV, the second in frame {k}); keep one entry per element"
            )
        table[symbol] = float(energy)
    missing = [sym for sym in species if sym not in table]
    if missing:
        raise ValueError(
            f"{path}: no isolated-atom energy for {missing} under key {energy_key!r}; found {sorted(table)}"
        )
    return np.array([table[sym] for sym in species])


def energy_scale_shift(dataset: GraphDataset, atomic_energies: np.ndarray) -> tuple[float, float]:
    """Shift: mean per-atom energy after E0 (eV); scale: RMS force component (eV/Å)."""
    per_atom = (dataset.energies - dataset.counts @ atomic_energies) / dataset.counts.sum(axis=1)
    forces = np.concatenate([s.forces.ravel() for s in dataset.structures if s.forces is not None])
    rms = float(np.sqrt(np.mean(forces**2)))
    return (rms if rms > 0 else 1.0), float(per_atom.mean())


def average_num_neighbors(dataset: GraphDataset) -> float:
    """Mean number of neighbours within the cutoff per atom."""
    return float(dataset.num_edges().sum() / dataset.counts.sum())


def _edge_lengths(graph: dict[str, np.ndarray]) -> np.ndarray:
    """Lengths (E,) in Å of the edges of one structure's graph arrays."""
    i, j = graph[keys.EDGE_INDEX]
    pos = graph[keys.POSITIONS]
    vectors = pos[j] - pos[i] + graph[keys.CELL_SHIFTS] @ graph[keys.CELL][0]
    return np.linalg.norm(vectors, axis=1)


def coordination(dataset: GraphDataset, r_cut: float) -> np.ndarray:
    """Per structure, the summed cutoff envelope of all edges, ``sum_ij w(r_ij)``, shape (S,).

    ``w`` is the model's envelope (:func:`se3t_calc.nn.radial.log_envelope`), so this is
    the sum over atoms of the coordination ``c_i`` that scales the energy shift.
    """
    totals = []
    for graph in dataset.graphs:
        length = torch.as_tensor(_edge_lengths(graph), dtype=torch.float64)
        totals.append(float(log_envelope(length, r_cut).exp().sum()))
    return np.array(totals)


def shift_per_coordination(dataset: GraphDataset, atomic_energies: np.ndarray, r_cut: float) -> float:
    """Energy shift per unit of coordination, eV: ``sum_s (E_s - E0_s) / sum_s C_s``."""
    total = float(coordination(dataset, r_cut).sum())
    binding = float((dataset.energies - dataset.counts @ atomic_energies).sum())
    return binding / total if total > 0 else 0.0


def shortest_pair_distances(dataset: GraphDataset, num_species: int) -> np.ndarray:
    """Shortest distance (Å) seen between each pair of species, shape (K, K); inf where never seen."""
    shortest = np.full((num_species, num_species), np.inf)
    for graph in dataset.graphs:
        i, j = graph[keys.EDGE_INDEX]
        si, sj = graph[keys.SPECIES][i], graph[keys.SPECIES][j]
        np.minimum.at(shortest, (si, sj), _edge_lengths(graph))
    return np.minimum(shortest, shortest.T)


def repulsion_onset(shortest: np.ndarray, species: Sequence[str]) -> np.ndarray:
    """Distances (K, K), Å, where the ZBL repulsion has switched off: the shortest distance seen.

    A pair never seen gets the sum of covalent radii times the smallest ratio of
    shortest distance to covalent sum among the pairs seen (0.6 if none was).
    """
    radii = np.array([covalent_radii[atomic_numbers[s]] for s in species])
    bond = radii[:, None] + radii[None, :]
    seen = np.isfinite(shortest)
    ratio = float((shortest[seen] / bond[seen]).min()) if seen.any() else DEFAULT_OUTER_FRACTION
    return np.where(seen, shortest, ratio * bond)
