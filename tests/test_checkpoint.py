import numpy as np
import pytest
import torch
from helpers import as_format_3, calc, energy_forces, ethanol, small_model

from se3t_calc import SE3TCalculator, load_model, save_model
from se3t_calc.checkpoint import (
    FORMAT_VERSION,
    LegacyModelWarning,
    ModelFileError,
    atomic_save,
    model_from_dict,
    read_checkpoint,
)
from se3t_calc.checksums import run_checksum, weights_checksum


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


def _saved(tmp_path):
    path = tmp_path / "model.pt"
    save_model(small_model(), path)
    return path


def test_empty_and_truncated_files_are_named(tmp_path):
    path = _saved(tmp_path)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ModelFileError, match=r"model\.pt cannot be read as a model file: truncated"):
        load_model(path)
    path.write_bytes(b"")
    with pytest.raises(ModelFileError, match=r"model\.pt is empty \(0 bytes\)"):
        load_model(path)


def test_flipped_weight_byte_fails_the_checksum(tmp_path):
    path = _saved(tmp_path)
    data = torch.load(path, weights_only=True)
    weight = data["state_dict"]["readout.mlp.layer0.weight"]
    weight.view(-1).view(torch.uint8)[5] ^= 1  # one bit of one float, as a disk error would do
    torch.save(data, path)
    with pytest.raises(ModelFileError, match="do not match the checksum"):
        load_model(path)


def test_pickled_payload_is_not_a_model_file(tmp_path):
    from fractions import Fraction

    path = tmp_path / "pickled.pt"
    torch.save({"format_version": FORMAT_VERSION, "payload": Fraction(1, 3)}, path)
    with pytest.raises(ModelFileError, match="not an se3t_calc model file; do not load it with weights_only"):
        load_model(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format_version=0), "model format 0, which no se3t_calc release wrote"),
        (lambda d: d.update(format_version="1"), "format_version must be an integer, got '1'"),
        (lambda d: d.pop("metadata"), r"model file lacks \['metadata'\]"),
        (lambda d: d["metadata"].update(species=["H", "C"]), r"metadata species \['H', 'C'\] differ"),
    ],
)
def test_bad_format_fields_are_named(tmp_path, edit, message):
    path = _saved(tmp_path)
    data = torch.load(path, weights_only=True)
    edit(data)
    torch.save(data, path)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_weights_of_other_species_are_named(tmp_path):
    path = _saved(tmp_path)
    data = torch.load(path, weights_only=True)
    data["config"]["species"] = data["metadata"]["species"] = ["H", "C"]
    data["checksum"] = weights_checksum(data["config"], data["state_dict"])
    torch.save(data, path)
    with pytest.raises(ModelFileError, match=r"model\.pt: weights do not fit the model configuration"):
        load_model(path)


def _legacy_file(tmp_path, version: int):
    """A file as format ``version`` wrote it: before format 3 a model without the isolated-atom
    limit and ZBL, before format 4 radial MLPs with key weights for every path."""
    path = tmp_path / "model.pt"
    save_model(small_model(isolated_atom_limit=version >= 3, zbl=version >= 3), path)
    data = torch.load(path, weights_only=True)
    old = {**as_format_3(data), "format_version": version}
    if version < 3:
        old["config"] = {k: v for k, v in data["config"].items() if k not in ("isolated_atom_limit", "zbl")}
        old["checksum"] = weights_checksum(old["config"], old["state_dict"])
    if version == 1:
        del old["checksum"]
    torch.save(old, path)
    return path, data


@pytest.mark.parametrize("version", [1, 2, 3])
def test_older_formats_are_migrated_with_identical_weights(tmp_path, version):
    path, data = _legacy_file(tmp_path, version)
    assert torch.load(path, weights_only=True)["state_dict"].keys() == data["state_dict"].keys()
    migrated = read_checkpoint(path)
    assert migrated["format_version"] == FORMAT_VERSION == 4
    assert migrated["config"]["isolated_atom_limit"] is (version >= 3)
    assert migrated["config"]["zbl"] is (version >= 3)
    assert migrated["checksum"] == data["checksum"]
    for key, value in data["state_dict"].items():
        assert torch.equal(migrated["state_dict"][key], value), key


def test_format_3_radial_weights_shrink_to_the_paths_that_are_read(tmp_path):
    """Format 3 stored key weights for every path; the migration keeps only those the keys
    read, and the model computes the same energy and forces as the one saved."""
    path, data = _legacy_file(tmp_path, 3)
    stored = torch.load(path, weights_only=True)["state_dict"]
    wider = [k for k in stored if stored[k].shape != data["state_dict"][k].shape]
    assert wider and all(".radial." in k for k in wider)
    model = model_from_dict(data).double()
    migrated = load_model(path, dtype=torch.float64)
    atoms = ethanol()
    expected = energy_forces(atoms, calc(model))
    got = energy_forces(atoms, calc(migrated))
    assert got[0] == expected[0]
    np.testing.assert_array_equal(got[1], expected[1])


def test_format_2_with_a_broken_checksum_is_refused_before_migrating(tmp_path):
    path, _ = _legacy_file(tmp_path, 2)
    data = torch.load(path, weights_only=True)
    data["config"]["r_cut"] = 3.0  # edited after saving
    torch.save(data, path)
    with pytest.raises(ModelFileError, match="do not match the checksum"):
        read_checkpoint(path)


def test_a_model_without_the_isolated_atom_limit_says_so_when_loaded(tmp_path):
    path, _ = _legacy_file(tmp_path, 2)
    with pytest.warns(LegacyModelWarning, match="isolated-atom limit"):
        load_model(path)


def _training_checkpoint(tmp_path, *, edited: bool):
    """A format-3 training checkpoint (a model, its averaged copy, no optimiser moments)."""
    path = tmp_path / "last.pt"
    save_model(small_model(), path)
    data = torch.load(path, weights_only=True)
    data["metadata"]["training"] = {"train_config": {"lr": 0.01}}
    training = {"model": data["state_dict"], "ema": {"model": data["state_dict"], "num_updates": 3}}
    data.update(split={"train": [0, 1], "valid": [2]}, training_state=training)
    data["training_state"]["optimizer"] = {"state": {}, "param_groups": []}
    data["run_checksum"] = run_checksum(data)
    old = as_format_3(data)
    if edited:
        old["metadata"]["training"]["train_config"]["lr"] = 1.0  # after the checksum was taken
    torch.save(old, path)
    return path


@pytest.mark.parametrize("edited", [False, True])
def test_migration_renews_the_run_checksum_only_of_an_intact_training_checkpoint(tmp_path, edited):
    migrated = read_checkpoint(_training_checkpoint(tmp_path, edited=edited))
    assert migrated["training_state"]["model"].keys() == migrated["state_dict"].keys()
    for key, value in migrated["state_dict"].items():
        assert torch.equal(migrated["training_state"]["ema"]["model"][key], value)
    assert (migrated["run_checksum"] == run_checksum(migrated)) is not edited
