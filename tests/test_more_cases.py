"""More cases a new user tried: each failed (lost data, said nothing, or gave a traceback) before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.io import read, write
from helpers import DATA, ethanol, small_model

from se3t_calc import save_model
from se3t_calc.cli import main

UNCHECKED = ["--max-temperature-K", "0", "--bond-factor", "0"]


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``se3t argv``, which must exit with a one-line error (no traceback); return it."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code not in (0, None)
    return str(exit_info.value.code) + capsys.readouterr().err


def _ethanol_data(path: Path, frames: int = 3) -> Path:
    write(path, read(DATA / "ethanol_rmd17.xyz", index=f":{frames}"))
    return path


def test_eval_parity_never_replaces_the_model_the_data_or_a_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("m.pt").write_bytes(b"the model")
    Path("old.png").write_bytes(b"a plot of mine")
    _ethanol_data(tmp_path / "d.xyz")
    message = _fails(["eval", "m.pt", "d.xyz", "--parity", "m.pt"], capsys)
    assert "PNG" in message  # a plot written over the model file before
    assert "PNG" in _fails(["eval", "m.pt", "d.xyz", "--parity", "plot.pdf"], capsys)
    assert "already exists" in _fails(["eval", "m.pt", "d.xyz", "--parity", "old.png"], capsys)
    Path("same.png").symlink_to("m.pt")
    assert "is the model" in _fails(["eval", "m.pt", "d.xyz", "--parity", "same.png", "--overwrite"], capsys)
    assert Path("m.pt").read_bytes() == b"the model"
    assert Path("old.png").read_bytes() == b"a plot of mine"


def test_an_unknown_device_is_named(tmp_path, monkeypatch, capsys):
    from se3t_calc.runtime import resolve_device

    with pytest.raises(ValueError, match="unknown device 'banana'"):
        resolve_device("banana")
    monkeypatch.chdir(tmp_path)
    Path("m.pt").write_bytes(b"the model")
    assert "unknown device 'banana'" in _fails(["eval", "m.pt", "d.xyz", "--device", "banana"], capsys)


def test_export_lammps_of_a_committee_says_to_export_a_member(tmp_path, capsys):
    folder = tmp_path / "committee"
    folder.mkdir()
    for k in range(2):
        (folder / f"member_{k}.pt").write_bytes(b"a member")
    message = _fails(["export-lammps", str(folder), str(tmp_path / "x.pkl")], capsys)
    assert "is a committee of 2 models" in message and "member_0.pt" in message
    assert not (tmp_path / "x.pkl").exists()


def test_a_committee_folder_inside_a_list_of_models_is_named(tmp_path):
    from se3t_calc import SE3TCalculator

    folder = tmp_path / "committee"
    folder.mkdir()
    (folder / "member_0.pt").write_bytes(b"a member")
    with pytest.raises(ValueError, match="is a committee"):  # was: "model file not found"
        SE3TCalculator([folder, folder / "member_0.pt"], device="cpu")


def test_models_lists_a_model_without_a_usable_card(tmp_path, monkeypatch, capsys):
    (tmp_path / "lonely.pt").write_bytes(b"x")
    (tmp_path / "partial.pt").write_bytes(b"x")
    (tmp_path / "partial.json").write_text('{"species": ["H"]}')
    monkeypatch.setenv("SE3T_MODELS_DIR", str(tmp_path))
    main(["models"])
    out = capsys.readouterr().out
    assert "lonely" in out and "no usable model card lonely.json" in out
    assert "partial" in out and "lacks 'test_metrics'" in out


def test_an_empty_models_dir_variable_is_not_the_working_folder(tmp_path, monkeypatch):
    from se3t_calc.pretrained import models_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SE3T_MODELS_DIR", "")
    assert models_dir() != Path("")


@pytest.mark.parametrize(
    ("name", "text"), [("bad.yaml", "train:\n  epochs: [1\n"), ("bad.toml", "epochs = = 1\n")]
)
def test_a_settings_file_with_a_syntax_error_is_named(tmp_path, capsys, name, text):
    (tmp_path / name).write_text(text)
    message = _fails(["train", str(tmp_path / name), "--output-dir", str(tmp_path / "run")], capsys)
    assert f"{name} is not valid" in message and "Traceback" not in message


def test_a_new_committee_run_does_not_silently_reuse_members(tmp_path):
    from se3t_calc.train.committee import train_committee
    from se3t_calc.train.config import TrainConfig

    (tmp_path / "member_0.pt").write_bytes(b"a member of an earlier run")
    config = TrainConfig(train_file=str(_ethanol_data(tmp_path / "d.xyz")), output_dir=str(tmp_path))
    with pytest.raises(ValueError, match="--resume"):
        train_committee(config, None, members=2)
    assert (tmp_path / "member_0.pt").read_bytes() == b"a member of an earlier run"


def test_validation_data_with_an_element_the_training_data_lacks_is_refused(tmp_path):
    from se3t_calc.train.config import TrainConfig
    from se3t_calc.train.prepare import prepare

    config = TrainConfig(
        train_file=str(_ethanol_data(tmp_path / "d.xyz")),
        valid_file=str(DATA / "si_mlearn.xyz"),
        output_dir=str(tmp_path),
    )
    with pytest.raises(ValueError, match=r"holds \['Si'\], which no structure of the training data"):
        prepare(config, None, 4.0)


def test_md_saves_and_logs_the_last_step_between_intervals(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    save_model(small_model(num_layers=1).float(), "m.pt")
    write("start.xyz", ethanol())
    argv = ["md", "m.pt", "start.xyz", "--steps", "3", "--log-every", "2", "--temperature-K", "50"]
    main([*argv, "--out", "t.extxyz", "--device", "cpu", "--threads", "1", *UNCHECKED])
    steps = [
        int(line.split()[0]) for line in capsys.readouterr().out.splitlines() if line[:8].strip().isdigit()
    ]
    assert steps == [0, 2, 3]
    assert len(read("t.extxyz", index=":")) == 3  # the last state was lost before


def test_two_atoms_at_one_position_are_named():
    from ase import Atoms

    from se3t_calc.graph import check_atoms

    atoms = ethanol()
    atoms += Atoms("H", positions=[atoms.positions[3]])
    with pytest.raises(ValueError, match=r"atoms \[3, 9\] are at the same position"):
        check_atoms(atoms)


def test_a_periodic_cell_denser_than_matter_is_refused_before_the_neighbour_list():
    import numpy as np
    from ase import Atoms

    from se3t_calc.graph import check_atoms

    rng = np.random.default_rng(0)  # before: a neighbour list of 2e8 pairs, then out of memory
    atoms = Atoms("H10000", positions=5.0 * rng.random((10000, 3)), cell=[5.0] * 3, pbc=True)
    with pytest.raises(ValueError, match="80 atoms per Å\\^3"):
        check_atoms(atoms)
    check_atoms(Atoms("Si8", scaled_positions=rng.random((8, 3)), cell=[5.43] * 3, pbc=True))


def test_the_training_file_as_validation_data_is_refused(tmp_path):
    from se3t_calc.train.config import TrainConfig
    from se3t_calc.train.prepare import prepare

    data = str(_ethanol_data(tmp_path / "d.xyz", frames=6))
    same = f"{tmp_path}/./d.xyz"  # another spelling of the same file
    config = TrainConfig(train_file=data, output_dir=str(tmp_path), valid_file=same)
    with pytest.raises(ValueError, match="is the --train-file"):  # scored as held out before
        prepare(config, None, 4.0)


def test_init_from_a_committee_says_to_start_from_a_member(tmp_path, capsys):
    folder = tmp_path / "committee"
    folder.mkdir()
    for k in range(2):
        (folder / f"member_{k}.pt").write_bytes(b"a member")
    data = str(_ethanol_data(tmp_path / "d.xyz"))
    argv = ["train", "--train-file", data, "--init-from", str(folder), "--output-dir", str(tmp_path / "run")]
    message = _fails(argv, capsys)
    assert "is a committee" in message and "member_0.pt" in message  # was: "model file not found"


def test_worst_structure_columns_stay_apart_for_large_errors():
    from se3t_calc.train.metrics import format_worst

    row = {"index": 3, "atom": 4, "max_force_error_meV_per_A": 3.0e6, "forces_mae_meV_per_A": 3043.64}
    line = format_worst([{**row, "energy_error_meV": -4212532.99}]).splitlines()[1]
    assert line.split() == ["3", "4", "3000000.0", "3043.64", "-4212532.99"]


def test_a_symbolic_link_loop_as_an_output_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    save_model(small_model(), "m.pt")
    write("ethanol.xyz", ethanol())
    Path("loopA").symlink_to("loopB")
    Path("loopB").symlink_to("loopA")
    message = _fails(
        ["md", "m.pt", "ethanol.xyz", "--steps", "2", "--out", "t.extxyz", "--log", "loopA"], capsys
    )
    assert "loopA cannot be resolved" in message and "symbolic link loop" in message


def test_a_folder_given_as_the_structure_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    save_model(small_model(), "m.pt")
    Path("adir").mkdir()
    assert "adir is a folder, not a structure file" in _fails(["md", "m.pt", "adir", "--steps", "2"], capsys)


def test_model_files_that_are_not_say_what_they_are(tmp_path):
    from se3t_calc import load_model
    from se3t_calc.checkpoint import ModelFileError

    (tmp_path / "notes.pt").write_text("not a model\n")
    with pytest.raises(ModelFileError, match=r"notes\.pt is not a model file \(not a file written by torch"):
        load_model(tmp_path / "notes.pt")
    with pytest.raises(FileNotFoundError, match=r"rmd17-ethanol-committee is a committee .* SE3TCalculator"):
        load_model("rmd17-ethanol-committee")


def test_per_atom_energies_alone_are_named_with_the_fix(tmp_path):

    from se3t_calc.train.data import read_structures

    frames = read(DATA / "ethanol_rmd17.xyz", index=":3")
    for atoms in frames:
        forces = atoms.get_forces()
        atoms.calc = None
        atoms.arrays["energies"] = np.full(len(atoms), -1.0)
        atoms.arrays["forces"] = forces
    write(tmp_path / "peratom.extxyz", frames, format="extxyz")
    with pytest.raises(ValueError, match=r"no energy under key 'energy'.*sum the per-atom energies"):
        read_structures(tmp_path / "peratom.extxyz")
    with pytest.raises(ValueError, match=r"'energies' is not one number \(it holds 9 values, one per atom"):
        read_structures(tmp_path / "peratom.extxyz", energy_key="energies")
