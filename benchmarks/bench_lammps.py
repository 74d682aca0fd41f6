"""LAMMPS over MPI ranks: ms per MD step and the ghost-atom overhead against box size.

Diamond silicon boxes of ``n x n x n`` cubic cells (8 n^3 atoms) run ``examples/lammps/in.si``
(NVE, 1 fs) with a se3t model through ``pair_style mliap unified``, on each rank count.
Printed per (atoms, ranks): LAMMPS' own loop time per step after one warm-up step, and
``Nghost / Nlocal`` per rank. ``--ghosts-only`` swaps the model for ``pair_style zero``
with the same communication cutoff, which gives the ghost counts of large boxes in
seconds.

Needs ``lmp`` with ML-IAP and its Python coupling and ``mpirun`` on PATH
(``examples/lammps/build_lammps.sh``, then ``source ~/.cache/se3t_calc/lammps/env.sh``).

    se3t export-lammps mlearn-si runs/si.pkl
    python benchmarks/bench_lammps.py runs/si.pkl --cells 6 12 --ranks 1 2 --steps 3
    python benchmarks/bench_lammps.py --cells 3 4 6 8 12 16 --ranks 1 2 --ghosts-only

``--quick``: one box of 3 x 3 x 3 cells on one rank, one timed step, with the given model or
``mlearn-si`` exported to ``--out``; skipped when ``lmp`` (with ML-IAP and PYTHON) or
``mpirun`` is not on PATH.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import site
import subprocess
import tempfile
from pathlib import Path

import quick

ROOT = Path(__file__).resolve().parents[1]
IN_SI = ROOT / "examples" / "lammps" / "in.si"
GHOSTS_ONLY = """units metal
atom_style atomic
boundary p p p
lattice diamond 5.469
region box block 0 {n} 0 {n} 0 {n}
create_box 1 box
create_atoms 1 box
mass 1 28.0855
pair_style zero 5.0
pair_coeff * *
comm_modify cutoff {comm}
run 0
"""


def run_lammps(workdir: Path, ranks: int, variables: dict[str, object], script: Path) -> str:
    """Run ``lmp`` on ``ranks`` MPI ranks; its screen output."""
    env = dict(
        os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1"
    )
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *site.getsitepackages()])
    argv = ["mpirun", "--oversubscribe", "-np", str(ranks), "lmp", "-in", str(script), "-log", "none"]
    for name, value in variables.items():
        argv += ["-var", name, str(value)]
    done = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"lmp failed on {ranks} rank(s): {(done.stdout + done.stderr)[-2000:]}")
    return done.stdout


def parse(output: str) -> dict[str, float]:
    """Atoms, steps and seconds of the last loop, and per-rank local and ghost atoms."""
    loops = re.findall(r"Loop time of ([\d.eE+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms", output)
    seconds, _, steps, atoms = loops[-1]
    nlocal = re.findall(r"Nlocal:\s+([\d.eE+-]+) ave", output)[-1]
    nghost = re.findall(r"Nghost:\s+([\d.eE+-]+) ave", output)[-1]
    return dict(
        seconds=float(seconds), steps=int(steps), atoms=int(atoms), nlocal=float(nlocal), nghost=float(nghost)
    )


def lammps_found() -> bool:
    """``lmp`` with ML-IAP and PYTHON, and ``mpirun``, on PATH."""
    if not (shutil.which("lmp") and shutil.which("mpirun")):
        return False
    help_text = subprocess.run(["lmp", "-h"], capture_output=True, text=True, timeout=60).stdout
    return "ML-IAP" in help_text and "PYTHON" in help_text


def quick_settings(args: argparse.Namespace) -> None:
    """``--quick``: one small box on one rank, one step; a model exported to ``--out`` if none is given."""
    if not lammps_found():
        quick.skip("lmp with ML-IAP and PYTHON, or mpirun, not found on PATH")
    args.cells, args.ranks, args.steps = [3], [1], 1
    if args.model is None and not args.ghosts_only:
        from se3t_calc.integrations.lammps import export_lammps

        args.model = quick.folder(args.out) / "si.pkl"
        export_lammps("mlearn-si", args.model)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", type=Path, nargs="?", help="file written by se3t export-lammps")
    parser.add_argument("--cells", nargs="+", type=int, default=[6, 12], help="cubic cells per box edge")
    parser.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    parser.add_argument("--comm", type=float, default=12.0, help="comm_modify cutoff, Å")
    parser.add_argument("--ghosts-only", action="store_true", help="pair_style zero: ghost counts only")
    quick.add_options(parser)
    args = parser.parse_args()
    if args.quick:
        quick_settings(args)
    if args.model is None and not args.ghosts_only:
        parser.error("give the exported model, or --ghosts-only")

    print("| atoms | ranks | ms per step | Nlocal per rank | Nghost per rank | ghost / local |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        zero = work / "in.zero"
        for n in args.cells:
            zero.write_text(GHOSTS_ONLY.format(n=n, comm=args.comm))
            for ranks in args.ranks:
                if args.ghosts_only:
                    result, ms = parse(run_lammps(work, ranks, {}, zero)), None
                else:
                    variables = dict(
                        model=args.model.resolve(), comm=args.comm, n=n, warmup=1, steps=args.steps
                    )
                    result = parse(run_lammps(work, ranks, variables, IN_SI))
                    ms = 1e3 * result["seconds"] / result["steps"]
                shown = "--" if ms is None else f"{ms:.0f}"
                local, ghost = result["nlocal"], result["nghost"]
                row = [result["atoms"], ranks, shown, f"{local:.0f}", f"{ghost:.0f}", f"{ghost / local:.2f}"]
                print("| " + " | ".join(map(str, row)) + " |", flush=True)


if __name__ == "__main__":
    main()
