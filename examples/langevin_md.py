"""Langevin MD of a molecule at 300 K with a shipped model.

Writes a trajectory (extxyz, one frame every ``--every`` steps), a log of step, time,
energies and temperature, and a PNG of temperature and energies against time; prints
the mean temperature after the first fifth of the run and the speed.

    python examples/langevin_md.py                      # ethanol, 2 ps, about a minute
    python examples/langevin_md.py --model rmd17-aspirin --structure examples/structures/aspirin.xyz
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from ase.io import read, write

from se3t_calc import SE3TCalculator
from se3t_calc.dynamics import make_dynamics

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="rmd17-ethanol", help="shipped model name or model file")
    parser.add_argument("--structure", default=str(HERE / "structures" / "ethanol.xyz"))
    parser.add_argument("--temperature-K", type=float, default=300.0)
    parser.add_argument("--timestep-fs", type=float, default=0.5)
    parser.add_argument("--friction", type=float, default=0.01, help="1/fs")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--every", type=int, default=20, help="steps between log lines and frames")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--out", type=Path, default=Path("runs/langevin_md"), help="output folder")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    atoms = read(args.structure)
    atoms.calc = SE3TCalculator(args.model, dtype=args.dtype, skin=0.5)
    dyn = make_dynamics(
        atoms,
        "langevin",
        timestep_fs=args.timestep_fs,
        temperature_K=args.temperature_K,
        friction_per_fs=args.friction,
    )
    trajectory = args.out / "trajectory.extxyz"
    trajectory.unlink(missing_ok=True)
    rows = []

    def record() -> None:
        epot, ekin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
        rows.append((dyn.nsteps * args.timestep_fs / 1000, epot, ekin, atoms.get_temperature()))
        write(trajectory, atoms, append=True)

    dyn.attach(record, interval=args.every)
    start = time.perf_counter()
    dyn.run(args.steps)
    elapsed = time.perf_counter() - start

    t, epot, ekin, temp = np.array(rows).T
    header = "time_ps Epot_eV Ekin_eV Etot_eV T_K"
    np.savetxt(args.out / "md.log", np.column_stack([t, epot, ekin, epot + ekin, temp]), header=header)
    plot(t, epot, ekin, temp, args.temperature_K, args.out / "langevin_md.png")
    settled = temp[len(temp) // 5 :]
    print(f"{len(atoms)} atoms, {args.steps} steps of {args.timestep_fs} fs ({t[-1]:.2f} ps)")
    print(
        f"mean temperature after {t[len(temp) // 5]:.2f} ps: {settled.mean():.0f} K "
        f"(target {args.temperature_K:.0f} K), standard deviation {settled.std():.0f} K"
    )
    print(f"{1000 * elapsed / args.steps:.2f} ms/step ({args.dtype}, {torch.get_num_threads()} CPU threads)")
    print(f"wrote {trajectory}, {args.out / 'md.log'}, {args.out / 'langevin_md.png'}")


def plot(t, epot, ekin, temp, target_K, path: Path) -> None:
    """Temperature (with its target) and energies against time."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    top.plot(t, temp, lw=0.8)
    top.axhline(target_K, color="k", ls="--", lw=0.8)
    top.set_ylabel("temperature (K)")
    etot = epot + ekin
    bottom.plot(t, epot - epot[0], lw=0.8, label="potential − initial")
    bottom.plot(t, ekin, lw=0.8, label="kinetic")
    bottom.plot(t, etot - etot[0], lw=0.8, label="total − initial")
    bottom.set_xlabel("time (ps)")
    bottom.set_ylabel("energy (eV)")
    bottom.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
