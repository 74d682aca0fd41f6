"""Training runs that must stop or go on as told: resume with a longer budget, changed
settings refused, one run per folder, stale saves, too few structures."""

import json
import subprocess
import sys

import pytest
from helpers import DATA
from test_train import SMALL, _config

from se3t_calc.checkpoint import read_checkpoint
from se3t_calc.train import train


def _cli_train(tmp_path, *flags):
    from se3t_calc.cli import main

    args = ["train", "--train-file", str(DATA / "ethanol_rmd17.xyz"), "--train-size", "20"]
    args += ["--valid-size", "10", "--batch-size", "5", "--device", "cpu", "--threads", "1"]
    args += ["--output-dir", str(tmp_path / "run"), "--hidden-irreps", "8x0e+4x1o", "--num-heads", "2"]
    args += ["--head-channels", "2", "--lmax", "2", "--r-cut", "4.0", "--radial-hidden", "16"]
    main([*args, *flags] if "--resume" not in flags else ["train", *flags])


def _epochs(tmp_path):
    return [json.loads(x)["epoch"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]


def test_resume_extends_a_finished_run_and_refuses_frozen_settings(tmp_path, capsys):
    _cli_train(tmp_path, "--epochs", "2")
    out = capsys.readouterr().out
    assert "valid MAE E" in out and "epoch limit of 2 reached" in out
    assert f"best model: epoch {2 if out.count('  *') == 2 else 1} of 2" in out
    assert f"saved as {tmp_path / 'run' / 'best.pt'}" in out
    lr_before = read_checkpoint(tmp_path / "run" / "last.pt")["metadata"]["training"]["metrics"]["lr"]

    resume = ["--output-dir", str(tmp_path / "run"), "--resume"]
    _cli_train(tmp_path, *resume, "--epochs", "4")
    out = capsys.readouterr().out
    assert "stored settings kept, except: epochs: 2 -> 4" in out
    assert "cosine schedule stretched over the new budget" in out
    assert _epochs(tmp_path) == [1, 2, 3, 4]
    log = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert log[2]["lr"] > lr_before  # the schedule now runs over 4 epochs
    stored = read_checkpoint(tmp_path / "run" / "last.pt")
    assert stored["metadata"]["training"]["train_config"]["epochs"] == 4
    assert stored["config"]["hidden_irreps"] == "8x0e+4x1o"  # model settings kept, not the defaults

    _cli_train(tmp_path, *resume)  # nothing left to do
    assert "epoch limit of 4 reached" in capsys.readouterr().out and _epochs(tmp_path) == [1, 2, 3, 4]
    for flags, message in [
        (["--lr", "0.02"], r"cannot resume with changed lr \(0.01 -> 0.02\)"),
        (["--r-cut", "3.5"], r"cannot resume with changed r_cut \(4.0 -> 3.5\)"),
        (["--train-file", str(DATA / "aspirin_rmd17.xyz")], "cannot resume with changed train_file"),
        (["--seed", "3", "--batch-size", "2"], "changed batch_size .*, seed"),
    ]:
        with pytest.raises(SystemExit, match=message):
            _cli_train(tmp_path, *resume, *flags)


def test_second_run_into_a_folder_in_use_is_refused_and_stale_saves_removed(tmp_path, capsys):
    from se3t_calc.train.lock import run_folder_lock

    config = _config(tmp_path, "busy", epochs=1, train_size=20, valid_size=5)
    with run_folder_lock(config.output_dir), pytest.raises(ValueError, match=r"busy is in use by another"):
        train(config, SMALL)
    code = "import os, sys\nfrom se3t_calc.train.lock import run_folder_lock\n"
    code += "with run_folder_lock(sys.argv[1]):\n    os._exit(9)\n"  # dies holding the lock
    assert subprocess.run([sys.executable, "-c", code, config.output_dir], timeout=120).returncode == 9
    stale = tmp_path / "busy" / ".last.pt.x1y2.tmp"
    stale.write_bytes(b"")  # what a kill during torch.save leaves
    train(config, SMALL)
    assert not stale.exists() and f"removed {stale}, left by an interrupted save" in capsys.readouterr().out


def test_too_few_structures_for_validation_or_the_recipe_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"valid_size=0.05 of the 10 structures .* is no structure"):
        train(_config(tmp_path, "small", train_size=None, valid_size=0.05, train_file=_ten(tmp_path)), SMALL)
    assert not (tmp_path / "small" / "last.pt").exists()
    with pytest.raises(ValueError, match=r"has 10 structures: .*need 1000.*lower --train-size"):
        train(_config(tmp_path, "recipe", train_size=950, valid_size=50, train_file=_ten(tmp_path)), SMALL)


def _ten(tmp_path):
    from ase.io import read, write

    path = tmp_path / "ten.xyz"
    write(path, read(DATA / "ethanol_rmd17.xyz", index=":10"), format="extxyz")
    return str(path)
