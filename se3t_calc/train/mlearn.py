"""The mlearn benchmark's JSON files (periodic crystals with energies, forces and stress).

Each file is a list of records: ``structure`` (a pymatgen Structure as a dict, lattice
vectors as rows and Cartesian site positions in Å), ``outputs.energy`` (total energy,
eV), ``outputs.forces`` (eV/Å) and ``outputs.virial_stress`` (6 numbers, kBar).

The stress is positive under compression, and the order of its shear components
differs between the files: xy, yz, zx for Si and xy, zx, yz for Mo (the files' own
documentation says yz, xz, xy for both). Both were verified on the data: the strain
derivative of the DFT energies of the ``Elastic`` group (strained copies of one cell)
equals ``V * stress`` with ASE's sign and order only with the sign flipped and these
orders; with any other the shear modes miss by 95-100 % (``tests/test_mlearn.py``).
:func:`mlearn_stress` converts to ASE's convention (eV/Å^3, positive under tension).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from ase import Atoms, units

from se3t_calc.train.labels import LabeledStructure, checked_labels

KBAR = 1e3 * units.bar  # eV/Å^3 per kBar
# (row, column) of each of the six numbers of ``virial_stress``, per element of the file
MLEARN_STRESS_ORDER = {
    "Si": ((0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (0, 2)),
    "Mo": ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)),
}


def mlearn_stress(virial_stress: object, element: str) -> np.ndarray:
    """mlearn ``virial_stress`` (6,) in kBar, compression positive -> (3, 3) eV/Å^3, tension positive.

    Parameters
    ----------
    virial_stress : sequence of 6 float
        As stored in the record, kBar.
    element : str
        The record's ``element`` field, which picks the order of the shear components.

    Raises
    ------
    ValueError
        Not six numbers, or an element whose order has not been verified.
    """
    values = np.asarray(virial_stress, dtype=np.float64)
    if values.shape != (6,):
        raise ValueError(f"virial_stress has shape {values.shape}, expected 6 numbers (kBar)")
    if element not in MLEARN_STRESS_ORDER:
        raise ValueError(
            f"the order of the stress components of mlearn's {element!r} data has not been verified "
            f"(known: {sorted(MLEARN_STRESS_ORDER)}): check it as tests/test_mlearn.py does and add it "
            "to se3t_calc.train.mlearn.MLEARN_STRESS_ORDER, or write the data as extxyz without stress"
        )
    stress = np.zeros((3, 3))
    for value, (i, j) in zip(values, MLEARN_STRESS_ORDER[element], strict=True):
        stress[i, j] = stress[j, i] = -value * KBAR
    return stress


def read_mlearn(path: str | os.PathLike) -> list[LabeledStructure]:
    """Read an mlearn JSON file into labelled structures (eV, Å, stress in eV/Å^3).

    The record's ``group`` and ``description`` go to ``atoms.info``.

    Raises
    ------
    ValueError
        Not a list of mlearn records, or a record lacks a field or has a bad value; the
        message names the file and the record.
    """
    path = Path(path)
    try:
        records = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(records, list) or not records:
        raise ValueError(f"{path}: expected a non-empty JSON list of mlearn records")
    return [_record(record, f"{path}, record {k}") for k, record in enumerate(records)]


def _record(record: object, source: str) -> LabeledStructure:
    try:
        assert isinstance(record, dict)
        structure, outputs = record["structure"], record["outputs"]
        cell = np.asarray(structure["lattice"]["matrix"], dtype=np.float64)
        sites = structure["sites"]
        symbols = [site["species"][0]["element"] for site in sites]
        positions = np.asarray([site["xyz"] for site in sites], dtype=np.float64)
        energy, forces = float(outputs["energy"]), outputs["forces"]
        virial_stress = outputs.get("virial_stress")
        element = str(record.get("element", "".join(sorted(set(symbols)))))
    except (AssertionError, KeyError, IndexError, TypeError, ValueError) as err:
        raise ValueError(
            f"{source}: not an mlearn record ({type(err).__name__}: {err}); each needs "
            "structure.lattice.matrix, structure.sites[*].xyz and .species[0].element, "
            "outputs.energy and outputs.forces"
        ) from None
    if cell.shape != (3, 3):
        raise ValueError(f"{source}: lattice matrix has shape {cell.shape}, expected (3, 3)")
    atoms = Atoms(symbols=symbols, positions=positions.reshape(-1, 3), cell=cell, pbc=True)
    atoms.info.update({key: record[key] for key in ("group", "description") if key in record})
    try:
        stress = None if virial_stress is None else mlearn_stress(virial_stress, element)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None
    return checked_labels(atoms, energy, forces, stress, source)
