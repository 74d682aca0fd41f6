"""Labelled structures from files: rMD17 npz, mlearn JSON and anything ``ase.io.read`` reads."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read

from se3t_calc.train.labels import LabeledStructure, checked_labels, full_stress
from se3t_calc.train.mlearn import read_mlearn

# eV per kcal/mol, as documented with the rMD17 data (ase.units' CODATA 2014 differs by 3e-7)
KCAL_MOL = 0.0433641153
_RMD17_KEYS = ("nuclear_charges", "coords", "energies", "forces")


def read_structures(
    path: str | os.PathLike,
    *,
    energy_key: str = "energy",
    forces_key: str = "forces",
    stress_key: str = "stress",
    require_forces: bool = True,
) -> list[LabeledStructure]:
    """Read labelled structures, checking every label.

    ``.npz`` files are read as rMD17 (kcal/mol converted to eV), ``.json`` files as
    mlearn records (:mod:`se3t_calc.train.mlearn`; stress in kBar converted to eV/Å^3
    with ASE's sign); anything else with ``ase.io.read``. Labels are looked up in
    ``atoms.info`` / ``atoms.arrays`` under the given keys, then in the results of an
    attached calculator (extxyz puts ``energy``, ``forces`` and ``stress`` there).
    Stress is optional unless ``stress_key`` is not the default ``"stress"``; with that
    default, a ``virial`` (eV, as extxyz files of MACE and NequIP hold it) is converted,
    ``stress = -virial / volume``. Stress labels of structures that are not periodic in
    all three directions are left out (a :class:`LabelWarning` says how many). With
    ``require_forces=False`` a file without any forces (an energy scan) is accepted, its
    structures having ``forces=None``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A frame lacks a label, has a label of the wrong shape or a non-finite value;
        the message names the file, the frame and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    if path.suffix == ".npz":
        return read_rmd17(path)
    if path.suffix == ".json":
        return read_mlearn(path)
    try:
        frames = read(path, index=":")
    except Exception as err:  # ase raises many types for unreadable files
        raise ValueError(f"{path}: ase.io.read cannot read it ({type(err).__name__}: {err})") from err
    assert isinstance(frames, list)
    if not frames:
        raise ValueError(f"{path}: no structures in the file")
    optional = not require_forces and all(_lookup(a, forces_key, a.arrays) is None for a in frames)
    notes: Counter[str] = Counter()
    out = [
        _labeled(atoms, f"{path}, frame {k}", energy_key, None if optional else forces_key, stress_key, notes)
        for k, atoms in enumerate(frames)
    ]
    _warn_about_stress(path, notes, len(frames))
    return out


class LabelWarning(UserWarning):
    """Labels of a data file that were converted or left out (virial, stress of a molecule)."""


def _warn_about_stress(path: Path, notes: Counter[str], frames: int) -> None:
    if notes["virial"]:
        warnings.warn(
            f"{path}: stress of {notes['virial']} of {frames} structures computed from their "
            "'virial' as -virial / volume (eV/Å^3)",
            LabelWarning,
            stacklevel=3,
        )
    if notes["not periodic"]:
        warnings.warn(
            f"{path}: stress labels of {notes['not periodic']} of {frames} structures ignored: "
            "they are not periodic in all three directions, where stress is undefined",
            LabelWarning,
            stacklevel=3,
        )


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 (hex) of a file's bytes, read in blocks.

    Raises
    ------
    FileNotFoundError
        No such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_rmd17(path: str | os.PathLike) -> list[LabeledStructure]:
    """rMD17 npz (``nuclear_charges``, ``coords`` Å, ``energies``/``forces`` kcal/mol) -> eV."""
    with np.load(path) as npz:
        missing = [k for k in _RMD17_KEYS if k not in npz.files]
        if missing:
            raise ValueError(f"{path}: not an rMD17 file, missing key(s) {missing}; has {npz.files}")
        numbers, coords = npz["nuclear_charges"].astype(int), npz["coords"]
        energies, forces = npz["energies"] * KCAL_MOL, npz["forces"] * KCAL_MOL
    sizes = {"coords": len(coords), "energies": len(energies), "forces": len(forces)}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{path}: arrays of different lengths {sizes}; each needs one entry per frame")
    if coords.ndim != 3 or coords.shape[1:] != (len(numbers), 3):
        raise ValueError(
            f"{path}: coords have shape {coords.shape}, expected (frames, {len(numbers)}, 3) "
            f"for {len(numbers)} nuclear_charges"
        )
    out = []
    for k in range(len(coords)):
        source = f"{path}, frame {k}"
        atoms = Atoms(numbers=numbers, positions=coords[k])
        out.append(checked_labels(atoms, float(energies[k]), forces[k], None, source))
    return out


def _labeled(
    atoms: Atoms, source: str, energy_key: str, forces_key: str | None, stress_key: str, notes: Counter[str]
) -> LabeledStructure:
    energy = _lookup(atoms, energy_key, atoms.info)
    per_atom = "a total energy per structure is needed: sum the per-atom energies into atoms.info (e.g. "
    per_atom += "atoms.info['energy'] = atoms.arrays['energies'].sum()) and write the file again"
    if energy is None:
        hint = f"; {per_atom}" if _lookup(atoms, "energies", atoms.arrays) is not None else ""
        raise ValueError(f"{source}: no energy under key {energy_key!r}; {_available(atoms)}{hint}")
    forces = None if forces_key is None else _lookup(atoms, forces_key, atoms.arrays)
    if forces is None and forces_key is not None:
        raise ValueError(f"{source}: no forces under key {forces_key!r}; {_available(atoms)}")
    stress = _stress_label(atoms, source, stress_key, notes)
    values = np.asarray(energy)
    try:
        energy = float(values.item())
    except (TypeError, ValueError):
        hint = f" (it holds {values.size} values, one per atom?); {per_atom}" if values.size > 1 else ""
        raise ValueError(f"{source}: energy {energy_key!r} is not one number{hint}") from None
    atoms = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    return checked_labels(atoms, energy, forces, stress, source)


def _stress_label(atoms: Atoms, source: str, key: str, notes: Counter[str]) -> np.ndarray | None:
    """Stress (3, 3) eV/Å^3 under ``key``, or from a ``virial`` with the default key; None for
    a structure that is not periodic (counted in ``notes``, as is a converted virial)."""
    stress = _lookup(atoms, key, atoms.info)
    virial = _lookup(atoms, "virial", atoms.info) if stress is None and key == "stress" else None
    if stress is None and key != "stress":
        raise ValueError(f"{source}: no stress under key {key!r}; {_available(atoms)}")
    if stress is None and virial is None:
        return None
    if not (atoms.pbc.all() and abs(atoms.cell.volume) > 0):
        notes["not periodic"] += 1
        return None
    if stress is not None:
        return full_stress(np.asarray(stress, dtype=np.float64), source)
    notes["virial"] += 1
    return -full_stress(np.asarray(virial, dtype=np.float64), source, "virial") / abs(atoms.cell.volume)


def _lookup(atoms: Atoms, key: str, table: dict) -> object | None:
    if key in table:
        return table[key]
    if atoms.calc is not None and key in atoms.calc.results:
        return atoms.calc.results[key]
    return None


def _available(atoms: Atoms) -> str:
    calc = sorted(atoms.calc.results) if atoms.calc is not None else []
    return (
        f"found info keys {sorted(atoms.info)}, array keys {sorted(atoms.arrays)}, calculator results {calc}"
    )
