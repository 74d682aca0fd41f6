"""Checks of MD trajectories: total-energy drift and intact covalent bonds."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.geometry import find_mic

from se3t_calc.neighbors import neighbor_list


def energy_drift(time_ps: np.ndarray, total_energy_eV: np.ndarray, num_atoms: int) -> tuple[float, float]:
    """Drift and fluctuation of the total energy of an NVE run.

    Parameters
    ----------
    time_ps : np.ndarray, shape (T,)
        Times of the samples, ps.
    total_energy_eV : np.ndarray, shape (T,)
        Potential plus kinetic energy, eV.
    num_atoms : int

    Returns
    -------
    drift : float
        Slope of a least-squares line through the samples, meV/atom/ps.
    rms : float
        Root-mean-square deviation of the samples from that line, meV/atom.
    """
    t = np.asarray(time_ps, dtype=float)
    e = 1000.0 * np.asarray(total_energy_eV, dtype=float) / num_atoms
    if len(t) < 3:
        raise ValueError(f"need at least 3 samples to fit a drift, got {len(t)}")
    slope, intercept = np.polyfit(t, e, 1)
    rms = float(np.sqrt(np.mean((e - (slope * t + intercept)) ** 2)))
    return float(slope), rms


def covalent_bonds(atoms: Atoms, tolerance: float = 1.2) -> np.ndarray:
    """Pairs closer than ``tolerance`` times the sum of their covalent radii (minimum image).

    Parameters
    ----------
    atoms : ase.Atoms
        Reference geometry, periodic or not.
    tolerance : float

    Returns
    -------
    np.ndarray, shape (B, 2), int
        Atom indices ``i < j`` of each bond.
    """
    radii = covalent_radii[atoms.numbers]
    i, j, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 2 * tolerance * radii.max())
    length = np.linalg.norm(atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell.array, axis=1)
    bonded = (i < j) & (length < tolerance * (radii[i] + radii[j]))
    return np.unique(np.stack([i[bonded], j[bonded]], axis=1), axis=0).reshape(-1, 2)


def bond_lengths(atoms: Atoms, pairs: np.ndarray) -> np.ndarray:
    """Lengths of the given bonds in the current geometry (minimum image).

    Parameters
    ----------
    atoms : ase.Atoms
    pairs : np.ndarray, shape (B, 2)
        From :func:`covalent_bonds`.

    Returns
    -------
    np.ndarray, shape (B,)
        Å.
    """
    vectors = atoms.positions[pairs[:, 1]] - atoms.positions[pairs[:, 0]]
    if atoms.pbc.any():
        vectors, _ = find_mic(vectors, atoms.cell, atoms.pbc)
    return np.linalg.norm(vectors, axis=1)
