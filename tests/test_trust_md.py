"""MD and relaxation that say when the model is unsure (committee spread) or the structure collapsed."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase.io import read
from ase.md.verlet import VelocityVerlet
from helpers import calc, ethanol, small_model

from se3t_calc import BlowUpError, MDSafetyCheck, save_model
from se3t_calc.safety import UncertaintyWarning, closest_overlap, force_uncertainty

EXAMPLES = Path(__file__).parents[1] / "examples" / "structures"


def _committee_atoms():
    atoms = ethanol()
    atoms.calc = calc([small_model(seed=0), small_model(seed=1)])
    return atoms


def _run(atoms, check, steps=3):
    dyn = VelocityVerlet(atoms, timestep=0.1)
    dyn.attach(check, interval=1)
    dyn.run(steps)
    return dyn


def test_force_uncertainty_is_the_norm_of_the_committee_spread():
    atoms = _committee_atoms()
    atoms.get_forces()
    members = atoms.calc.results["member_forces"]
    expected = np.linalg.norm(members.std(axis=0, ddof=1), axis=1)
    np.testing.assert_allclose(force_uncertainty(atoms), expected, rtol=1e-12)


def test_md_stops_where_the_committee_disagrees():
    atoms = _committee_atoms()
    atoms.get_forces()
    limit = 0.5 * force_uncertainty(atoms).max()
    check = MDSafetyCheck(atoms, cutoff=4.0, bond_factor=None, max_force_std=limit)
    with pytest.raises(BlowUpError, match=r"force uncertainty .* above the limit"):
        _run(atoms, check)
    relaxed = MDSafetyCheck(atoms, cutoff=4.0, bond_factor=None, max_force_std=100 * limit)
    _run(atoms, relaxed)  # far below the limit: runs through


def test_md_warns_once_and_goes_on_when_told_to():
    atoms = _committee_atoms()
    check = MDSafetyCheck(atoms, cutoff=4.0, bond_factor=None, max_force_std=1e-9, uncertain="warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dyn = _run(atoms, check, steps=4)
    assert dyn.nsteps == 4
    assert len([w for w in caught if issubclass(w.category, UncertaintyWarning)]) == 1


def test_an_uncertainty_limit_needs_a_committee():
    atoms = ethanol()
    atoms.calc = calc(small_model())
    with pytest.raises(ValueError, match="needs a committee"):
        MDSafetyCheck(atoms, cutoff=4.0, max_force_std=0.1)


def test_collapsed_atoms_stop_md_and_are_named():
    atoms = ethanol()
    assert closest_overlap(atoms, 0.6) is None
    symbols = atoms.get_chemical_symbols()
    c, h = symbols.index("C"), symbols.index("H")
    atoms.positions[h] = atoms.positions[c] + [0.3, 0.0, 0.0]
    assert f"atoms {min(c, h)}" in closest_overlap(atoms, 0.6)
    atoms.calc = calc(small_model(zbl=False))
    check = MDSafetyCheck(atoms, cutoff=4.0, bond_factor=None)
    with pytest.raises(BlowUpError, match=r"0\.300 Å apart.*collapsed"):
        check()


def _se3t(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "se3t_calc.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_md_command_logs_the_uncertainty_and_stops_past_the_limit(tmp_path):
    folder = tmp_path / "committee"
    folder.mkdir()
    for seed in range(2):
        save_model(small_model(seed=seed), folder / f"member_{seed}.pt")
    common = ["md", str(folder), str(EXAMPLES / "ethanol.xyz"), "--steps", "6", "--log-every", "2"]
    common += ["--temperature-K", "50", "--device", "cpu", "--threads", "1"]
    common += ["--max-temperature-K", "0", "--bond-factor", "0"]
    run = _se3t(*common, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "maxσF/eV/Å" in run.stdout
    rows = [line.split() for line in run.stdout.splitlines() if line.strip()[:1].isdigit()]
    sigma = [float(row[-1]) for row in rows if len(row) == 7 and row[1] != "steps"]
    assert len(sigma) >= 3 and min(sigma) > 0
    stop = _se3t(*common, "--max-force-std", "1e-6", "--out", "md.extxyz", cwd=tmp_path)
    assert stop.returncode != 0
    assert "force uncertainty" in stop.stderr and "md.extxyz holds the frames" in stop.stderr
    assert len(read(tmp_path / "md.extxyz", index=":")) >= 1


def test_relax_reports_the_committee_uncertainty(tmp_path):
    folder = tmp_path / "committee"
    folder.mkdir()
    for seed in range(2):
        save_model(small_model(seed=seed), folder / f"member_{seed}.pt")
    run = _se3t(
        "relax", str(folder), str(EXAMPLES / "ethanol.xyz"), "--steps", "3", "--device", "cpu", cwd=tmp_path
    )
    assert "committee uncertainty: energy ±" in run.stdout, run.stderr


def test_relax_that_ends_with_collapsed_atoms_says_so_and_fails(tmp_path):
    """H placed 0.3 Å from C, and a model without repulsion: the relaxation ends collapsed (or
    stays so), and the command names the pair and exits 1 rather than reporting a result."""
    atoms = read(EXAMPLES / "ethanol.xyz")
    symbols = atoms.get_chemical_symbols()
    c, h = symbols.index("C"), symbols.index("H")
    atoms.positions[h] = atoms.positions[c] + [0.3, 0.0, 0.0]
    atoms.write(tmp_path / "close.xyz")
    save_model(small_model(zbl=False), tmp_path / "m.pt")
    run = _se3t("relax", "m.pt", "close.xyz", "--steps", "1", "--device", "cpu", cwd=tmp_path)
    assert run.returncode == 1
    assert f"atoms {min(c, h)} (" in run.stderr and "the structure collapsed" in run.stderr
