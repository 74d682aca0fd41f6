"""``se3t train`` settings and ``se3t eval`` against an independent numpy computation."""

import json

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from helpers import DATA, calc, small_model

from se3t_calc import save_model
from se3t_calc.cli import build_parser, main
from se3t_calc.cli_train import train_settings


def _settings(argv):
    return train_settings(build_parser().parse_args(["train", *argv]))


def test_toml_and_yaml_files_then_flags(tmp_path):
    (tmp_path / "run.toml").write_text(
        '[model]\nr_cut = 4.5\ninvariant = "inverse"\n\n'
        '[train]\ntrain_file = "data.xyz"\nlr = 0.002\nepochs = 7\n'
    )
    (tmp_path / "run.yaml").write_text(
        "model:\n  r_cut: 4.5\n  invariant: inverse\n"
        "train:\n  train_file: data.xyz\n  lr: 0.002\n  epochs: 7\n"
    )
    from_toml = _settings([str(tmp_path / "run.toml")])
    assert from_toml == _settings([str(tmp_path / "run.yaml")])
    config, model = from_toml
    assert config.lr == 0.002 and config.epochs == 7 and config.batch_size == 5
    assert config.train_file == str(tmp_path / "data.xyz")  # relative to the file
    assert model == {"r_cut": 4.5, "invariant": "inverse"}
    config, model = _settings(
        [str(tmp_path / "run.toml"), "--lr", "0.01", "--invariant", "r", "--clip-grad", "none"]
    )
    assert config.lr == 0.01 and config.clip_grad is None and model["invariant"] == "r"


def test_bad_settings_are_named(tmp_path):
    (tmp_path / "bad.toml").write_text("[optimizer]\nlr = 1\n")
    with pytest.raises(ValueError, match=r"unknown section\(s\) \['optimizer'\]"):
        _settings([str(tmp_path / "bad.toml")])
    (tmp_path / "field.toml").write_text("[train]\nlearning_rate = 1\n")
    with pytest.raises(ValueError, match=r"TrainConfig: unknown field\(s\) \['learning_rate'\]"):
        _settings([str(tmp_path / "field.toml")])
    with pytest.raises(ValueError, match=r"TrainConfig\.schedule='linear'"):
        _settings(["--train-file", "x", "--schedule", "linear"])
    with pytest.raises(ValueError, match=r"ModelConfig\.invariant='log'"):
        _settings(["--train-file", "x", "--invariant", "log"])
    with pytest.raises(ValueError, match="max_time='ten minutes'"):
        _settings(["--train-file", "x", "--max-time", "ten minutes"])


def _teacher_labelled(tmp_path):
    """Ethanol frames and Si cells labelled (with stress for the cells) by a random teacher model."""
    teacher = calc(small_model(("H", "C", "O", "Si"), seed=5))
    frames = read(DATA / "ethanol_rmd17.xyz", index=":6") + read(DATA / "si_mlearn.xyz", index=":")
    rng = np.random.default_rng(0)
    for atoms in frames:
        atoms.calc = teacher
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        stress = atoms.get_stress() + 1e-3 * rng.normal(size=6) if atoms.pbc.all() else None
        atoms.calc = SinglePointCalculator(
            atoms,
            energy=energy + rng.normal(),
            forces=forces + 0.1 * rng.normal(size=forces.shape),
            stress=stress,
        )
    write(tmp_path / "mixed.xyz", frames, format="extxyz")
    return frames


def test_eval_equals_numpy_on_molecules_and_cells(tmp_path, capsys):
    frames = _teacher_labelled(tmp_path)
    student = small_model(("H", "C", "O", "Si"), seed=1)
    save_model(student, tmp_path / "student.pt")
    main(
        [
            "eval",
            str(tmp_path / "student.pt"),
            str(tmp_path / "mixed.xyz"),
            "--json",
            "--device",
            "cpu",
            "--batch-size",
            "4",
            "--parity",
            str(tmp_path / "parity.png"),
        ]
    )
    got = json.loads(capsys.readouterr().out)
    assert (tmp_path / "parity.png").stat().st_size > 0

    model = calc(student)
    de, df, ds, symbols, natoms = [], [], [], [], []
    for atoms in frames:
        ref_e, ref_f = atoms.get_potential_energy(), atoms.get_forces()
        ref_s = atoms.get_stress() if atoms.pbc.all() else None
        atoms.calc = model
        de.append(atoms.get_potential_energy() - ref_e)
        df.append(atoms.get_forces() - ref_f)
        if ref_s is not None:
            full = atoms.get_stress(voigt=False)
            ds.append(
                full
                - np.array(
                    [
                        [ref_s[0], ref_s[5], ref_s[4]],
                        [ref_s[5], ref_s[1], ref_s[3]],
                        [ref_s[4], ref_s[3], ref_s[2]],
                    ]
                )
            )
        symbols += atoms.get_chemical_symbols()
        natoms.append(len(atoms))
    de, df, ds, symbols = np.array(de), np.concatenate(df), np.array(ds), np.array(symbols)
    expected = {
        "energy_mae_meV": 1000 * np.abs(de).mean(),
        "energy_rmse_meV": 1000 * np.sqrt((de**2).mean()),
        "energy_mae_meV_per_atom": 1000 * np.abs(de / natoms).mean(),
        "forces_mae_meV_per_A": 1000 * np.abs(df).mean(),
        "forces_rmse_meV_per_A": 1000 * np.sqrt((df**2).mean()),
        "forces_mae_meV_per_A_Si": 1000 * np.abs(df[symbols == "Si"]).mean(),
        "forces_mae_meV_per_A_H": 1000 * np.abs(df[symbols == "H"]).mean(),
        "stress_mae_meV_per_A3": 1000 * np.abs(ds).mean(),
        "stress_rmse_meV_per_A3": 1000 * np.sqrt((ds**2).mean()),
    }
    assert got["structures"] == len(frames)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key


def test_training_on_mixed_batches_with_stress(tmp_path):
    _teacher_labelled(tmp_path)
    main(
        [
            "train",
            "--train-file",
            str(tmp_path / "mixed.xyz"),
            "--valid-size",
            "4",
            "--epochs",
            "2",
            "--batch-size",
            "3",
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
            "2",
            "--r-cut",
            "4.0",
            "--seed",
            "1",
        ]
    )
    log = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["train_loss"]) and r["train_stress"] > 0 for r in log)


def test_eval_of_an_energy_only_scan_prints_the_profile(tmp_path, capsys):
    model = small_model(seed=2)
    save_model(model, tmp_path / "m.pt")
    frames = read(DATA / "ethanol_rmd17.xyz", index=":5")
    reference = []
    for k, atoms in enumerate(frames):
        atoms.calc = calc(model)
        reference.append(atoms.get_potential_energy() + 0.001 * k)  # the model is off by k meV
        atoms.calc = None
        atoms.info["energy"] = reference[-1]
    write(tmp_path / "scan.xyz", frames, format="extxyz")
    main(["eval", str(tmp_path / "m.pt"), str(tmp_path / "scan.xyz"), "--device", "cpu", "--threads", "1"])
    out = capsys.readouterr().out
    assert "no forces in" in out and "forces (meV/Å)" not in out
    ref = 1000 * (np.array(reference) - min(reference))
    model_e = ref - np.arange(5)
    model_e -= model_e.min()
    deviation = np.abs(model_e - ref).max()
    assert f"largest deviation {deviation:.2f} meV" in out
    assert f"barrier (max - min): reference {ref.max():.2f} meV, model {model_e.max():.2f} meV" in out


def test_eval_lists_the_structures_with_the_largest_force_error(tmp_path, capsys):
    """References equal to the model's own results but for one atom's force: that
    structure and atom head the list, with exactly the error put in."""
    model = small_model()
    save_model(model, tmp_path / "m.pt")
    frames = read(DATA / "ethanol_rmd17.xyz", index="0:6")
    for k, atoms in enumerate(frames):
        atoms.calc = calc(model)
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        if k == 3:
            forces[4] += [0.3, 0.0, -0.4]  # 0.5 eV/Å
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    write(tmp_path / "data.xyz", frames, format="extxyz")
    argv = ["eval", str(tmp_path / "m.pt"), str(tmp_path / "data.xyz"), "--device", "cpu", "--worst", "2"]
    main([*argv, "--json"])
    worst = json.loads(capsys.readouterr().out)["worst_structures"]
    assert [(w["index"], w["atom"]) for w in worst[:1]] == [(3, 4)] and len(worst) == 2
    assert worst[0]["max_force_error_meV_per_A"] == pytest.approx(500, abs=1e-3)
    assert worst[0]["forces_mae_meV_per_A"] == pytest.approx(700 / 27, abs=1e-3)
    assert worst[1]["max_force_error_meV_per_A"] < 1e-3 and abs(worst[0]["energy_error_meV"]) < 1e-3
    main(argv)
    assert "structures with the largest force error" in capsys.readouterr().out
