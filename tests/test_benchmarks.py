"""The benchmarks run: each in its quick mode (tiny sizes, stand-in data), as CI runs them.

``python benchmarks/NAME.py --quick`` takes the benchmark's own code path on a few
structures and steps (``benchmarks/quick.py``); the slow tests run every one from the
repository root, their files (and temporary folders) in pytest's ``tmp_path``.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
# scripts, not helper modules (systems.py, quick.py): the files with a command line
SCRIPTS = sorted(
    path.relative_to(BENCHMARKS).as_posix()
    for path in (*BENCHMARKS.glob("*.py"), *BENCHMARKS.glob("peers/*.py"))
    if 'if __name__ == "__main__":' in path.read_text()
)
# where a benchmark writes its files when told; the others write none, or only temporary ones
OUTPUT_ARGS = {
    "bench_lammps.py": ["--out", "{tmp}"],
    "bench_peers.py": ["--json", "{tmp}/peers.json"],
    "calibration.py": ["--out", "{tmp}"],
    "dimer_curves.py": ["--out", "{tmp}"],
    "learn_vs_random.py": ["--out", "{tmp}"],
    "learning_curves.py": ["--out", "{tmp}"],
    "nve_drift.py": ["--out", "{tmp}"],
    "publish_model.py": ["--out", "{tmp}"],
    "speed_accuracy.py": ["--out", "{tmp}"],
    "stability.py": ["--out", "{tmp}"],
    "study.py": ["--out-dir", "{tmp}"],
    "uncertainty_scan.py": ["--out", "{tmp}"],
}


def test_the_benchmarks_are_found():
    assert {"bench_calculator.py", "nve_drift.py", "peers/worker.py"} <= set(SCRIPTS)
    assert not {"systems.py", "quick.py"} & set(SCRIPTS)
    assert set(OUTPUT_ARGS) <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_benchmark_has_a_quick_mode(script):
    assert "--quick" in (BENCHMARKS / script).read_text(), f"benchmarks/{script} has no --quick (quick.py)"


@pytest.mark.parametrize("path", sorted(BENCHMARKS.rglob("*.py")), ids=lambda p: p.name)
def test_no_benchmark_edits_sys_path_or_reads_test_fixtures(path):
    text = path.read_text()
    assert not re.search(r"sys\.path\.(insert|append)|sys\.path\s*\+?=", text), f"{path.name} edits sys.path"
    assert not re.search(r"tests/data|[\"']tests[\"']", text), f"{path.name} reads files under tests/"


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_a_benchmark_runs_in_quick_mode(script, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    extra = [arg.format(tmp=out) for arg in OUTPUT_ARGS.get(script, [])]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, f"benchmarks/{script}", "--quick", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"benchmarks/{script} --quick exited {done.returncode}:\n{done.stderr[-3000:]}"
    )


@pytest.mark.parametrize("script", ["learning_curves.py", "speed_accuracy.py"])
def test_plotting_benchmarks_refuse_a_png_name_that_is_not_png(script, tmp_path):
    """``--png`` pointed at a JSON file (a timings input, say) is refused, the file untouched."""
    target = tmp_path / "timings.json"
    target.write_text("{}")
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", "--png", str(target)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "ending in .png" in result.stderr
    assert target.read_text() == "{}"


@pytest.mark.slow
def test_peer_worker_keeps_freed_memory_when_asked():
    """``--allocator retain`` (every worker of ``bench_peers.py --allocator retain``) applies the
    glibc settings before the model is built and still answers the protocol."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "peers" / "worker.py"), "--quick", "--allocator", "retain"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    ready, timed = (json.loads(line) for line in result.stdout.splitlines())
    assert ready["ready"] and len(timed["ms"]) == 2
