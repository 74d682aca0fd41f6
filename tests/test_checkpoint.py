import numpy as np
import pytest
import torch
from helpers import calc, energy_forces, ethanol, small_model

from se3t_calc import SE3TCalculator, load_model, save_model
from se3t_calc.checkpoint import FORMAT_VERSION, atomic_save


def test_round_trip_gives_identical_predictions(tmp_path):
    model = small_model(invariant="mixed")
    model.readout.atomic_energies.copy_(torch.tensor([-13.6, -1029.0, -2041.0]))
    path = tmp_path / "model.pt"
    save_model(model, path, metadata={"training": {"epochs": 3}})
    data = torch.load(path, weights_only=True)
    assert data["format_version"] == FORMAT_VERSION
    assert data["metadata"]["training"] == {"epochs": 3}
    assert data["metadata"]["species"] == ["H", "C", "O"]
    e0, f0 = energy_forces(ethanol(), calc(model))
    e1, f1 = energy_forces(ethanol(), SE3TCalculator(path, device="cpu", dtype="float64"))
    assert e1 == e0
    np.testing.assert_array_equal(f1, f0)
    assert load_model(path).metadata["training"] == {"epochs": 3}


def test_newer_format_refused(tmp_path):
    path = tmp_path / "model.pt"
    save_model(small_model(), path)
    data = torch.load(path, weights_only=True)
    data["format_version"] = FORMAT_VERSION + 1
    torch.save(data, path)
    with pytest.raises(ValueError, match="newer than this se3t_calc reads"):
        load_model(path)


def test_not_a_model_file_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not an se3t_calc model file"):
        load_model(path)


def test_failed_write_keeps_old_file(tmp_path):
    path = tmp_path / "model.pt"
    save_model(small_model(), path)
    before = path.read_bytes()

    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_save({"x": Unsaveable()}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
