"""Command line: ``se3t init | md``, thin over the library."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from se3t_calc.config import INVARIANTS, ModelConfig


def _init(args: argparse.Namespace) -> None:
    import torch

    from se3t_calc import SE3TModel, save_model

    torch.manual_seed(args.seed)
    config = ModelConfig(species=args.species, r_cut=args.r_cut, invariant=args.invariant)
    model = SE3TModel(config)
    save_model(model, args.output, metadata={"training": "untrained (random weights)"})
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote untrained model {args.output} ({params} parameters, species {list(config.species)})")


def _md(args: argparse.Namespace) -> None:
    from ase import Atoms, units
    from ase.io import read
    from ase.md.langevin import Langevin
    from ase.md.md import MolecularDynamics
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.md.verlet import VelocityVerlet

    from se3t_calc import SE3TCalculator

    for label, path in (("model", args.model), ("structure", args.structure)):
        if not Path(path).is_file():
            sys.exit(f"se3t md: {label} file not found: {path}")
    atoms = read(args.structure, index=0)
    assert isinstance(atoms, Atoms)
    atoms.calc = SE3TCalculator(args.model, device=args.device, dtype=args.dtype, skin=args.skin)
    rng = np.random.default_rng(args.seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=args.temperature_K, rng=rng)
    Stationary(atoms)
    timestep = args.timestep_fs * units.fs
    dyn: MolecularDynamics
    if args.ensemble == "langevin":
        friction = args.friction / units.fs
        dyn = Langevin(
            atoms, timestep, temperature_K=args.temperature_K, friction=friction, fixcm=False, rng=rng
        )
    else:
        dyn = VelocityVerlet(atoms, timestep)
    if args.out:
        from ase.io import Trajectory

        dyn.attach(Trajectory(args.out, "w", atoms), interval=args.log_every)
    print(f"{'step':>8} {'time/ps':>9} {'Epot/eV':>14} {'Ekin/eV':>10} {'Etot/eV':>14} {'T/K':>8}")
    start = time.perf_counter()

    def report() -> None:
        epot, ekin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
        t_ps = dyn.nsteps * args.timestep_fs / 1000
        temp = atoms.get_temperature()
        print(
            f"{dyn.nsteps:8d} {t_ps:9.4f} {epot:14.5f} {ekin:10.5f} {epot + ekin:14.5f} {temp:8.1f}",
            flush=True,
        )

    dyn.attach(report, interval=args.log_every)
    dyn.run(args.steps)
    elapsed = time.perf_counter() - start
    print(f"{args.steps} steps in {elapsed:.1f} s ({1000 * elapsed / max(args.steps, 1):.2f} ms/step)")


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the ``se3t`` command."""
    parser = argparse.ArgumentParser(prog="se3t", description="se3t_calc command line")
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="write an untrained model file")
    init.add_argument("output", help="model file to write (.pt)")
    init.add_argument("--species", nargs="+", required=True, help="chemical symbols, e.g. H C O")
    init.add_argument("--r-cut", type=float, default=5.0, help="cutoff radius in Å")
    init.add_argument("--invariant", choices=INVARIANTS, default="mixed")
    init.add_argument("--seed", type=int, default=0)
    init.set_defaults(func=_init)

    md = sub.add_parser("md", help="molecular dynamics of a structure with a model")
    md.add_argument("model", help="model file (.pt)")
    md.add_argument("structure", help="any file ase.io.read understands; the first frame is used")
    md.add_argument("--ensemble", choices=["langevin", "nve"], default="langevin")
    md.add_argument("--temperature-K", type=float, default=300.0)
    md.add_argument("--timestep-fs", type=float, default=0.5)
    md.add_argument("--friction", type=float, default=0.01, help="Langevin friction in 1/fs")
    md.add_argument("--steps", type=int, default=1000)
    md.add_argument("--log-every", type=int, default=20, help="print (and save) every N steps")
    md.add_argument("--out", help="trajectory file to write (ASE .traj)")
    md.add_argument("--device", default="auto", help="auto, cpu or cuda")
    md.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    md.add_argument("--skin", type=float, default=0.0, help="Verlet skin of the neighbour list, Å")
    md.add_argument("--seed", type=int, default=0)
    md.set_defaults(func=_md)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``se3t`` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"se3t {args.command}: error: {err}")


if __name__ == "__main__":
    main()
