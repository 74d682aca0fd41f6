"""Committees: the mean of the members, each member's own results, and their spread."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from ase.build import bulk
from helpers import calc, ethanol, small_model

from se3t_calc import SE3TCalculator, save_model


def _members(species=("H", "C", "O")):
    return [small_model(species=species, seed=seed) for seed in range(3)]


def _results(atoms, calculator, properties=("energy", "forces")):
    atoms = atoms.copy()
    atoms.calc = calculator
    for name in properties:
        atoms.calc.get_property(name, atoms)
    return atoms.calc.results


def test_committee_results_are_the_members_and_their_spread():
    members = _members()
    single = [_results(ethanol(), calc(m)) for m in members]
    committee = _results(ethanol(), calc(members))
    energies = np.array([r["energy"] for r in single])
    forces = np.stack([r["forces"] for r in single])
    np.testing.assert_allclose(committee["member_energy"], energies, rtol=0, atol=1e-10)
    np.testing.assert_allclose(committee["member_forces"], forces, rtol=0, atol=1e-10)
    assert committee["energy"] == pytest.approx(energies.mean(), abs=1e-10)
    np.testing.assert_allclose(committee["forces"], forces.mean(0), atol=1e-10)
    assert committee["energy_std"] == pytest.approx(energies.std(ddof=1), rel=1e-9)
    np.testing.assert_allclose(committee["forces_std"], forces.std(0, ddof=1), rtol=1e-9)
    assert committee["energy_std"] > 1e-3  # different seeds disagree


def test_committee_stress_of_a_periodic_cell():
    members = _members(species=("Si",))
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.05, seed=1)
    props = ("energy", "forces", "stress")
    single = np.stack([_results(atoms, calc(m), props)["stress"] for m in members])
    committee = _results(atoms, calc(members), props)
    np.testing.assert_allclose(committee["member_stress"], single, atol=1e-12)
    np.testing.assert_allclose(committee["stress"], single.mean(0), atol=1e-12)
    np.testing.assert_allclose(committee["stress_std"], single.std(0, ddof=1), rtol=1e-8, atol=1e-14)


def test_identical_members_have_zero_spread():
    model = small_model()
    results = _results(ethanol(), calc([model, model]))
    assert results["energy_std"] == 0 and np.all(results["forces_std"] == 0)


def test_a_committee_folder_and_a_list_of_files_load_the_same(tmp_path):
    files = []
    for k, member in enumerate(_members()):
        files.append(tmp_path / f"member_{k}.pt")
        save_model(member, files[-1])
    from_folder = _results(ethanol(), SE3TCalculator(tmp_path, device="cpu"))
    from_files = _results(ethanol(), SE3TCalculator([str(f) for f in files], device="cpu"))
    assert from_folder["energy"] == from_files["energy"]
    np.testing.assert_array_equal(from_folder["forces_std"], from_files["forces_std"])


def test_members_that_do_not_fit_together_are_refused(tmp_path):
    with pytest.raises(ValueError, match="members must share both"):
        calc([small_model(), small_model(species=("H", "C"))])
    with pytest.raises(ValueError, match="at least 2 models"):
        calc([small_model()])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="without committee members"):
        SE3TCalculator(tmp_path / "empty", device="cpu")


def test_train_committee_gathers_members_with_one_split_and_resumes(tmp_path, capsys):
    from helpers import DATA
    from test_train import SMALL, _config

    from se3t_calc.checkpoint import read_checkpoint
    from se3t_calc.train.committee import train_committee

    config = _config(tmp_path, "committee", epochs=2, test_file=str(DATA / "ethanol_rmd17.xyz"))
    folder = train_committee(config, SMALL, members=2)
    trained = [read_checkpoint(folder / f"member_{k}.pt") for k in range(2)]
    runs = [read_checkpoint(folder / f"member_{k}" / "last.pt") for k in range(2)]
    assert runs[0]["split"] == runs[1]["split"]  # one validation set
    seeds = [r["metadata"]["training"]["train_config"]["seed"] for r in trained]
    assert seeds == [0, 1]
    weights = [t["state_dict"]["readout.mlp.layer0.weight"] for t in trained]
    assert not torch.equal(*weights)
    assert json.loads((folder / "test_metrics.json").read_text())["forces_mae_meV_per_A"] > 0
    results = _results(ethanol(), SE3TCalculator(folder, device="cpu"))
    assert results["energy_std"] > 0
    capsys.readouterr()
    train_committee(config, SMALL, members=2, resume=True)  # both trained: nothing to do
    assert capsys.readouterr().out.count("is trained; skipped") == 2
