"""Energy conservation in NVE: precision, skin, and the smooth cutoff against a hard one.

Part 1 -- a shipped model (default ``rmd17-ethanol``) from an rMD17 test geometry:
Langevin equilibration at 300 K, then VelocityVerlet (0.5 fs) for ``--nve-ps`` in float32
and float64, with the neighbour list rebuilt every step (skin 0) and reused (skin 0.5 Å).
The same seed gives each run the same start.

Part 2 -- a system whose atom pairs cross the cutoff all the time: rMD17 aspirin, whose
intramolecular distances spread over 1-9 Å, at ``--hot-K`` (float64). The shipped model is
run as it is (the cutoff envelope takes each neighbour smoothly to zero weight) and, built
only here, with the envelope replaced by a step (the neighbour's weight jumps at the
cutoff). Pairs crossing the cutoff are counted; the total-energy traces go to a PNG.

    python benchmarks/nve_drift.py                 # both parts, about 30 min on 2 cores
    python benchmarks/nve_drift.py --parts cutoff --nve-ps 2

``--quick``: both parts on a stand-in of the rMD17 files (``quick.py``), 10 Langevin and
10 NVE steps each; the JSON and the PNG go to ``--out`` (default there: a temporary folder
instead of ``runs/nve_drift``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import quick
import torch

from se3t_calc import SE3TCalculator, load_model
from se3t_calc.analysis import energy_drift
from se3t_calc.dynamics import make_dynamics
from se3t_calc.train.data import read_structures

ROOT = Path(__file__).resolve().parents[1]
RMD17 = quick.RMD17


class HardCutoff(torch.nn.Module):
    """Radial embedding with its cutoff envelope replaced by a step at ``r_cut``."""

    def __init__(self, radial: torch.nn.Module):
        super().__init__()
        self.radial = radial

    def forward(self, length: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        basis, log_env = self.radial(length)
        return basis, torch.where(torch.isfinite(log_env), torch.zeros_like(log_env), log_env)


def nve_run(atoms, calculator, args: argparse.Namespace, r_cut: float | None = None) -> dict:
    """Equilibrate (Langevin), run NVE; drift, RMS, largest step-to-step jump, crossings, speed."""
    atoms = atoms.copy()
    atoms.calc = calculator
    steps = round(1000 * args.nve_ps / args.timestep_fs)
    make_dynamics(
        atoms, "langevin", timestep_fs=args.timestep_fs, temperature_K=args.temperature_K, seed=args.seed
    ).run(round(1000 * args.equilibrate_ps / args.timestep_fs))
    dyn = make_dynamics(atoms, "nve", timestep_fs=args.timestep_fs, initial_temperature_K=0)
    samples, inside = [], []

    def record() -> None:
        samples.append(
            (dyn.nsteps * args.timestep_fs / 1000, atoms.get_potential_energy() + atoms.get_kinetic_energy())
        )
        if r_cut is not None:
            inside.append(atoms.get_all_distances() < r_cut)

    dyn.attach(record, interval=1)
    start = time.perf_counter()
    dyn.run(steps)
    elapsed = time.perf_counter() - start
    t, etot = np.array(samples).T
    drift, rms = energy_drift(t, etot, len(atoms))
    result = {
        "drift_meV_per_atom_per_ps": drift,
        "rms_meV_per_atom": rms,
        "max_jump_meV_per_atom": float(1000 * np.abs(np.diff(etot)).max() / len(atoms)),
        "ms_per_step": 1000 * elapsed / steps,
        "num_atoms": len(atoms),
        "time_ps": t.tolist(),
        "etot_eV": etot.tolist(),
    }
    if r_cut is not None:
        flips = np.triu(np.diff(np.array(inside), axis=0), k=1)
        result["cutoff_crossings"] = int(flips.sum())
    return result


def precision_and_skin(args: argparse.Namespace) -> list[dict]:
    """Part 1: float32/float64 x skin 0/0.5 with the same start."""
    start = read_structures(args.data / f"rmd17_{args.molecule}_test_01.npz")[0].atoms
    rows = []
    for dtype in ("float64", "float32"):
        for skin in (0.0, 0.5):
            calc = SE3TCalculator(args.model, device="cpu", dtype=dtype, skin=skin)
            r = nve_run(start, calc, args)
            rows.append({"dtype": dtype, "skin": skin, **r})
            print(
                f"{dtype:<9}{skin:>8.1f}{r['drift_meV_per_atom_per_ps']:>+19.4f}"
                f"{r['rms_meV_per_atom']:>14.4f}{r['ms_per_step']:>10.2f}",
                flush=True,
            )
    return rows


def smooth_and_hard(args: argparse.Namespace) -> list[dict]:
    """Part 2: the hot molecule with the smooth envelope and with a step."""
    start = read_structures(args.data / "rmd17_aspirin_test_01.npz")[0].atoms
    smooth = load_model(args.hot_model, dtype=torch.float64)
    hard = load_model(args.hot_model, dtype=torch.float64)
    hard.radial = HardCutoff(hard.radial)
    hot = argparse.Namespace(**{**vars(args), "temperature_K": args.hot_K})
    rows = []
    for label, model in (("smooth envelope", smooth), ("hard step", hard)):
        calc = SE3TCalculator(model, device="cpu", dtype="float64")
        r = nve_run(start, calc, hot, r_cut=model.config.r_cut)
        rows.append({"cutoff": label, **r})
        print(
            f"{label:<17}{r['cutoff_crossings']:>10d}{r['drift_meV_per_atom_per_ps']:>+19.4f}"
            f"{r['rms_meV_per_atom']:>14.4f}{r['max_jump_meV_per_atom']:>10.4f}",
            flush=True,
        )
    return rows


def plot(rows: list[dict], path: Path) -> None:
    """Total-energy deviation of the smooth and the hard cutoff: whole run and first 0.1 ps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, window in zip(axes, (None, 0.1), strict=True):
        for row in rows:
            t, e = np.array(row["time_ps"]), np.array(row["etot_eV"])
            keep = slice(None) if window is None else t <= window
            ax.plot(t[keep], 1000 * (e[keep] - e[0]) / row["num_atoms"], lw=0.8, label=row["cutoff"])
        ax.set_xlabel("time (ps)")
        ax.set_ylabel("Etot − Etot(0) (meV/atom)")
    axes[0].set_title("NVE, rMD17 aspirin model, float64, 0.5 fs")
    axes[1].set_title("first 0.1 ps")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parts = ["precision", "cutoff"]
    parser.add_argument("--parts", nargs="+", choices=parts, default=parts)
    parser.add_argument("--model", default="rmd17-ethanol")
    parser.add_argument("--molecule", default="ethanol", help="rMD17 molecule of --model")
    parser.add_argument("--hot-model", default="rmd17-aspirin", help="aspirin model for part 2")
    parser.add_argument("--data", type=Path, default=RMD17)
    parser.add_argument("--temperature-K", type=float, default=300.0)
    parser.add_argument("--hot-K", type=float, default=500.0)
    parser.add_argument("--timestep-fs", type=float, default=0.5)
    parser.add_argument("--equilibrate-ps", type=float, default=0.5)
    parser.add_argument("--nve-ps", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="folder for the JSON and the PNG (default: runs/nve_drift)")
    quick.add_options(parser, out=False)  # --out is the folder above
    args = parser.parse_args()
    if args.quick:
        args.equilibrate_ps = args.nve_ps = 10 * args.timestep_fs / 1000
        args.out, args.data = quick.folder(args.out), quick.rmd17([args.molecule, "aspirin"])
    args.out = args.out or ROOT / "runs" / "nve_drift"
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"settings": {k: str(v) for k, v in vars(args).items()}}
    if "precision" in args.parts:
        print(
            f"\n{args.model}: NVE {args.nve_ps} ps at {args.timestep_fs} fs after "
            f"{args.equilibrate_ps} ps Langevin at {args.temperature_K:.0f} K"
        )
        print(f"{'dtype':<9}{'skin Å':>8}{'drift meV/atom/ps':>19}{'RMS meV/atom':>14}{'ms/step':>10}")
        results["precision"] = precision_and_skin(args)
    if "cutoff" in args.parts:
        print(f"\n{args.hot_model}: NVE {args.nve_ps} ps, {args.timestep_fs} fs, {args.hot_K:.0f} K, float64")
        print(f"{'cutoff':<17}{'crossings':>10}{'drift meV/atom/ps':>19}{'RMS meV/atom':>14}{'max jump':>10}")
        results["cutoff"] = smooth_and_hard(args)
        plot(results["cutoff"], args.out / "cutoff_nve.png")
        print(f"wrote {args.out / 'cutoff_nve.png'}")
    (args.out / "nve_drift.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main()
