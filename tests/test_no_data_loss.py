"""No command replaces what a user made (an input, a model, a run) without ``--overwrite``, and
every output path is checked before anything is written or deleted."""

import json
import shutil
from pathlib import Path

import pytest
from ase.io import read
from helpers import DATA, small_model

from se3t_calc import save_model
from se3t_calc.checkpoint import read_checkpoint
from se3t_calc.cli import main

ETHANOL = Path(__file__).parents[1] / "examples" / "structures" / "ethanol.xyz"
# random weights heat a molecule by hundreds of K per step: the blow-up checks would stop it
UNCHECKED = ["--max-temperature-K", "0", "--bond-factor", "0"]
EARLIER = "earlier result\n"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A working folder with a small model ``m.pt`` and the input structure ``ethanol.xyz``."""
    save_model(small_model(), tmp_path / "m.pt")
    shutil.copy(ETHANOL, tmp_path / "ethanol.xyz")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _md(*flags):
    main(
        [
            "md",
            "m.pt",
            "ethanol.xyz",
            "--steps",
            "2",
            "--log-every",
            "1",
            "--device",
            "cpu",
            *UNCHECKED,
            *flags,
        ]
    )


def _relax(*flags):
    main(["relax", "m.pt", "ethanol.xyz", "--steps", "2", "--device", "cpu", *flags])


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--out", "ethanol.xyz"], r"ethanol\.xyz is the input structure; choose another --out"),
        (["--out", "./ethanol.xyz"], r"ethanol\.xyz is the input structure; choose another --out"),
        (["--log", "m.pt"], r"m\.pt is the model; choose another --log"),
    ],
)
def test_md_never_writes_over_its_inputs(folder, flags, message, overwrite):
    before = (folder / "ethanol.xyz").read_bytes(), (folder / "m.pt").read_bytes()
    with pytest.raises(SystemExit, match=message):
        _md(*flags, *overwrite)
    assert ((folder / "ethanol.xyz").read_bytes(), (folder / "m.pt").read_bytes()) == before


def test_md_replaces_an_existing_trajectory_only_with_overwrite(folder):
    (folder / "old.extxyz").write_text(EARLIER)
    with pytest.raises(
        SystemExit,
        match=r"old\.extxyz already exists; pass --overwrite to replace it, or choose another --out",
    ):
        _md("--out", "old.extxyz")
    assert (folder / "old.extxyz").read_text() == EARLIER
    _md("--out", "old.extxyz", "--overwrite")
    assert len(read(folder / "old.extxyz", index=":")) == 3  # steps 0, 1, 2


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_md_missing_log_folder_is_reported_before_anything_is_touched(folder, overwrite):
    (folder / "old.extxyz").write_text(EARLIER)
    with pytest.raises(
        SystemExit, match=r"--log missing_dir/x\.log: the folder missing_dir does not exist; create it"
    ):
        _md("--out", "old.extxyz", "--log", "missing_dir/x.log", *overwrite)
    assert (folder / "old.extxyz").read_text() == EARLIER
    assert not (folder / "missing_dir").exists()


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_md_out_and_log_on_one_file_are_refused(folder, overwrite):
    with pytest.raises(
        SystemExit, match=r"same\.xyz is named by both --out and --log; choose different files"
    ):
        _md("--out", "same.xyz", "--log", "same.xyz", *overwrite)
    assert not (folder / "same.xyz").exists()


def test_relax_out_and_path_on_one_file_are_refused(folder):
    with pytest.raises(
        SystemExit, match=r"r\.extxyz is named by both --out and --path; choose different files"
    ):
        _relax("--out", "r.extxyz", "--path", "r.extxyz")
    assert not (folder / "r.extxyz").exists()


def test_relax_writes_the_format_its_out_suffix_names(folder):
    with pytest.raises(SystemExit, match=r"--out relaxed\.foo: the extension names no structure format"):
        _relax("--out", "relaxed.foo")
    assert not (folder / "relax_path.extxyz").exists()  # refused before the relaxation
    with pytest.raises(SystemExit) as stop:
        _relax("--out", "relaxed.cif")
    assert stop.value.code == 1  # not converged in 2 steps, both files written
    assert (folder / "relaxed.cif").read_text().startswith("data_")
    relaxed = read(folder / "relaxed.cif")
    assert relaxed.get_chemical_formula() == read(folder / "ethanol.xyz").get_chemical_formula()
    assert len(read(folder / "relax_path.extxyz", index=":")) == 3


def test_init_replaces_a_model_only_with_overwrite(folder):
    trained = (folder / "m.pt").read_bytes()
    with pytest.raises(
        SystemExit,
        match=r"m\.pt already exists; pass --overwrite to replace it, or choose another model file",
    ):
        main(["init", "m.pt", "--species", "H"])
    assert (folder / "m.pt").read_bytes() == trained
    with pytest.raises(SystemExit, match=r"model file sub/m\.pt: the folder sub does not exist"):
        main(["init", "sub/m.pt", "--species", "H"])
    main(["init", "m.pt", "--species", "H", "--overwrite"])
    assert read_checkpoint(folder / "m.pt")["config"]["species"] == ["H"]


def test_export_lammps_replaces_a_file_only_with_overwrite_and_never_the_model(folder):
    (folder / "lmp.pkl").write_text("an earlier export\n")
    with pytest.raises(SystemExit, match=r"lmp\.pkl already exists; pass --overwrite"):
        main(["export-lammps", "m.pt", "lmp.pkl"])
    assert (folder / "lmp.pkl").read_text() == "an earlier export\n"
    with pytest.raises(SystemExit, match=r"m\.pt is the model"):
        main(["export-lammps", "m.pt", "m.pt", "--overwrite"])
    main(["export-lammps", "m.pt", "lmp.pkl", "--overwrite"])
    assert (folder / "lmp.pkl").read_bytes() != b"an earlier export\n"


def _train(run, *flags):
    args = ["train", "--train-file", str(DATA / "ethanol_rmd17.xyz"), "--train-size", "10"]
    args += ["--valid-size", "5", "--batch-size", "5", "--epochs", "1", "--device", "cpu", "--threads", "1"]
    args += ["--output-dir", str(run), "--hidden-irreps", "8x0e+4x1o", "--num-heads", "2"]
    args += ["--head-channels", "2", "--lmax", "2", "--r-cut", "4.0", "--radial-hidden", "16"]
    main([*args, *flags])


@pytest.mark.parametrize("resume", [[], ["--resume"]])
def test_train_keeps_results_that_cannot_be_resumed_unless_told(tmp_path, resume):
    run = tmp_path / "run"
    run.mkdir()
    save_model(small_model(), run / "best.pt")
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 7}) + "\n")
    before = (run / "best.pt").read_bytes(), (run / "metrics.jsonl").read_text()
    with pytest.raises(
        SystemExit,
        match=r"run holds best\.pt and metrics\.jsonl of an earlier run but no last\.pt .*--overwrite",
    ):
        _train(run, *resume)
    assert ((run / "best.pt").read_bytes(), (run / "metrics.jsonl").read_text()) == before
    if not resume:  # told: a new run replaces them
        _train(run, "--overwrite")
        assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1]
        assert (run / "best.pt").read_bytes() != before[0]


def test_relax_refuses_a_format_that_cannot_hold_the_structure_before_running(folder):
    """POSCAR needs a cell: a molecule is refused before the relaxation, and the file kept."""
    (folder / "r.vasp").write_text(EARLIER)
    with pytest.raises(SystemExit, match=r"--out r\.vasp: ASE cannot write this structure as vasp"):
        _relax("--out", "r.vasp", "--overwrite")
    assert (folder / "r.vasp").read_text() == EARLIER
    assert not (folder / "relax_path.extxyz").exists()  # refused before the relaxation


@pytest.mark.parametrize("resume", [[], ["--resume"]])
def test_a_run_of_the_other_kind_is_refused_in_a_training_folder(folder, resume):
    """A committee into a single model's run folder, or one model into a committee's, would
    leave two kinds of model in one folder (and a loader picking one of them)."""
    train = ["train", "--train-file", str(DATA / "ethanol_rmd17.xyz"), "--device", "cpu", *resume]
    (folder / "single").mkdir()
    (folder / "single" / "last.pt").write_text(EARLIER)
    with pytest.raises(SystemExit, match=r"single holds a single-model run \(last\.pt\), not a committee"):
        main([*train, "--output-dir", "single", "--committee", "2"])
    (folder / "team" / "member_0").mkdir(parents=True)
    with pytest.raises(SystemExit, match=r"team holds a committee \(member_0\): resume it with"):
        main([*train, "--output-dir", "team"])
    assert (folder / "single" / "last.pt").read_text() == EARLIER


def test_a_folder_with_a_committee_and_a_single_model_is_not_loaded(folder):
    from se3t_calc import SE3TCalculator

    (folder / "run").mkdir()
    shutil.copy(folder / "m.pt", folder / "run" / "best.pt")
    with pytest.raises(FileNotFoundError, match=r"training run folder; give its model, run/best\.pt"):
        SE3TCalculator("run")
    shutil.copy(folder / "m.pt", folder / "run" / "member_0.pt")
    with pytest.raises(FileNotFoundError, match=r"holds both a committee \(member_\*\.pt\) and a single"):
        SE3TCalculator("run")
