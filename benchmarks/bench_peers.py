"""se3t_calc against MACE, NequIP and TorchMD-Net, timed in one run, interleaved.

Each potential runs in its own process (``peers/worker.py``), in its own virtual
environment (made by ``bash benchmarks/peers/setup.sh``); se3t runs in this one.
For every (mode, system, threads, dtype) all workers are started one after the
other, then asked in turn for ``calls / rounds`` timed units, round after round
(A B C A B C ...), so that a change in machine load reaches all of them alike.
Idle workers block on input and use no CPU. Printed: median ms per unit, its
ratio to MACE, and the first call (compilation, caches) in ms, as a markdown table.
``--allocator retain`` has every worker, ours and the peers', keep freed memory for reuse
(:func:`se3t_calc.retain_freed_memory`, as the ``se3t`` command does) instead of glibc's
default of mapping large blocks fresh for every call.

Usage::

    python benchmarks/bench_peers.py --systems aspirin water-192 --threads 1 2 \\
        --dtypes float32 float64 --modes call md --calls 25 --rounds 5

``--quick``: aspirin, 1 thread, float32, both modes, 2 units in each of 2 rounds, for se3t
(not compiled) and the peers whose virtual environment exists; the others are skipped
with a note.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import quick
from peers.shipped import SHIPPED

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# model name -> (virtual environment under --peers-dir, or None for this interpreter)
MODELS = {
    **dict.fromkeys(SHIPPED),
    "se3t-compiled": None,
    "se3t-skin": None,
    "se3t-paper-size": None,
    "se3t-accurate-compiled": None,
    "mace": "mace",
    "nequip": "nequip",
    "torchmd-et": "torchmd",
    "tensornet": "torchmd",
}


class Worker:
    """A worker process holding one calculator on one structure."""

    def __init__(self, python: str, model: str, config: tuple[str, str, int, str], allocator: str):
        self.model = model
        mode, system, threads, dtype = config
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        cmd = [python, str(HERE / "peers" / "worker.py"), "--model", model, "--system", system]
        cmd += ["--dtype", dtype, "--threads", str(threads), "--mode", mode, "--allocator", allocator]
        self.log = tempfile.NamedTemporaryFile("w+", prefix=f"{model}-", suffix=".log")
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env, cwd=ROOT
        )
        try:
            self.ready = self._read()
        except RuntimeError:
            self.proc.kill()
            self.log.close()
            raise
        self.ms: list[float] = []

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self.log.seek(0)
            tail = self.log.read().strip().splitlines()[-3:]
            raise RuntimeError(f"{self.model} worker exited: {' | '.join(tail)}")
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            raise RuntimeError(f"{self.model} worker replied {line[:80]!r}") from None

    def run(self, n: int) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        self.ms += self._read()["ms"]

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait()
        self.log.close()


def python_for(model: str, peers_dir: Path) -> str:
    env = MODELS[model]
    return sys.executable if env is None else str(peers_dir / env / "bin" / "python")


def quick_settings(args: argparse.Namespace) -> None:
    """``--quick``: tiny sizes; se3t and the peers found under ``--peers-dir``."""
    args.systems, args.threads, args.dtypes, args.modes = ["aspirin"], [1], ["float32"], ["call", "md"]
    args.calls, args.rounds = 4, 2
    models = args.models or [m for m in MODELS if not m.startswith("se3t-")]  # not compiled: minutes
    args.models = []
    for model in models:
        python = python_for(model, args.peers_dir)
        if Path(python).is_file():
            args.models.append(model)
        else:
            print(f"skipped: {model}: {python} not found (bash benchmarks/peers/setup.sh makes it)")


def measure(args: argparse.Namespace, config: tuple[str, str, int, str]) -> list[tuple]:
    """Rows (model, median ms, first ms, units, parameters or failure) for one configuration
    ``(mode, system, threads, dtype)``."""
    workers, rows = [], []
    for model in args.models:
        try:
            workers.append(Worker(python_for(model, args.peers_dir), model, config, args.allocator))
        except (RuntimeError, OSError) as err:
            rows.append((model, None, None, 0, str(err)[:120]))
    try:
        per_round = -(-args.calls // args.rounds)
        for _ in range(args.rounds):
            for worker in list(workers):
                try:
                    worker.run(per_round)
                except RuntimeError as err:
                    workers.remove(worker)
                    worker.close()
                    rows.append((worker.model, None, None, 0, str(err)[:120]))
    finally:
        for worker in workers:
            worker.close()
    for w in workers:
        params = w.ready["info"]["params"]
        rows.append((w.model, statistics.median(w.ms), w.ready["first_ms"], len(w.ms), params))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models", nargs="+", choices=list(MODELS), help="default: se3t, se3t-compiled and the peers"
    )
    parser.add_argument("--systems", nargs="+", default=["aspirin", "water-192"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--modes", nargs="+", default=["call"], choices=["call", "md"])
    parser.add_argument("--calls", type=int, default=25, help="timed units per model and configuration")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds the calls are split into")
    default_peers = os.environ.get("SE3T_PEERS_DIR", ROOT / "runs" / "peers")
    parser.add_argument("--peers-dir", type=Path, default=Path(default_peers))
    parser.add_argument("--json", type=Path, help="also write the rows here (for speed_accuracy.py)")
    parser.add_argument(
        "--allocator",
        default="default",
        choices=["default", "retain"],
        help="retain: every worker keeps freed memory (se3t_calc.retain_freed_memory), peers too",
    )
    quick.add_options(parser, out=False)
    args = parser.parse_args()
    if args.quick:
        quick_settings(args)
    # by default se3t eager and compiled and the peers; the shipped models and other variants when named
    args.models = args.models or [m for m in MODELS if not m.startswith("se3t-") or m == "se3t-compiled"]
    print("| mode | system | threads | dtype | model | ms per unit | vs MACE | first ms | units | params |")
    print("| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    configs = itertools.product(args.modes, args.systems, args.threads, args.dtypes)
    records = []
    for mode, system, threads, dtype in configs:
        rows = measure(args, (mode, system, threads, dtype))
        mace = next((ms for model, ms, *_ in rows if model == "mace" and ms), None)
        for model, ms, first, count, note in rows:
            head = f"| {mode} | {system} | {threads} | {dtype} | {model} |"
            config = dict(mode=mode, system=system, threads=threads, dtype=dtype, allocator=args.allocator)
            records.append(dict(config, model=model, ms=ms))
            if ms is None:
                print(f"{head} failed: {note} | | | | |")
                continue
            ratio = f"{ms / mace:.2f}" if mace else ""
            print(f"{head} {ms:.1f} | {ratio} | {first:.0f} | {count} | {note} |")
        sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
