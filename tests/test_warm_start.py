"""Runs that start from a trained model (init_from): its function, its settings, clear refusals."""

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.io import read, write
from helpers import DATA, calc
from test_train import _config

from se3t_calc.checkpoint import load_model
from se3t_calc.pretrained import model_path
from se3t_calc.train import train
from se3t_calc.train.config import read_config_file

SHIPPED = "rmd17-ethanol"


def _isolated_atoms(path, model) -> str:
    """A file of single-atom structures with the model's own E0."""
    atoms = []
    for symbol, e0 in zip(model.config.species, model.readout.atomic_energies.tolist(), strict=True):
        single = Atoms(symbol)
        single.info["energy"] = e0
        atoms.append(single)
    write(path, atoms, format="extxyz")
    return str(path)


def test_a_run_starts_from_the_shipped_model(tmp_path):
    """With a vanishing learning rate and the model's own E0, the exported model is the
    shipped one: weights loaded, its scale and shift kept, E0 neither lost nor doubled."""
    shipped = load_model(SHIPPED, dtype=torch.float64)
    e0 = _isolated_atoms(tmp_path / "e0.xyz", shipped)
    config = _config(
        tmp_path, "tuned", init_from=SHIPPED, atomic_energies=e0, lr=1e-12, epochs=1, ema_decay=0.0
    )
    # a model setting that repeats the shipped model's own is accepted
    tuned = load_model(train(config, {"num_heads": shipped.config.num_heads}), dtype=torch.float64)
    assert tuned.config == shipped.config
    for frame in read(DATA / "ethanol_rmd17.xyz", index="0:3"):
        ref, got = frame.copy(), frame.copy()
        ref.calc, got.calc = calc(shipped), calc(tuned)
        assert got.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-6)
        np.testing.assert_allclose(got.get_forces(), ref.get_forces(), atol=1e-6)
    # and it trained from there: the first validation has the shipped model's errors on
    # rMD17 frames (tens of meV; random weights or a doubled E0 give thousands and more)
    first = json.loads((tmp_path / "tuned" / "metrics.jsonl").read_text().splitlines()[0])
    assert first["valid_energy_mae_meV"] < 20 and first["valid_forces_mae_meV_per_A"] < 50, first


def test_model_settings_that_differ_from_the_models_are_named(tmp_path):
    config = _config(tmp_path, "tuned", init_from=SHIPPED)
    with pytest.raises(ValueError, match=r"num_heads \(4 there, 8 given\)"):
        train(config, {"num_heads": 8})


def test_data_with_an_element_the_model_lacks_is_refused(tmp_path):
    config = _config(
        tmp_path,
        "tuned",
        init_from=SHIPPED,
        train_file=str(DATA / "si_mlearn.xyz"),
        train_size=2,
        valid_size=1,
    )
    with pytest.raises(ValueError, match="Si"):
        train(config)


def test_a_settings_file_names_the_model_relative_to_itself(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "model.pt").write_bytes(model_path(SHIPPED).read_bytes())
    for value, expected in (("../model.pt", str(tmp_path / "model.pt")), (SHIPPED, SHIPPED)):
        (tmp_path / "sub" / "run.toml").write_text(f'[train]\ninit_from = "{value}"\n')
        assert read_config_file(tmp_path / "sub" / "run.toml")["train"]["init_from"] == expected


def test_the_card_of_a_warm_started_model_carries_the_training_before(tmp_path):
    """benchmarks/publish_model.py: the earlier model's file, recipe and curve, and a curve that goes on."""
    spec = importlib.util.spec_from_file_location(
        "publish", Path(__file__).parents[1] / "benchmarks" / "publish_model.py"
    )
    publish = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(publish)
    config = _config(
        tmp_path, "tuned", init_from=SHIPPED, test_file=str(DATA / "ethanol_rmd17.xyz"), epochs=1
    )
    train(config)
    card = publish.card_from_run(tmp_path / "tuned", "a recipe", "abc1234", "a machine")
    before = json.loads(model_path(SHIPPED).with_suffix(".json").read_text())["training"]
    warm = card["training"]["warm_start"]
    assert warm["model"]["sha256"] == hashlib.sha256(model_path(SHIPPED).read_bytes()).hexdigest()
    assert (
        warm["recipe"] == before["recipe"]
        and warm["valid_forces_mae_vs_minutes"] == before["valid_forces_mae_vs_minutes"]
    )
    # the curve keeps the earlier minutes and ends with this run's best, after them
    curve, earlier = card["training"]["valid_forces_mae_vs_minutes"], before["valid_forces_mae_vs_minutes"]
    end = max(curve, key=float)
    assert float(end) >= max(float(m) for m in earlier)
    log = [json.loads(line) for line in (tmp_path / "tuned" / "metrics.jsonl").read_text().splitlines()]
    assert curve[end] == round(min(r["valid_forces_mae_meV_per_A"] for r in log), 2)
    assert all(curve[m] == value for m, value in earlier.items() if m != end)
