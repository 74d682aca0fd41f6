"""Training runs on the ethanol fixture: learning, exact resume, data-parallel equivalence."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import DATA, as_format_3

from se3t_calc.checkpoint import read_checkpoint
from se3t_calc.train import GraphDataset, TrainConfig, evaluate, read_structures, train
from se3t_calc.train import trainer as trainer_module

SMALL = dict(
    hidden_irreps="8x0e+4x1o", num_heads=2, head_channels=2, num_layers=2, lmax=2, r_cut=4.0, radial_hidden=16
)


def _config(tmp_path, name, **overrides):
    settings = dict(
        train_file=str(DATA / "ethanol_rmd17.xyz"),
        train_size=40,
        valid_size=20,
        output_dir=str(tmp_path / name),
        device="cpu",
        epochs=4,
        batch_size=4,
        lr=0.01,
        threads=1,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def test_training_lowers_validation_force_error(tmp_path):
    config = _config(tmp_path, "run", train_size=100, epochs=12, ema_decay=0.9)
    best = train(config, SMALL)
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(log) == 12
    saved = read_checkpoint(best)
    # the untrained model with the same statistics and seed, for the starting error
    torch.manual_seed(config.seed)
    from se3t_calc.checkpoint import model_from_dict

    start = model_from_dict(saved)
    start.load_state_dict({**start.state_dict(), **_random_weights(saved)})
    valid = GraphDataset(read_structures(DATA / "ethanol_rmd17.xyz"), start.config.species, 4.0)
    split = read_checkpoint(tmp_path / "run" / "last.pt")["split"]["valid"]
    before = evaluate(start.double(), valid, split).summary()["forces_mae_meV_per_A"]
    after = evaluate(model_from_dict(saved).double(), valid, split).summary()["forces_mae_meV_per_A"]
    assert after < 0.4 * before, (before, after)
    assert min(r["valid_forces_mae_meV_per_A"] for r in log) == pytest.approx(after, rel=1e-3)


def _random_weights(saved):
    """Freshly initialised parameters of the saved architecture (same seed as training)."""
    from se3t_calc import ModelConfig, SE3TModel

    torch.manual_seed(0)
    fresh = SE3TModel(ModelConfig.from_dict(saved["config"]))
    return {k: v for k, v in fresh.state_dict().items() if not k.startswith("readout.") or "mlp" in k}


@pytest.mark.parametrize("older_format", [False, True])
def test_resume_after_interruption_reproduces_the_run(tmp_path, monkeypatch, older_format):
    """Also when the interrupted run's last.pt was written in format 3 (wider radial MLPs):
    its model, averaged model and optimiser moments migrate, and the run goes on exactly."""
    uninterrupted = _config(tmp_path, "a")
    train(uninterrupted, SMALL)

    original = trainer_module.Trainer.save
    calls = {"n": 0}

    def killed_after_two_epochs(self, metrics, improved):
        original(self, metrics, improved)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    interrupted = _config(tmp_path, "b")
    monkeypatch.setattr(trainer_module.Trainer, "save", killed_after_two_epochs)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, SMALL)
    monkeypatch.setattr(trainer_module.Trainer, "save", original)
    assert read_checkpoint(tmp_path / "b" / "last.pt")["training_state"]["epoch"] == 2
    if older_format:
        last = tmp_path / "b" / "last.pt"
        torch.save(as_format_3(torch.load(last, weights_only=True)), last)
    train(interrupted, SMALL, resume=True)

    with pytest.raises(ValueError, match=r"already holds a run \(last.pt\); continue it with --resume"):
        train(interrupted, SMALL)
    a, b = read_checkpoint(tmp_path / "a" / "last.pt"), read_checkpoint(tmp_path / "b" / "last.pt")
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    for key, value in a["training_state"]["model"].items():
        assert torch.equal(value, b["training_state"]["model"][key]), key
    log_a = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    log_b = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log_b] == [1, 2, 3, 4]
    for ra, rb in zip(log_a, log_b, strict=True):
        assert ra["valid_forces_mae_meV_per_A"] == rb["valid_forces_mae_meV_per_A"]
        assert ra["train_loss"] == rb["train_loss"]


def test_best_checkpoint_loads_in_the_calculator_with_test_metrics(tmp_path):
    from se3t_calc import SE3TCalculator

    config = _config(tmp_path, "c", epochs=1, test_file=str(DATA / "aspirin_rmd17.xyz"))
    best = train(config, {**SMALL, "species": ["H", "C", "O"]})
    data = torch.load(best, weights_only=True)
    assert data["metadata"]["training"]["test_metrics"]["structures"] == 4
    assert (tmp_path / "c" / "learning_curve.png").stat().st_size > 0
    atoms = read_structures(DATA / "aspirin_rmd17.xyz")[0].atoms
    atoms.calc = SE3TCalculator(best, device="cpu")
    assert np.isfinite(atoms.get_forces()).all()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    common = ["--train-file", str(DATA / "ethanol_rmd17.xyz"), "--train-size", "16", "--valid-size", "4"]
    common += ["--epochs", "2", "--device", "cpu", "--dtype", "float64", "--ema-decay", "0", "--threads", "1"]
    common += ["--hidden-irreps", "8x0e+4x1o", "--num-heads", "2", "--head-channels", "2", "--lmax", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = [sys.executable, "-m", "se3t_calc.cli", "train", *common, "--batch-size", "4"]
    subprocess.run([*one, "--output-dir", str(tmp_path / "one")], check=True, env=env, timeout=300)
    two = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    two += ["-m", "se3t_calc.cli", "train", *common, "--batch-size", "2"]
    subprocess.run([*two, "--output-dir", str(tmp_path / "two")], check=True, env=env, timeout=300)
    a = read_checkpoint(tmp_path / "one" / "last.pt")["state_dict"]
    b = read_checkpoint(tmp_path / "two" / "last.pt")["state_dict"]
    start = _random_weights({"config": read_checkpoint(tmp_path / "one" / "last.pt")["config"]})
    moved = max(float((a[k].double() - start[k].double()).abs().max()) for k in start if start[k].numel())
    assert moved > 1e-3  # training did change the weights
    for key, value in a.items():
        torch.testing.assert_close(value, b[key], rtol=1e-9, atol=1e-11)


def test_second_stage_raises_energy_weight_and_keeps_a_second_stage_model(tmp_path, capsys):
    config = _config(tmp_path, "staged", epochs=4, stage_two=0.5, stage_two_energy_weight=500.0)
    best = train(config, SMALL)
    assert "second stage from epoch 3: energy weight 500" in capsys.readouterr().out
    log = [json.loads(line) for line in (tmp_path / "staged" / "metrics.jsonl").read_text().splitlines()]
    # the energy term's share of the loss jumps with the weight (the force term is unchanged)
    share = [(r["train_loss"] - 10 * r["train_forces"]) / r["train_loss"] for r in log]
    assert max(share[:2]) < min(share[2:])
    # the model kept is the best of the second stage, even if a first-stage epoch was better
    assert read_checkpoint(best)["metadata"]["training"]["epoch"] >= 3
    state = read_checkpoint(tmp_path / "staged" / "last.pt")["training_state"]
    assert state["stage"] == 2


def test_least_squares_e0_on_one_molecule_is_flagged(tmp_path, capsys):
    from se3t_calc.train.prepare import prepare

    one_molecule = prepare(_config(tmp_path, "e0"), None, 4.0)
    assert "determine only 1 of 3" in one_molecule.describe()
    isolated = tmp_path / "atoms.xyz"
    from ase import Atoms
    from ase.io import write

    frames = [Atoms(s) for s in "HCO"]
    for atoms, energy in zip(frames, (-13.6, -1030.0, -2040.0), strict=True):
        atoms.info["energy"] = energy
    write(isolated, frames)
    given = prepare(_config(tmp_path, "e0", atomic_energies=str(isolated)), None, 4.0)
    assert "isolated atoms" in given.describe() and "arbitrary" not in given.describe()
    np.testing.assert_allclose(given.atomic_energies, [-13.6, -1030.0, -2040.0])
