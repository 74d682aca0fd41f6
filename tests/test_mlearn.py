"""mlearn JSON reader: units, and the sign and order of the stress checked against DFT energies.

``data/si_mlearn_elastic.json`` holds ten records of mlearn's ``Si_training.json`` as
published: the ground-state 64-atom cell, the same cell strained by 0.02 and 0.04 in
modes 0 (xx), 3 (xy), 4 (xz) and 5 (yz), and one (111) surface slab.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import DATA

from se3t_calc.cli import main
from se3t_calc.train.data import read_structures
from se3t_calc.train.mlearn import KBAR, read_mlearn

FIXTURE = DATA / "si_mlearn_elastic.json"
MLEARN = Path(__file__).resolve().parents[2] / "shared" / "data" / "mlearn"

# the orders of the six stress numbers that the check must tell apart
VASP = ((0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (0, 2))  # xx yy zz xy yz zx
VASP_YZ_ZX_SWAPPED = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))  # xx yy zz xy zx yz
DOCUMENTED = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))  # xx yy zz yz xz xy
ORDERS = {"Si": VASP, "Mo": VASP_YZ_ZX_SWAPPED}


def test_kbar_is_a_tenth_of_a_gpa():
    # Pa per kBar over Pa per eV/Å^3; ase.units uses CODATA 2014 (e differs by 8e-9)
    assert KBAR == pytest.approx(1e8 / 1.602176634e11, rel=2e-8)


def test_reader_converts_positions_energy_forces_and_stress():
    records = json.loads(FIXTURE.read_text())
    structures = read_structures(FIXTURE)
    assert len(structures) == len(records) == 10
    for record, s in zip(records, structures, strict=True):
        sites = record["structure"]["sites"]
        assert s.atoms.pbc.all() and len(s.atoms) == record["num_atoms"] == len(sites)
        assert s.atoms.get_chemical_symbols() == [x["species"][0]["element"] for x in sites]
        np.testing.assert_array_equal(s.atoms.cell.array, record["structure"]["lattice"]["matrix"])
        np.testing.assert_array_equal(s.atoms.positions, [x["xyz"] for x in sites])
        np.testing.assert_array_equal(s.forces, record["outputs"]["forces"])
        assert s.energy == record["outputs"]["energy"]
        assert s.atoms.info["description"] == record["description"]
        xx, yy, zz, xy, yz, zx = record["outputs"]["virial_stress"]
        expected = -KBAR * np.array([[xx, xy, zx], [xy, yy, yz], [zx, yz, zz]])
        np.testing.assert_allclose(s.stress, expected, rtol=1e-15, atol=0)


def _strain_work_mismatch(strains, cells, energies, stresses):
    """Largest |W - dE| / max |dE| along one strain path.

    ``dE`` is the DFT energy of each cell minus that of the first (least strained
    parameter); ``W`` the work of the stress along the path, the integral of
    ``V * sum(stress * d(eps)/ds) ds`` with ``d(eps) = cell^-1 d(cell)`` (rows as lattice
    vectors), which equals ``dE`` when the stress is ``(1/V) dE/d(eps)`` (ASE's sign).
    Cells and work are interpolated by polynomials of the strain parameter ``s``.
    """
    k = np.argsort(strains)
    s, cells, energies = np.asarray(strains)[k], np.asarray(cells)[k], np.asarray(energies)[k]
    stresses = np.asarray(stresses)[k]
    degree = min(len(s) - 1, 4)
    d_cells = np.zeros_like(cells)
    for a in range(3):
        for b in range(3):
            d_cells[:, a, b] = np.polyval(np.polyder(np.polyfit(s, cells[:, a, b], degree)), s)
    power = [
        abs(np.linalg.det(h)) * np.sum(sigma * np.linalg.solve(h, dh))
        for h, dh, sigma in zip(cells, d_cells, stresses, strict=True)
    ]
    work = np.polyint(np.polyfit(s, power, degree))
    w = np.polyval(work, s) - np.polyval(work, s[0])
    d_e = energies - energies[0]
    return np.abs(w - d_e).max() / np.abs(d_e).max()


def _elastic_paths(records, structures):
    """{mode: (strains, structures)} of the Elastic group, with the ground state at strain 0."""
    pairs = zip(records, structures, strict=True)
    ground = [s for r, s in pairs if r["description"] == "Ground state crystal"]
    paths: dict[int, tuple[list, list]] = {}
    for record, structure in zip(records, structures, strict=True):
        match = re.search(r"mode (\d+), strain (\S+)", record["description"])
        if match:
            strains, items = paths.setdefault(int(match.group(1)), ([], []))
            strains.append(float(match.group(2)))
            items.append(structure)
    for strains, items in paths.values():
        if ground and len(ground[0].atoms) == len(items[0].atoms):
            strains.append(0.0)
            items.append(ground[0])
    return {mode: path for mode, path in paths.items() if len(path[0]) >= 3}


def _stress(virial_stress, order, sign=-1.0):
    out = np.zeros((3, 3))
    for value, (i, j) in zip(virial_stress, order, strict=True):
        out[i, j] = out[j, i] = sign * value * KBAR
    return out


def _check_sign_and_order(records, structures, element, tolerance):
    """The reader's stress fits the energies; a flipped sign or another order does not."""
    paths = _elastic_paths(records, structures)
    assert paths, "no Elastic strain paths found"
    raw = {id(s): r["outputs"]["virial_stress"] for r, s in zip(records, structures, strict=True)}
    mismatch = {}
    for mode, (strains, items) in sorted(paths.items()):
        cells = [s.atoms.cell.array for s in items]
        energies = [s.energy for s in items]
        mismatch[mode] = _strain_work_mismatch(strains, cells, energies, [s.stress for s in items])
        flipped = [_stress(raw[id(s)], ORDERS[element], sign=1.0) for s in items]
        assert _strain_work_mismatch(strains, cells, energies, flipped) > 1.9, mode
        cell = items[0].atoms.cell.array
        shear = not np.allclose(cell, np.diag(np.diag(cell)))
        if shear:  # the other orders put the shear stress on a component the strain does not touch
            for order in {VASP, VASP_YZ_ZX_SWAPPED, DOCUMENTED} - {ORDERS[element]}:
                wrong = np.array([_stress(raw[id(s)], order) for s in items])
                right = np.array([s.stress for s in items])
                if np.abs(wrong - right).max() > 0.1 * np.abs(right).max():  # differs on this shear
                    assert _strain_work_mismatch(strains, cells, energies, wrong) > 0.9, (mode, order)
    assert max(mismatch.values()) < tolerance, mismatch
    return mismatch


def test_stress_sign_and_order_from_strained_cells_of_the_fixture():
    structures = read_mlearn(FIXTURE)
    mismatch = _check_sign_and_order(json.loads(FIXTURE.read_text()), structures, "Si", 0.01)
    assert sorted(mismatch) == [0, 3, 4, 5]


@pytest.mark.skipif(not MLEARN.is_dir(), reason="needs ../shared/data/mlearn")
@pytest.mark.parametrize(("element", "tolerance"), [("Si", 0.01), ("Mo", 0.025)])
def test_stress_sign_and_order_from_all_strained_cells(element, tolerance):
    records, structures = [], []
    for split in ("training", "test"):
        path = MLEARN / f"{element}_{split}.json"
        records += json.loads(path.read_text())
        structures += read_mlearn(path)
    mismatch = _check_sign_and_order(records, structures, element, tolerance)
    print(element, {mode: f"{m:.4f}" for mode, m in mismatch.items()})


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.pop("outputs"), "not an mlearn record .*KeyError.*outputs"),
        (lambda r: r["outputs"].update(virial_stress=[1.0, 2.0]), r"virial_stress has shape \(2,\)"),
        (lambda r: r.update(element="Cu"), "the order of the stress components of mlearn's 'Cu' data"),
        (lambda r: r["outputs"].update(forces=[[0.0, 0.0, 0.0]]), r"forces have shape \(1, 3\)"),
    ],
)
def test_bad_records_are_named(tmp_path, edit, message):
    records = json.loads(FIXTURE.read_text())[-1:]
    edit(records[0])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(records))
    with pytest.raises(ValueError, match=f"bad.json, record 0: {message}"):
        read_structures(path)


def test_train_one_epoch_on_mlearn_json(tmp_path):
    main(
        [
            "train",
            "--train-file",
            str(FIXTURE),
            "--valid-size",
            "2",
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--output-dir",
            str(tmp_path / "run"),
            "--hidden-irreps",
            "8x0e+4x1o",
            "--num-heads",
            "2",
            "--head-channels",
            "2",
            "--lmax",
            "1",
            "--r-cut",
            "4.0",
            "--seed",
            "1",
        ]
    )
    log = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(log) == 1 and np.isfinite(log[0]["train_loss"]) and log[0]["train_stress"] > 0
