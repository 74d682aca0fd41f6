"""Checks of MD trajectories: total-energy drift and intact covalent bonds."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import covalent_radii


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


def bonded_pairs(atoms: Atoms, tolerance: float = 1.2) -> np.ndarray:
    """Covalently bonded pairs of a (molecular) reference structure.

    Parameters
    ----------
    atoms : ase.Atoms
        Reference geometry, without periodic boundaries.
    tolerance : float
        Pairs closer than ``tolerance`` times the sum of covalent radii are bonded.

    Returns
    -------
    np.ndarray, shape (B, 2), int
        Atom indices ``i < j`` of each bond.
    """
    radii = covalent_radii[atoms.numbers]
    dist = atoms.get_all_distances()
    i, j = np.nonzero(np.triu(dist < tolerance * (radii[:, None] + radii[None, :]), k=1))
    return np.stack([i, j], axis=1)


def bond_lengths(positions: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Lengths of the given bonds in one frame.

    Parameters
    ----------
    positions : np.ndarray, shape (N, 3)
        Å.
    pairs : np.ndarray, shape (B, 2)
        From :func:`bonded_pairs`.

    Returns
    -------
    np.ndarray, shape (B,)
        Å.
    """
    return np.linalg.norm(positions[pairs[:, 1]] - positions[pairs[:, 0]], axis=1)
