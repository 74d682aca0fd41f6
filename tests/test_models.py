"""The trained models shipped in models/: loadable, small, and as accurate as their cards say.

The fixtures ``data/rmd17_<molecule>_test_01_every20.extxyz`` are every 20th frame (50)
of rMD17 ``test_01`` in eV and Å. The force MAE over 50 frames scatters around the
1000-frame value by about 5 % (one standard error, from the spread of per-frame force
MAEs of the ethanol model), the energy MAE by about 13 %; the bands below are about
4 standard errors. ``data/mlearn_Si_test.json`` is the whole mlearn Si test split (25
cells), so a Si model's card is reproduced exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import DATA, check_e3_equivariance, finite_difference_forces, finite_difference_stress

from se3t_calc import SE3TCalculator
from se3t_calc.pretrained import available_models, committee_files, model_card, model_path
from se3t_calc.train.data import read_structures

SHIPPED = available_models()
COMMITTEES = [name for name in SHIPPED if committee_files(name)]
RMD17 = Path(__file__).resolve().parents[2] / "shared" / "data" / "rmd17"


def test_models_are_shipped():
    assert {"rmd17-ethanol", "rmd17-aspirin"} <= set(SHIPPED)


@pytest.mark.parametrize("name", COMMITTEES)
def test_shipped_committee_folder_and_card(name):
    files = committee_files(name)
    card = model_card(name)
    assert card["members"] == len(files) >= 2
    members = [torch.load(path, weights_only=True) for path in files]
    assert sum(path.stat().st_size for path in files) < 20 * 2**20
    assert all(m["config"] == card["config"] for m in members)
    for member, member_card in zip(members, card["member_cards"], strict=True):
        assert member_card["test_metrics"] == member["metadata"]["training"]["test_metrics"]
    assert card["test_metrics"]["structures"] == _test_set(name)[2]
    model = SE3TCalculator(name, device="cpu").model
    assert card["parameters"] == sum(p.numel() for p in model.parameters())
    assert card["training"]["recipe"] and card["training"]["commit"]


@pytest.mark.parametrize("name", [name for name in SHIPPED if name not in COMMITTEES])
def test_shipped_model_file_and_card(name):
    path = model_path(name)
    assert path.stat().st_size < 20 * 2**20
    data = torch.load(path, weights_only=True)
    card = model_card(name)
    assert card["config"] == data["config"]
    assert card["test_metrics"] == data["metadata"]["training"]["test_metrics"]
    assert card["test_metrics"]["structures"] == _test_set(name)[2]
    model = SE3TCalculator(name, device="cpu").model
    assert card["parameters"] == sum(p.numel() for p in model.parameters())
    for key in ("recipe", "commit", "hardware", "elapsed_at_best_min", "wall_time_min"):
        assert card["training"][key], key
    training = card["training"]
    assert training["wall_time_min"] == max(map(float, training["valid_forces_mae_vs_minutes"]))
    assert training["wall_time_min"] >= training["elapsed_at_best_min"]
    assert {"train_file", "test_file"} <= set(card["data"])


def _test_set(name: str) -> tuple[list, bool, int]:
    """The committed test structures of a shipped model, whether they are its whole test
    set, and the size of that whole set."""
    test_file = model_card(name)["data"]["test_file"]["path"]
    if test_file.startswith("rmd17_"):  # rmd17_<molecule>_test_01.npz: every 20th frame
        return read_structures(DATA / test_file.replace(".npz", "_every20.extxyz")), False, 1000
    frames = read_structures(DATA / f"mlearn_{test_file}")  # mlearn: the whole split
    return frames, True, len(frames)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_errors_on_test_frames_match_its_card(name):
    frames, whole, _ = _test_set(name)
    e_err, f_err = _errors(SE3TCalculator(name, device="cpu", dtype="float64"), frames)
    card = model_card(name)["test_metrics"]
    if whole:
        assert np.abs(f_err).mean() == pytest.approx(card["forces_mae_meV_per_A"], rel=1e-6)
        assert np.abs(e_err).mean() == pytest.approx(card["energy_mae_meV"], rel=1e-6)
    else:
        assert abs(np.abs(f_err).mean() / card["forces_mae_meV_per_A"] - 1) < 0.2
        assert abs(np.abs(e_err).mean() / card["energy_mae_meV"] - 1) < 0.5


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_card_reproduced_on_all_test_frames(name):
    card = model_card(name)
    test_file = RMD17 / card["data"]["test_file"]["path"]
    if _test_set(name)[1]:
        pytest.skip("the fast test already uses the whole test set")
    if not test_file.is_file():
        pytest.skip(f"{test_file} not available")
    e_err, f_err = _errors(SE3TCalculator(name, device="cpu", dtype="float64"), read_structures(test_file))
    assert np.abs(f_err).mean() == pytest.approx(card["test_metrics"]["forces_mae_meV_per_A"], rel=1e-6)
    assert np.abs(e_err).mean() == pytest.approx(card["test_metrics"]["energy_mae_meV"], rel=1e-6)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_is_equivariant_with_exact_forces(name):
    """The trained weights keep the physics: E(3) symmetry, forces (and stress for a
    periodic cell) equal to finite differences of the energy, float64, on the smallest
    of its committed test structures."""
    atoms = min((frame.atoms for frame in _test_set(name)[0]), key=len).copy()
    calculator = SE3TCalculator(name, device="cpu", dtype="float64")
    check_e3_equivariance(atoms, calculator)
    atoms.calc = calculator
    np.testing.assert_allclose(atoms.get_forces(), finite_difference_forces(atoms, calculator), atol=1e-6)
    if atoms.pbc.any():
        np.testing.assert_allclose(atoms.get_stress(), finite_difference_stress(atoms, calculator), atol=1e-7)


def test_model_found_by_name_in_models_dir(tmp_path, monkeypatch):
    (tmp_path / "water-test.pt").write_bytes(b"")
    monkeypatch.setenv("SE3T_MODELS_DIR", str(tmp_path))
    assert model_path("water-test") == tmp_path / "water-test.pt"
    assert available_models() == ["water-test"]
    with pytest.raises(FileNotFoundError, match=r"nope.*shipped models: water-test"):
        model_path("nope")
    with pytest.raises(FileNotFoundError, match="model file not found"):
        model_path(tmp_path / "sub" / "water-test")


def _errors(calculator: SE3TCalculator, frames) -> tuple[np.ndarray, np.ndarray]:
    """Energy errors (meV) and force-component errors (meV/Å) over ``frames``."""
    e_err, f_err = [], []
    for frame in frames:
        atoms = frame.atoms.copy()
        atoms.calc = calculator
        e_err.append(1000 * (atoms.get_potential_energy() - frame.energy))
        f_err.append(1000 * (atoms.get_forces() - frame.forces).ravel())
    return np.array(e_err), np.concatenate(f_err)


def test_se3t_models_lists_names_and_errors(capsys):
    from se3t_calc.cli import main

    main(["models"])
    out = capsys.readouterr().out
    for name in SHIPPED:
        test = model_card(name)["test_metrics"]
        assert f"{test['forces_mae_meV_per_A']:.2f}" in out
        assert f"{test['energy_mae_meV_per_atom']:.2f}" in out
        assert f"\n{name} " in out  # the longest name stays apart from its species column


def test_no_shipped_models_is_an_error_saying_where_they_come_from(tmp_path, monkeypatch):
    from se3t_calc.cli import main

    monkeypatch.setenv("SE3T_MODELS_DIR", str(tmp_path))
    with pytest.raises(SystemExit, match=r"no shipped models found in .*pip install \. or a wheel"):
        main(["models"])
    with pytest.raises(FileNotFoundError, match="set SE3T_MODELS_DIR to a folder"):
        model_path("rmd17-ethanol")
