"""A wheel carries the shipped models: built, installed into a new environment, used by name.

The new virtual environment gets se3t_calc only from the wheel; its dependencies (torch,
e3nn, ase, vesin) are borrowed from the interpreter running the tests through a ``.pth``
file, so that the test needs no download of PyTorch.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only what is installed
    run = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def _build_wheel(tmp_path: Path) -> Path:
    """Wheel of a copy of the sources (the checkout stays free of build folders)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source)
    for name in ("se3t_calc", "models"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    isolation = ["--no-build-isolation"] if _setuptools_is_recent() else []  # else pip fetches setuptools
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        *isolation,
        "-w",
        tmp_path / "dist",
        ".",
        cwd=source,
    )
    (wheel,) = (tmp_path / "dist").glob("se3t_calc-*.whl")
    return wheel


def _setuptools_is_recent() -> bool:
    if importlib.util.find_spec("setuptools") is None:
        return False
    import setuptools

    return int(setuptools.__version__.split(".")[0]) >= 77


def _fresh_environment(tmp_path: Path) -> Path:
    """A virtual environment without se3t_calc whose other packages are the running interpreter's."""
    env = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", env, cwd=tmp_path)
    python = env / "bin" / "python"
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path)
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *site.getsitepackages()}
    Path(purelib.stdout.strip(), "borrowed.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


@pytest.mark.slow
def test_installed_wheel_loads_shipped_models_by_name(tmp_path):
    wheel = _build_wheel(tmp_path)
    listed = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "se3t_calc").rglob("*.py")}
    assert modules <= listed, sorted(modules - listed)  # every subpackage is listed in pyproject.toml
    committees = {
        f"se3t_calc/shipped_models/{p.relative_to(ROOT / 'models').as_posix()}"
        for p in (ROOT / "models").glob("*/member_*.pt")
    }
    assert committees and committees <= listed, sorted(committees - listed)
    python = _fresh_environment(tmp_path)
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        wheel,
        cwd=tmp_path,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import se3t_calc, pathlib\n"
        "from ase.build import molecule\n"
        "from se3t_calc import SE3TCalculator\n"
        f"assert pathlib.Path(se3t_calc.__file__).is_relative_to({str(tmp_path / 'venv')!r})\n"
        "atoms = molecule('CH3CH2OH')\n"
        "atoms.calc = SE3TCalculator('rmd17-ethanol', device='cpu')\n"
        "print('energy', atoms.get_potential_energy())\n"
    )
    assert "energy -" in _run(python, "-c", code, cwd=elsewhere).stdout
    listing = _run(python.parent / "se3t", "models", cwd=elsewhere).stdout
    assert "rmd17-ethanol" in listing and "rmd17-aspirin" in listing
    assert "rmd17-ethanol-committee" in listing
