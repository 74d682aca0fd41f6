"""Energy conservation: VelocityVerlet (NVE) from a state equilibrated by Langevin MD.

Equilibrates at 300 K with Langevin dynamics, then runs NVE and prints the drift of the
total energy (slope of a straight-line fit, meV/atom/ps) and its RMS fluctuation about
that line (meV/atom); plots the total-energy deviation and the potential and kinetic
energies against time.

    python examples/nve_md.py                           # ethanol, 0.5 + 5 ps, float64, a few minutes
    python examples/nve_md.py --dtype float32 --skin 0  # compare precision and neighbour lists
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from ase import units
from ase.io import read

from se3t_calc import SE3TCalculator
from se3t_calc.analysis import energy_drift
from se3t_calc.dynamics import make_dynamics

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="rmd17-ethanol", help="shipped model name or model file")
    parser.add_argument("--structure", default=str(HERE / "structures" / "ethanol.xyz"))
    parser.add_argument("--temperature-K", type=float, default=300.0)
    parser.add_argument("--timestep-fs", type=float, default=0.5)
    parser.add_argument("--equilibrate-ps", type=float, default=0.5)
    parser.add_argument("--nve-ps", type=float, default=5.0)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--skin", type=float, default=0.5, help="Verlet skin, Å (0: rebuild every step)")
    parser.add_argument("--every", type=int, default=10, help="steps between energy samples")
    parser.add_argument("--out", type=Path, default=Path("runs/nve_md"), help="output folder")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    atoms = read(args.structure)
    atoms.calc = SE3TCalculator(args.model, dtype=args.dtype, skin=args.skin)
    steps = lambda ps: round(1000 * ps / args.timestep_fs)  # noqa: E731
    make_dynamics(atoms, "langevin", timestep_fs=args.timestep_fs, temperature_K=args.temperature_K).run(
        steps(args.equilibrate_ps)
    )
    dyn = make_dynamics(atoms, "nve", timestep_fs=args.timestep_fs, initial_temperature_K=0)
    rows = []
    dyn.attach(
        lambda: rows.append(
            (dyn.nsteps * args.timestep_fs / 1000, atoms.get_potential_energy(), atoms.get_kinetic_energy())
        ),
        interval=args.every,
    )
    start = time.perf_counter()
    dyn.run(steps(args.nve_ps))
    elapsed = time.perf_counter() - start

    t, epot, ekin = np.array(rows).T
    drift, rms = energy_drift(t, epot + ekin, len(atoms))
    settings = f"{args.dtype}, skin {args.skin} Å"
    print(f"{len(atoms)} atoms, NVE {args.nve_ps} ps at {args.timestep_fs} fs, {settings}")
    print(f"mean temperature {np.mean(ekin) / (1.5 * len(atoms) * units.kB):.0f} K")
    print(f"total-energy drift {drift:+.4f} meV/atom/ps, RMS fluctuation {rms:.4f} meV/atom")
    print(f"{1000 * elapsed / steps(args.nve_ps):.2f} ms/step")
    plot(t, epot, ekin, len(atoms), args.out / "nve_md.png")
    print(f"wrote {args.out / 'nve_md.png'}")


def plot(t, epot, ekin, num_atoms: int, path: Path) -> None:
    """Total-energy deviation (meV/atom) above; potential and kinetic energy (eV) below."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    etot = epot + ekin
    top.plot(t, 1000 * (etot - etot[0]) / num_atoms, lw=0.8)
    top.set_ylabel("Etot − Etot(0) (meV/atom)")
    bottom.plot(t, epot - epot.mean(), lw=0.8, label="potential − mean")
    bottom.plot(t, ekin - ekin.mean(), lw=0.8, label="kinetic − mean")
    bottom.set_xlabel("time (ps)")
    bottom.set_ylabel("energy (eV)")
    bottom.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
