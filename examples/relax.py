"""Geometry optimisation: BFGS and FIRE on a distorted molecule, then a periodic cell.

1. The starting geometry is rattled (0.1 Å Gaussian displacements) and relaxed to
   ``--fmax`` with BFGS and with FIRE; both must reach the same minimum.
2. The molecule is put in a periodic cell (one molecule per cell, ``--cell-length`` Å)
   and positions and cell are relaxed together through ``ase.filters.FrechetCellFilter``.
   The shipped rMD17 models were fitted to isolated molecules, so the packing they
   predict is an extrapolation: this step shows the workflow (stress from the strain
   derivative, cell degrees of freedom), not a crystal structure. Use a model trained on
   periodic data with stress for real cells.

    python examples/relax.py
    python examples/relax.py --model rmd17-aspirin --structure examples/structures/aspirin.xyz
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from ase.filters import FrechetCellFilter
from ase.io import read, write
from ase.optimize import BFGS, FIRE

from se3t_calc import SE3TCalculator

HERE = Path(__file__).resolve().parent


def relax(atoms, optimizer, fmax: float, steps: int, trajectory: Path) -> tuple[bool, int, float]:
    """Run ``optimizer`` on ``atoms`` (or a filter); return converged, steps and seconds."""
    start = time.perf_counter()
    opt = optimizer(atoms, logfile=None, trajectory=str(trajectory))
    converged = opt.run(fmax=fmax, steps=steps)
    return bool(converged), opt.nsteps, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="rmd17-ethanol", help="shipped model name or model file")
    parser.add_argument("--structure", default=str(HERE / "structures" / "ethanol.xyz"))
    parser.add_argument("--fmax", type=float, default=0.01, help="eV/Å")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--cell-length", type=float, default=7.0, help="Å, periodic part")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/relax"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    calc = SE3TCalculator(args.model, dtype="float64")

    start = read(args.structure)
    start.rattle(stdev=0.1, rng=np.random.default_rng(args.seed))
    start.calc = calc
    print(
        f"{len(start)} atoms, rattled: E = {start.get_potential_energy():.4f} eV, "
        f"max force {np.linalg.norm(start.get_forces(), axis=1).max():.3f} eV/Å"
    )
    print(f"{'optimizer':<10}{'converged':>10}{'steps':>7}{'E / eV':>14}{'max |F| eV/Å':>14}{'s':>7}")
    minima = {}
    for name, optimizer in (("BFGS", BFGS), ("FIRE", FIRE)):
        atoms = start.copy()
        atoms.calc = calc
        ok, steps, seconds = relax(atoms, optimizer, args.fmax, args.steps, args.out / f"{name}.traj")
        fmax = np.linalg.norm(atoms.get_forces(), axis=1).max()
        minima[name] = atoms
        print(
            f"{name:<10}{ok!s:>10}{steps:>7}{atoms.get_potential_energy():>14.5f}{fmax:>14.4f}{seconds:>7.1f}"
        )
    a, b = minima["BFGS"], minima["FIRE"]
    rmsd = np.sqrt(
        np.mean(np.sum((a.positions - a.positions.mean(0) - b.positions + b.positions.mean(0)) ** 2, 1))
    )
    print(
        f"BFGS - FIRE: ΔE = {1000 * (a.get_potential_energy() - b.get_potential_energy()):+.3f} meV, "
        f"RMSD {rmsd:.4f} Å (translation removed)"
    )
    write(args.out / "relaxed.extxyz", a)

    crystal = a.copy()
    crystal.set_cell(np.eye(3) * args.cell_length)
    crystal.center()
    crystal.pbc = True
    crystal.calc = calc
    volume = crystal.get_volume()
    ok, steps, seconds = relax(
        FrechetCellFilter(crystal), BFGS, args.fmax, args.steps, args.out / "cell.traj"
    )
    stress = np.abs(crystal.get_stress()).max()
    print(
        f"\nperiodic cell, positions + cell (FrechetCellFilter, BFGS): converged {ok} in {steps} steps, "
        f"{seconds:.1f} s"
    )
    print(f"volume {volume:.1f} -> {crystal.get_volume():.1f} Å^3, max |stress| {1000 * stress:.3f} meV/Å^3")
    print(
        f"cell lengths {np.round(crystal.cell.lengths(), 3)} Å, angles {np.round(crystal.cell.angles(), 2)}"
    )
    write(args.out / "relaxed_cell.extxyz", crystal)
    print(f"wrote {args.out}/relaxed.extxyz, relaxed_cell.extxyz and the optimisation paths (*.traj)")


if __name__ == "__main__":
    main()
