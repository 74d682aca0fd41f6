import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[1] / "examples" / "structures"


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
