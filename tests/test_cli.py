import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples" / "structures"
# random weights heat a molecule by hundreds of K per step: the blow-up checks would (rightly) stop it
UNCHECKED = ["--max-temperature-K", "0", "--bond-factor", "0"]


def _se3t(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "se3t_calc.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_init_then_md_prints_steps(tmp_path):
    made = _se3t("init", "m.pt", "--species", "H", "C", "O", "--r-cut", "4.0", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    run = _se3t(
        "md",
        "m.pt",
        str(EXAMPLES / "ethanol.xyz"),
        "--steps",
        "10",
        "--log-every",
        "5",
        "--temperature-K",
        "50",
        "--out",
        "md.traj",
        "--device",
        "cpu",
        "--threads",
        "1",
        *UNCHECKED,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    lines = [line.split() for line in run.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [int(line[0]) for line in lines[:3]] == [0, 5, 10]
    assert (tmp_path / "md.traj").stat().st_size > 0


def test_md_missing_files_and_unknown_elements(tmp_path):
    missing = _se3t("md", "nope.pt", str(EXAMPLES / "ethanol.xyz"), cwd=tmp_path)
    assert missing.returncode != 0 and "model file not found: nope.pt" in missing.stderr
    assert _se3t("init", "h.pt", "--species", "H", cwd=tmp_path).returncode == 0
    wrong = _se3t(
        "md", "h.pt", str(EXAMPLES / "ethanol.xyz"), "--steps", "1", "--device", "cpu", cwd=tmp_path
    )
    assert wrong.returncode != 0 and "['C', 'O'] not supported" in wrong.stderr


def test_relax_converges_and_writes_structure_and_path(tmp_path):
    import numpy as np
    from ase.io import read

    assert _se3t("init", "m.pt", "--species", "H", "C", "O", "--r-cut", "4.0", cwd=tmp_path).returncode == 0
    run = _se3t(
        "relax",
        "m.pt",
        str(EXAMPLES / "ethanol.xyz"),
        "--fmax",
        "0.05",
        "--device",
        "cpu",
        "--threads",
        "1",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "converged" in run.stdout
    relaxed = read(tmp_path / "relaxed.extxyz")
    assert np.linalg.norm(relaxed.get_forces(), axis=1).max() < 0.05
    path = read(tmp_path / "relax_path.extxyz", index=":")
    assert len(path) >= 2


def test_relax_cell_needs_a_periodic_structure(tmp_path):
    assert _se3t("init", "m.pt", "--species", "H", "C", "O", cwd=tmp_path).returncode == 0
    run = _se3t("relax", "m.pt", str(EXAMPLES / "ethanol.xyz"), "--cell", "--device", "cpu", cwd=tmp_path)
    assert run.returncode != 0 and "--cell needs a 3-D periodic structure" in run.stderr


def test_relax_cell_moves_the_cell_of_a_crystal(tmp_path):
    import numpy as np
    from ase.build import bulk
    from ase.io import read, write

    crystal = bulk("Si", "diamond", a=5.6, cubic=True)
    crystal.rattle(0.05, seed=1)
    write(tmp_path / "si.extxyz", crystal)
    assert _se3t("init", "si.pt", "--species", "Si", "--r-cut", "4.0", cwd=tmp_path).returncode == 0
    run = _se3t("relax", "si.pt", "si.extxyz", "--cell", "--steps", "3", "--device", "cpu", cwd=tmp_path)
    assert run.returncode in (0, 1), run.stderr  # 1: not converged within 3 steps
    path = read(tmp_path / "relax_path.extxyz", index=":")
    assert len(path) >= 2
    assert not np.allclose(path[0].cell.array, path[-1].cell.array)


def test_md_nose_hoover_writes_extxyz_and_log(tmp_path):
    from ase.io import read

    assert _se3t("init", "m.pt", "--species", "H", "C", "O", "--r-cut", "4.0", cwd=tmp_path).returncode == 0
    args = ["md", "m.pt", str(EXAMPLES / "ethanol.xyz"), "--ensemble", "nose-hoover", "--steps", "6"]
    args += ["--log-every", "3", "--out", "md.extxyz", "--log", "md.log", "--device", "cpu", *UNCHECKED]
    run = _se3t(*args, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    frames = read(tmp_path / "md.extxyz", index=":")
    assert len(frames) == 3  # steps 0, 3, 6
    log = (tmp_path / "md.log").read_text().splitlines()
    assert log[0].split()[:2] == ["step", "time/ps"] and [int(x.split()[0]) for x in log[1:]] == [0, 3, 6]


def test_md_with_a_shipped_model_stops_cleanly_on_ctrl_c(tmp_path):
    import signal
    import time

    from ase.io import read

    args = ["md", "rmd17-ethanol", str(EXAMPLES / "ethanol.xyz"), "--steps", "100000", "--log-every", "2"]
    args += ["--out", "md.extxyz", "--device", "cpu"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "se3t_calc.cli", *args], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    out = tmp_path / "md.extxyz"
    deadline = time.monotonic() + 120
    while (out.read_text().count("Properties=") if out.exists() else 0) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    assert "interrupted after" in stdout
    frames = read(out, index=":")
    assert len(frames) >= 3 and all(len(f) == 9 for f in frames)


def test_md_bad_option_is_named(tmp_path):
    run = _se3t("md", "rmd17-ethanol", str(EXAMPLES / "ethanol.xyz"), "--ensemble", "npt", cwd=tmp_path)
    assert run.returncode == 2 and "invalid choice: 'npt'" in run.stderr


def test_relax_refuses_to_overwrite_earlier_results(tmp_path, monkeypatch, capsys):
    import pytest
    from helpers import small_model

    from se3t_calc import save_model
    from se3t_calc.cli import main

    save_model(small_model(), tmp_path / "m.pt")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "relaxed.extxyz").write_text("earlier result\n")
    args = ["relax", "m.pt", str(EXAMPLES / "ethanol.xyz"), "--steps", "2", "--device", "cpu"]
    with pytest.raises(SystemExit, match=r"relaxed\.extxyz already exists; pass --overwrite"):
        main(args)
    assert (tmp_path / "relaxed.extxyz").read_text() == "earlier result\n"
    with pytest.raises(SystemExit):  # 1: not converged in 2 steps
        main([*args, "--overwrite"])
    out = capsys.readouterr().out
    assert f"wrote the relaxed structure to {tmp_path / 'relaxed.extxyz'}" in out
    assert f"every step to {tmp_path / 'relax_path.extxyz'}" in out


def test_version_and_help_texts_show_defaults(capsys):
    import pytest

    from se3t_calc import __version__
    from se3t_calc.cli import main

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"se3t_calc {__version__}"
    expected = {
        "md": ["(default: float32)", "(default: 0.5)", "(default: 1.5)", "blow-up checks"],
        "relax": ["(default: float64)", "(default: relaxed.extxyz)"],
        "eval": ["(default: float64)", "--threads", "energy profile"],
        "models": ["trained models shipped with se3t_calc"],
        "train": [
            "(default: 0.01)",
            "(default: 0.05)",
            "data loading and the final test",
            "--num-layers NUM_LAYERS Number of attention layers. (default: 2)",
            "(default: a random part of train_file) --test-file",
        ],
    }
    for command, phrases in expected.items():
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for phrase in phrases:
            assert phrase in text, (command, phrase)
        assert not re.search(r"\(default: [^)]*\) \(default:", text), command  # one per option


def test_md_compile_mode_and_skin_options():
    from se3t_calc.cli import build_parser

    parse = build_parser().parse_args
    args = parse(["md", "model.pt", "s.xyz"])
    assert args.compile is False and args.skin is None
    assert parse(["md", "model.pt", "s.xyz", "--compile"]).compile == "default"
    args = parse(["md", "model.pt", "s.xyz", "--compile", "reduce-overhead", "--skin", "0.3"])
    assert args.compile == "reduce-overhead" and args.skin == 0.3


def test_every_model_flag_is_described():
    import dataclasses

    from se3t_calc.cli_train import documented_parameters
    from se3t_calc.config import ModelConfig

    described = documented_parameters(ModelConfig)
    for f in dataclasses.fields(ModelConfig):
        assert len(described.get(f.name, "")) > 10, f.name
    assert described["r_cut"] == "Cutoff radius in Å; every interaction vanishes smoothly there."


def test_nve_summary_gives_the_drift_and_the_largest_change_per_atom():
    from se3t_calc.cli_md import energy_conservation

    # 0.09 eV/ps over 9 atoms, and the middle step 18 meV off (which leaves the slope alone)
    totals = [(0.01 * k, -100.0 + 0.09 * 0.01 * k + (0.018 if k == 5 else 0.0)) for k in range(11)]
    line = energy_conservation(totals, atoms=9)
    drift = float(re.search(r"drift ([-+.\d]+)", line).group(1))
    assert abs(drift - 10.0) < 1e-6 and "change from the start 2.5000 meV/atom over 0.100 ps" in line


def test_the_command_parser_starts_without_pytorch():
    """``se3t --help`` and a mistyped flag answer in a fraction of a second: building the parser
    (every subcommand, their settings classes) imports neither PyTorch nor e3nn."""
    code = (
        "import sys\nfrom se3t_calc.cli import build_parser\nbuild_parser()\n"
        "print(sorted(m for m in ('torch', 'e3nn', 'vesin') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


@pytest.mark.parametrize("package", ["se3t_calc", "se3t_calc.train"])
def test_lazy_names_are_not_shadowed_by_submodules(package):
    """A public name imported on first use must not also name a submodule: once the submodule
    is imported, ``from package import name`` would give the module instead."""
    import importlib
    import pkgutil

    module = importlib.import_module(package)
    submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
    assert not set(module.__all__) & submodules
    for name in submodules:
        importlib.import_module(f"{package}.{name}")
    assert all(
        not isinstance(getattr(module, name), type(module)) for name in module.__all__ if name[0] != "_"
    )
