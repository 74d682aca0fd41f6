"""Stability of a model in MD: Langevin at 300 K with every bond tracked, then NVE drift.

From one geometry (by default frame 0 of the rMD17 test file), Langevin dynamics
(0.5 fs, friction 0.01/fs) runs for ``--langevin-ps``; every ``--check-every`` steps the
positions and energy must be finite and every covalent bond of the starting geometry
(pairs closer than 1.2 x the sum of covalent radii) is compared with its starting length.
A bond longer than ``--broken`` times its starting length counts as broken. From the
final, equilibrated state VelocityVerlet runs for ``--nve-ps`` and the total-energy drift
(slope of a line fit) and RMS fluctuation are measured.

    python benchmarks/stability.py rmd17-ethanol --molecule ethanol --json stab.json
    python benchmarks/stability.py mlearn-si --start si64 --temperature-K 1000 --json stab.json

``--start si64`` starts from a 2x2x2 cubic diamond Si cell (a = 5.469 Å, PBE) with
periodic boundaries; its bonds are those inside the cell.

``--quick``: ``rmd17-ethanol`` on ethanol unless a model and a start are given, a stand-in
of the rMD17 files (``quick.py``), 20 Langevin and 20 NVE steps, the JSON in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import quick
from ase.build import bulk

from se3t_calc import SE3TCalculator
from se3t_calc.analysis import bond_lengths, covalent_bonds, energy_drift
from se3t_calc.dynamics import make_dynamics
from se3t_calc.train.data import read_structures

RMD17 = quick.RMD17


def langevin(atoms, args: argparse.Namespace) -> dict:
    """Langevin run with NaN and bond checks; returns its summary."""
    pairs = covalent_bonds(atoms)
    reference = bond_lengths(atoms, pairs)
    dyn = make_dynamics(
        atoms, "langevin", timestep_fs=args.timestep_fs, temperature_K=args.temperature_K, seed=args.seed
    )
    worst = {"max_ratio": 1.0, "min_ratio": 1.0, "temperatures": [], "first_failure": None}

    def check() -> None:
        energy = atoms.get_potential_energy()
        if not (np.isfinite(atoms.positions).all() and np.isfinite(energy)):
            raise FloatingPointError(f"non-finite positions or energy at step {dyn.nsteps}")
        ratios = bond_lengths(atoms, pairs) / reference
        worst["max_ratio"] = max(worst["max_ratio"], float(ratios.max()))
        worst["min_ratio"] = min(worst["min_ratio"], float(ratios.min()))
        worst["temperatures"].append(atoms.get_temperature())
        if ratios.max() > args.broken and worst["first_failure"] is None:
            worst["first_failure"] = dyn.nsteps * args.timestep_fs / 1000

    dyn.attach(check, interval=args.check_every)
    steps = round(1000 * args.langevin_ps / args.timestep_fs)
    start = time.perf_counter()
    dyn.run(steps)
    elapsed = time.perf_counter() - start
    temps = np.array(worst.pop("temperatures"))
    return {
        "ps": args.langevin_ps,
        "steps": steps,
        "bonds": len(pairs),
        "max_bond_ratio": round(worst["max_ratio"], 4),
        "min_bond_ratio": round(worst["min_ratio"], 4),
        "broken_bond_at_ps": worst["first_failure"],
        "nan": False,
        "mean_temperature_K": round(float(temps[len(temps) // 5 :].mean()), 1),
        "ms_per_step": round(1000 * elapsed / steps, 2),
    }


def nve(atoms, args: argparse.Namespace) -> dict:
    """VelocityVerlet from the current state; drift and fluctuation of the total energy."""
    dyn = make_dynamics(atoms, "nve", timestep_fs=args.timestep_fs, initial_temperature_K=0)
    samples: list[tuple[float, float]] = []

    def record() -> None:
        total = atoms.get_potential_energy() + atoms.get_kinetic_energy()
        if not np.isfinite(total):
            raise FloatingPointError(f"non-finite energy at NVE step {dyn.nsteps}")
        samples.append((dyn.nsteps * args.timestep_fs / 1000, total))

    dyn.attach(record, interval=args.check_every)
    steps = round(1000 * args.nve_ps / args.timestep_fs)
    dyn.run(steps)
    t, e = np.array(samples).T
    drift, rms = energy_drift(t, e, len(atoms))
    return {
        "ps": args.nve_ps,
        "steps": steps,
        "drift_meV_per_atom_per_ps": round(drift, 5),
        "rms_meV_per_atom": round(rms, 4),
        "max_excursion_meV_per_atom": round(float(1000 * np.ptp(e) / len(atoms)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="model file or shipped model name (required)")
    parser.add_argument("--molecule", help="rMD17 molecule whose test file gives the start")
    parser.add_argument("--start", choices=["si64"], help="start from a crystal instead of --molecule")
    parser.add_argument("--frame", type=int, default=0)
    parser.add_argument("--data", type=Path, default=RMD17, help="folder with the rMD17 npz files")
    parser.add_argument("--temperature-K", type=float, default=300.0)
    parser.add_argument("--timestep-fs", type=float, default=0.5)
    parser.add_argument("--langevin-ps", type=float, default=10.0)
    parser.add_argument("--nve-ps", type=float, default=5.0)
    parser.add_argument("--check-every", type=int, default=10, help="steps between checks / samples")
    parser.add_argument("--broken", type=float, default=1.5, help="bond-length ratio counted as broken")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the results here")
    quick.add_options(parser)
    args = parser.parse_args()
    if args.quick:
        args.model = args.model or "rmd17-ethanol"
        args.molecule = args.molecule or (None if args.start else "ethanol")
        if args.molecule:
            args.data = quick.rmd17([args.molecule])
        args.langevin_ps = args.nve_ps = 20 * args.timestep_fs / 1000
        args.check_every, args.json = 5, args.json or quick.folder(args.out) / "stability.json"
    elif args.model is None:
        parser.error("the following arguments are required: model")
    if (args.molecule is None) == (args.start is None):
        parser.error("give one of --molecule and --start")

    import torch

    torch.set_num_threads(args.threads)
    if args.start == "si64":
        atoms, origin = bulk("Si", "diamond", a=5.469, cubic=True).repeat(2), "diamond Si 2x2x2, a = 5.469 Å"
    else:
        atoms = read_structures(args.data / f"rmd17_{args.molecule}_test_01.npz")[args.frame].atoms.copy()
        origin = f"rmd17_{args.molecule}_test_01.npz frame {args.frame}"
    atoms.calc = SE3TCalculator(args.model, device="cpu", dtype=args.dtype, skin=0.5)
    result = {
        "model": args.model,
        "start": origin,
        "dtype": args.dtype,
        "timestep_fs": args.timestep_fs,
        "temperature_K": args.temperature_K,
        "threads": args.threads,
    }
    result["langevin"] = langevin(atoms, args)
    result["nve"] = nve(atoms, args)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
