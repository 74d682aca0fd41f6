"""Statistics of the training set stored in the model: E0, energy scale and shift, neighbours."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from ase.io import read

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


def isolated_atom_energies(path: str | os.PathLike, species: Sequence[str]) -> np.ndarray:
    """E0 from a file of single-atom structures with energies (``ase.io.read``), shape (K,), eV.

    Raises
    ------
    ValueError
        If a species has no single-atom entry with an energy.
    """
    frames = read(str(path), index=":")
    assert isinstance(frames, list)
    table = {}
    for atoms in frames:
        energy = atoms.info.get("energy")
        if energy is None and atoms.calc is not None:
            energy = atoms.calc.results.get("energy")
        if len(atoms) == 1 and energy is not None:
            table[atoms.get_chemical_symbols()[0]] = float(energy)
    missing = [sym for sym in species if sym not in table]
    if missing:
        raise ValueError(f"{path}: no isolated-atom energy for {missing}; found {sorted(table)}")
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
