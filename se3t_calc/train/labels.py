"""One labelled structure and the checks every reader applies to its labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms


@dataclass
class LabeledStructure:
    """One structure with its reference labels (eV, Å).

    Attributes
    ----------
    atoms : ase.Atoms
    energy : float
        Total energy, eV.
    forces : np.ndarray or None, shape (N, 3)
        eV/Å; None only for data read with ``require_forces=False``.
    stress : np.ndarray or None, shape (3, 3)
        eV/Å^3 (ASE's sign: positive under tension), or None; always None for a structure
        that is not periodic in all three directions.
    source : str
        ``"file, frame k"``, used in error messages.
    """

    atoms: Atoms
    energy: float
    forces: np.ndarray | None
    stress: np.ndarray | None
    source: str


def checked_labels(
    atoms: Atoms, energy: float, forces: object, stress: object | None, source: str
) -> LabeledStructure:
    """A :class:`LabeledStructure` after checking its labels.

    Parameters
    ----------
    atoms : ase.Atoms
    energy : float
        eV.
    forces : array_like, shape (N, 3), or None
        eV/Å.
    stress : array_like, shape (6,), (9,) or (3, 3), or None
        eV/Å^3, Voigt order xx yy zz yz xz xy for six numbers.
    source : str
        Named in error messages.

    Raises
    ------
    ValueError
        An empty structure, non-finite positions or labels, or labels of the wrong shape.
    """
    n = len(atoms)
    if n == 0:
        raise ValueError(f"{source}: empty structure")
    if not np.isfinite(atoms.positions).all():
        raise ValueError(f"{source}: non-finite positions")
    if not np.isfinite(energy):
        raise ValueError(f"{source}: energy is {energy}")
    if forces is not None:
        forces = np.asarray(forces, dtype=np.float64)
        if forces.shape != (n, 3):
            raise ValueError(f"{source}: forces have shape {forces.shape}, expected ({n}, 3) for {n} atoms")
        if not np.isfinite(forces).all():
            raise ValueError(f"{source}: non-finite forces")
    if stress is not None:
        stress = full_stress(np.asarray(stress, dtype=np.float64), source)
    return LabeledStructure(atoms, energy, forces, stress, source)


def full_stress(stress: np.ndarray, source: str, name: str = "stress") -> np.ndarray:
    """Voigt (6,) xx yy zz yz xz xy or (3, 3) / (9,) -> (3, 3), checked finite; ``source`` and
    ``name`` are named in error messages."""
    if stress.shape == (6,):
        xx, yy, zz, yz, xz, xy = stress
        stress = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    elif stress.size == 9:
        stress = stress.reshape(3, 3)
    else:
        raise ValueError(f"{source}: {name} has shape {stress.shape}, expected (6,), (9,) or (3, 3)")
    if not np.isfinite(stress).all():
        raise ValueError(f"{source}: non-finite {name}")
    return stress
