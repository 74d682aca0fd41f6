"""Langevin MD far hotter than the training data: does the model hold the nuclei apart?

From frame 0 of an rMD17 test file, Langevin dynamics at ``--temperature-K`` (default
2000 K, 0.25 fs, friction 0.01/fs) for ``--ps`` picoseconds, per model: the model as
trained, and for models with the ZBL repulsion also the network alone. Every
``--check-every`` steps the closest pair is measured in units of its covalent bond
length; a pair closer than 0.6 of it counts as a collapse, which ends that run.
Molecules may dissociate at this temperature; that is chemistry, not a failure.

    python benchmarks/hot_md.py runs/x/best.pt rmd17-ethanol-fast --molecule ethanol --ps 2

``--quick``: the first member of the shipped ethanol committee (it has ZBL) unless models
are named, on a stand-in of the rMD17 files (``quick.py``), 20 steps.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import quick
import torch
from ase.data import covalent_radii
from dimer_curves import without_repulsion

from se3t_calc import SE3TCalculator, load_model
from se3t_calc.dynamics import make_dynamics
from se3t_calc.pretrained import committee_files
from se3t_calc.train.data import read_structures

RMD17 = quick.RMD17
COLLAPSE = 0.6  # closest pair / covalent bond length


def closest_ratio(atoms) -> float:
    """Smallest pair distance over the sum of covalent radii (a molecule: all pairs)."""
    d = atoms.get_all_distances()
    radii = covalent_radii[atoms.numbers]
    ratio = d / (radii[:, None] + radii[None, :])
    np.fill_diagonal(ratio, np.inf)
    return float(ratio.min())


def run(model, label: str, args: argparse.Namespace, seed: int) -> dict:
    atoms = read_structures(args.data / f"rmd17_{args.molecule}_test_01.npz")[0].atoms
    atoms.calc = SE3TCalculator(model, device="cpu", dtype="float64")
    start_energy = atoms.get_potential_energy()
    dyn = make_dynamics(
        atoms, "langevin", timestep_fs=args.timestep_fs, temperature_K=args.temperature_K, seed=seed
    )
    steps = round(args.ps * 1000 / args.timestep_fs)
    closest, lowest, collapsed_at = np.inf, np.inf, None
    for _ in dyn.irun(steps):
        if dyn.nsteps % args.check_every:
            continue
        ratio = closest_ratio(atoms)
        closest, lowest = min(closest, ratio), min(lowest, atoms.get_potential_energy())
        if ratio < COLLAPSE or not np.isfinite(atoms.get_potential_energy()):
            collapsed_at = dyn.nsteps
            break
    return {
        "model": label,
        "seed": seed,
        "drop": lowest - start_energy,
        "ps": dyn.nsteps * args.timestep_fs / 1000,
        "closest": closest,
        "lowest": lowest,
        "collapsed_at_ps": None if collapsed_at is None else collapsed_at * args.timestep_fs / 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="*", help="model names or files (at least one)")
    parser.add_argument("--molecule", default="ethanol")
    parser.add_argument("--data", type=Path, default=RMD17, help="folder with the rMD17 npz files")
    parser.add_argument("--temperature-K", type=float, default=2000.0)
    parser.add_argument("--timestep-fs", type=float, default=0.25)
    parser.add_argument("--ps", type=float, default=2.0)
    parser.add_argument("--check-every", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=1, help="runs per model, seeds 0, 1, ...")
    parser.add_argument("--threads", type=int, default=1)
    quick.add_options(parser, out=False)
    args = parser.parse_args()
    if args.quick:
        args.models = args.models or [str(committee_files("rmd17-ethanol-committee")[0])]
        args.ps, args.seeds, args.data = 20 * args.timestep_fs / 1000, 1, quick.rmd17([args.molecule])
    elif not args.models:
        parser.error("the following arguments are required: models")
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.models:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = load_model(name)
        for seed in range(args.seeds):
            rows.append(run(model, name, args, seed))
            if model.repulsion is not None:
                rows.append(run(without_repulsion(model), f"{name} (network alone)", args, seed))
    print(f"Langevin {args.temperature_K:.0f} K, {args.timestep_fs} fs, {args.molecule}, float64")
    print(
        "| model | seed | simulated (ps) | closest pair / bond length | lowest E - E_start (eV) | collapse |"
    )
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        fate = "none" if r["collapsed_at_ps"] is None else f"at {r['collapsed_at_ps']:.3f} ps"
        print(
            f"| {r['model']} | {r['seed']} | {r['ps']:.2f} | {r['closest']:.2f} | {r['drop']:+.1f} | {fate} |"
        )


if __name__ == "__main__":
    main()
