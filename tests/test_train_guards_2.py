"""Training runs that must refuse bad input or stop cleanly: loss weights and budgets, diverging
runs, edited, non-finite or stale checkpoints, torn logs, stress and virial labels, isolated
atoms, validation sets without forces, and settings files with values of the wrong type."""

import json
import math
import shutil

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from helpers import DATA
from test_train import SMALL, _config

from se3t_calc.checkpoint import atomic_save, read_checkpoint
from se3t_calc.train import TrainConfig, train
from se3t_calc.train import trainer as trainer_module
from se3t_calc.train.data import LabelWarning, read_structures
from se3t_calc.train.metrics import log_line, read_log
from se3t_calc.train.resume import sign
from se3t_calc.train.statistics import isolated_atom_energies

TINY = dict(epochs=1, train_size=8, valid_size=4)


def _strict_json(line):
    def refuse(name):
        raise ValueError(f"bare {name} in {line!r}")

    return json.loads(line, parse_constant=refuse)


def _ethanol_copy(path, frames=":12"):
    write(path, read(DATA / "ethanol_rmd17.xyz", index=frames), format="extxyz")
    return str(path)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A one-epoch run on its own copy of the data, to copy and resume."""
    tmp = tmp_path_factory.mktemp("finished")
    config = _config(tmp, "run", train_file=_ethanol_copy(tmp / "data.xyz"), **TINY)
    train(config, SMALL)
    return tmp / "run"


def _copy_run(finished_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(finished_run, folder)
    data = read_checkpoint(folder / "last.pt")["metadata"]["training"]["train_config"]["train_file"]
    return folder, _config(tmp_path, "run", train_file=data, **{**TINY, "epochs": 2})


# 1, 11 -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["energy_weight", "forces_weight", "stress_weight", "stage_two_energy_weight"]
)
@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf])
def test_negative_or_non_finite_loss_weights_are_refused(name, value):
    with pytest.raises(ValueError, match=f"TrainConfig.{name}="):
        TrainConfig(train_file="x", **{name: value})
    assert getattr(TrainConfig(train_file="x", **{name: 0.0}), name) == 0.0  # a term left out


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(max_time="0"), r"max_time='0': must be a positive time"),
        (dict(max_time="0s"), r"max_time='0s': must be a positive time"),
        (dict(patience=0), r"patience=0: must be a positive number of epochs"),
        (dict(patience=-1), r"patience=-1: must be a positive number of epochs"),
        (dict(lr=math.nan), r"lr=nan: must be a finite number"),
    ],
)
def test_budgets_that_end_before_the_first_epoch_are_refused_up_front(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(train_file="x", **settings)


# 2 -----------------------------------------------------------------------------------------
def test_a_diverging_run_stops_at_the_first_non_finite_loss(tmp_path):
    config = _config(tmp_path, "diverging", lr=1e30, **{**TINY, "epochs": 3})
    with pytest.raises(
        ValueError, match=r"diverged in epoch 1 \(loss nan.*lower --lr \(now 1e\+30; try 0.001\)"
    ):
        train(config, SMALL)
    assert not (tmp_path / "diverging" / "best.pt").exists()


def test_compiled_training_of_the_edge_frame_convolution_is_refused(tmp_path):
    config = _config(tmp_path, "so2", compile=True, **TINY)
    with pytest.raises(ValueError, match=r"compile=True cannot train a model with convolution='so2'"):
        train(config, {**SMALL, "convolution": "so2"})
    assert not (tmp_path / "so2" / "last.pt").exists()


def test_a_run_diverging_later_keeps_its_last_good_checkpoint(tmp_path, monkeypatch):
    original = trainer_module.loss_terms
    calls = {"n": 0}

    def nan_from_the_third_step(*args, **kwargs):
        calls["n"] += 1
        terms = original(*args, **kwargs)
        return {k: v * math.nan for k, v in terms.items()} if calls["n"] >= 3 else terms

    monkeypatch.setattr(trainer_module, "loss_terms", nan_from_the_third_step)  # 2 steps per epoch
    with pytest.raises(ValueError, match=r"diverged in epoch 2 .*last.pt keeps epoch 1, the last one"):
        train(_config(tmp_path, "later", **{**TINY, "epochs": 3}), SMALL)
    last = read_checkpoint(tmp_path / "later" / "last.pt")
    assert last["training_state"]["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())
    assert [r["epoch"] for r in read_log(tmp_path / "later" / "metrics.jsonl")] == [1]


# 3, 4 --------------------------------------------------------------------------------------
def test_resume_refuses_non_finite_weights_naming_the_file(finished_run, tmp_path):
    folder, config = _copy_run(finished_run, tmp_path)
    stored = read_checkpoint(folder / "last.pt")
    name = next(iter(stored["training_state"]["model"]))
    stored["training_state"]["model"][name] = stored["training_state"]["model"][name] * math.nan
    atomic_save(sign(stored), folder / "last.pt")  # as a run that saved NaN would have
    with pytest.raises(ValueError, match=rf"{folder / 'last.pt'} holds non-finite weights .*{name}"):
        train(config, SMALL, resume=True)


@pytest.mark.parametrize("edit", ["train_config", "split"])
def test_resume_refuses_an_edited_checkpoint_naming_the_file(finished_run, tmp_path, edit):
    folder, config = _copy_run(finished_run, tmp_path)
    stored = read_checkpoint(folder / "last.pt")
    if edit == "train_config":
        stored["metadata"]["training"]["train_config"]["forces_weight"] = 1000.0
    else:
        stored["split"]["train"][0] = stored["split"]["valid"][0]
    atomic_save(stored, folder / "last.pt")
    with pytest.raises(ValueError, match=rf"{folder / 'last.pt'}: training settings, split .*checksum"):
        train(config, SMALL, resume=True)


# 5 -----------------------------------------------------------------------------------------
def test_resume_refuses_data_that_changed_naming_the_file(tmp_path):
    config = _config(tmp_path, "run", train_file=_ethanol_copy(tmp_path / "data.xyz"), **TINY)
    train(config, SMALL)
    _ethanol_copy(tmp_path / "data.xyz", frames=":10")  # replaced by a shorter file
    longer = _config(tmp_path, "run", train_file=config.train_file, **{**TINY, "epochs": 2})
    with pytest.raises(ValueError, match=rf"trained on other data: {tmp_path / 'data.xyz'} \(train_file\)"):
        train(longer, SMALL, resume=True)


# 6, 12 -------------------------------------------------------------------------------------
def test_metrics_log_is_strict_json_and_a_torn_last_line_does_not_block_resume(finished_run, tmp_path):
    assert _strict_json(log_line({"epoch": 1, "train_loss": math.nan, "lr": math.inf})) == {
        "epoch": 1,
        "train_loss": None,
        "lr": None,
    }
    folder, config = _copy_run(finished_run, tmp_path)
    with open(folder / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 2, "elapsed_s": 1.5, "lr"')  # killed while writing
    train(config, SMALL, resume=True)
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    assert [_strict_json(line)["epoch"] for line in lines] == [1, 2]


def test_a_bad_line_before_the_last_is_named(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"epoch": 1}\n{"epoch": 2, oops}\n{"epoch": 3}\n\n')
    with pytest.raises(ValueError, match=rf"{log}, line 2: not JSON"):
        read_log(log)
    log.write_text('{"epoch": 1}\n\n{"epoch": 2, "lr"\n\n')  # torn last line, blank lines
    assert read_log(log) == [{"epoch": 1}]


def test_stress_labels_of_molecules_are_ignored_with_a_notice(tmp_path):
    frames = read(DATA / "ethanol_rmd17.xyz", index=":12")
    for atoms in frames:
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, stress=np.zeros(6))
    write(tmp_path / "stressed.xyz", frames, format="extxyz")
    with pytest.warns(LabelWarning, match=r"stress labels of 12 of 12 structures ignored"):
        assert all(s.stress is None for s in read_structures(tmp_path / "stressed.xyz"))
    with pytest.warns(LabelWarning):
        train(_config(tmp_path, "run", train_file=str(tmp_path / "stressed.xyz"), **TINY), SMALL)
    (line,) = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert math.isfinite(_strict_json(line)["train_loss"])


# 7 -----------------------------------------------------------------------------------------
def test_a_virial_becomes_stress(tmp_path):
    cell = np.diag([5.4, 5.5, 5.6])
    atoms = Atoms("Si2", positions=[[0, 0, 0], [1.3, 1.3, 1.3]], cell=cell, pbc=True)
    virial = np.array([[1.0, 0.2, 0.3], [0.2, 2.0, 0.4], [0.3, 0.4, 3.0]])
    atoms.info["virial"] = virial
    atoms.calc = SinglePointCalculator(atoms, energy=-10.0, forces=np.zeros((2, 3)))
    write(tmp_path / "virial.xyz", [atoms], format="extxyz")
    with pytest.warns(LabelWarning, match=r"stress of 1 of 1 structures computed from their 'virial'"):
        (got,) = read_structures(tmp_path / "virial.xyz")
    np.testing.assert_allclose(got.stress, -virial / np.linalg.det(cell), rtol=1e-12)


# 8, 9 --------------------------------------------------------------------------------------
def _isolated(path, entries, key="energy"):
    frames = []
    for symbol, energy in entries:
        atom = Atoms(symbol)
        atom.info[key] = energy
        frames.append(atom)
    write(path, frames, format="extxyz")
    return path


def test_a_duplicate_isolated_atom_is_refused_naming_element_and_file(tmp_path):
    path = _isolated(tmp_path / "iso.xyz", [("H", -13.6), ("O", -2040.0), ("H", -13.5)])
    with pytest.raises(ValueError, match=rf"{path}: two isolated-atom energies for H \(-13.6 and -13.5"):
        isolated_atom_energies(path, ["H", "O"])


def test_isolated_atoms_are_read_with_the_energy_key(tmp_path):
    path = _isolated(tmp_path / "iso.xyz", [("H", -13.6), ("O", -2040.0)], key="REF_energy")
    np.testing.assert_array_equal(
        isolated_atom_energies(path, ["O", "H"], energy_key="REF_energy"), [-2040, -13.6]
    )
    with pytest.raises(ValueError, match=r"no isolated-atom energy for \['H', 'O'\] under key 'energy'"):
        isolated_atom_energies(path, ["H", "O"])


def test_a_run_reads_isolated_atoms_with_its_energy_key(tmp_path):
    from se3t_calc.train.prepare import prepare

    frames = read(DATA / "ethanol_rmd17.xyz", index=":12")
    for atoms in frames:
        atoms.info["REF_energy"] = atoms.get_potential_energy()
        atoms.calc = SinglePointCalculator(atoms, forces=atoms.get_forces())
    write(tmp_path / "ref.xyz", frames, format="extxyz")
    iso = _isolated(tmp_path / "iso.xyz", [("H", -13.6), ("C", -1030.0), ("O", -2040.0)], key="REF_energy")
    config = _config(tmp_path, "run", train_file=str(tmp_path / "ref.xyz"), energy_key="REF_energy")
    prepared = prepare(
        TrainConfig.from_dict({**config.to_dict(), "atomic_energies": str(iso), **TINY}), None, 4.0
    )
    np.testing.assert_array_equal(prepared.atomic_energies, [-13.6, -1030.0, -2040.0])


# 10 ----------------------------------------------------------------------------------------
def _single_atoms(path):
    """Six labelled single atoms (zero forces), energies near the ethanol fixture's E0."""
    frames = []
    for symbol, energy in [("H", -13.6), ("C", -1030.0), ("O", -2040.0)] * 2:
        atom = Atoms(symbol)
        atom.calc = SinglePointCalculator(atom, energy=energy, forces=np.zeros((1, 3)))
        frames.append(atom)
    write(path, frames, format="extxyz")
    return str(path)


def test_validation_on_isolated_atoms_that_cannot_score_is_refused(tmp_path):
    config = _config(tmp_path, "run", valid_file=_single_atoms(tmp_path / "iso.xyz"), **TINY)
    with pytest.raises(
        ValueError, match=r"the 6 validation structures are all single atoms without neighbours"
    ):
        train(config, SMALL)


def test_validation_without_forces_to_score_picks_the_best_by_energy(tmp_path, capsys):
    config = _config(tmp_path, "run", valid_file=_single_atoms(tmp_path / "iso.xyz"), **{**TINY, "epochs": 3})
    best = train(config, {**SMALL, "isolated_atom_limit": False})  # the atoms' energies are learnt
    assert "best model and early stopping follow the validation energy MAE" in capsys.readouterr().out
    log = read_log(tmp_path / "run" / "metrics.jsonl")
    by_energy = min(log, key=lambda r: r["valid_energy_mae_meV"])["epoch"]
    assert read_checkpoint(best)["metadata"]["training"]["epoch"] == by_energy


# 13 ----------------------------------------------------------------------------------------
def test_settings_files_with_numbers_as_text_are_converted(tmp_path):
    from se3t_calc.cli import build_parser
    from se3t_calc.cli_train import train_settings

    (tmp_path / "run.yaml").write_text(
        "model:\n  r_cut: '4'\n  gate: 'false'\n"
        "train:\n  train_file: data.xyz\n  lr: 1e-3\n  forces_weight: 1e3\n  epochs: 1e2\n  max_time: 3600\n"
    )
    config, model = train_settings(build_parser().parse_args(["train", str(tmp_path / "run.yaml")]))
    assert (config.lr, config.forces_weight, config.epochs, config.max_time) == (1e-3, 1000.0, 100, "3600")
    assert model == {"r_cut": 4.0, "gate": False}


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("run.toml", '[train]\nepochs = "ten"\n', r"run.toml: \[train\] epochs = 'ten': expected an integer"),
        ("run.yaml", "train:\n  lr: fast\n", r"run.yaml: \[train\] lr = 'fast': expected a number"),
        ("run.yaml", "train:\n  amsgrad: 2\n", r"run.yaml: \[train\] amsgrad = 2: expected true or false"),
        (
            "run.toml",
            "[model]\nnum_heads = 2.5\n",
            r"run.toml: \[model\] num_heads = 2.5: expected an integer",
        ),
        ("run.toml", '[model]\nspecies = "HCO"\n', r"\[model\] species = 'HCO': expected a list of chemical"),
    ],
)
def test_settings_files_with_values_of_the_wrong_type_are_refused_before_any_folder(
    tmp_path, name, text, message
):
    from se3t_calc.cli import main

    (tmp_path / name).write_text(text)
    argv = ["train", str(tmp_path / name), "--train-file", _ethanol_copy(tmp_path / "data.xyz")]
    argv += ["--valid-size", "4", "--max-time", "5s", "--device", "cpu", "--threads", "1"]  # if not refused
    with pytest.raises(SystemExit, match=message):
        main([*argv, "--output-dir", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_wrong_types_given_in_code_are_named():
    with pytest.raises(ValueError, match=r"TrainConfig.lr='1e-3': expected a number, got a str"):
        TrainConfig(train_file="x", lr="1e-3")
    from se3t_calc import ModelConfig

    with pytest.raises(ValueError, match=r"ModelConfig.num_heads='2': expected an integer, got a str"):
        ModelConfig(species=["H"], num_heads="2")


def test_species_that_no_training_structure_has_are_refused(tmp_path):
    """--species H C O N on data without N would give N atoms an untrained E0 of 0 eV."""
    config = _config(tmp_path, "run", **TINY)
    with pytest.raises(ValueError, match=r"--species lists \['N'\], which no structure of the training"):
        train(config, {**SMALL, "species": ["H", "C", "O", "N"]})
    assert not (tmp_path / "run" / "best.pt").exists()
