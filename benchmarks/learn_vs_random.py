"""Frames chosen by ``se3t learn`` against frames drawn at random from a reference MD.

For each number of frames N, one model is trained from scratch on the first N frames
that a learning run labelled (its rattled start and the frames its committee was unsure
of, in order) and one on N frames drawn at random from a long reference MD at the same
temperature; both with the same settings and optimiser steps, for every seed. Both are
scored on the run's independent validation sets (reference MD at the target and at the
higher temperature, never trained on).

Random frames have a hidden cost this table does not count: the reference MD that
produced them needs a reference call per time step (here 10 per kept frame, plus the
equilibration), which for DFT is the whole budget.

    python benchmarks/learn_vs_random.py runs/learn-glycine --frames 25 50 100 200 --seeds 2

``--quick``: a stand-in for a learning run made in ``--out`` (12 rattled ethanol frames, a
validation set, EMT as the reference and a tiny model; ``quick.py``), 10 frames, 5
optimiser steps, one seed, a pool of 50 random frames; the figure goes to ``--out`` too.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import quick
import torch
from ase.io import read, write

from se3t_calc import SE3TCalculator
from se3t_calc.learn.references import make_reference
from se3t_calc.learn.settings import LearnConfig
from se3t_calc.learn.validate import reference_md, score
from se3t_calc.train.config import TrainConfig
from se3t_calc.train.run import train

FIGURE = Path(__file__).parent / "figures" / "learn_vs_random.png"
# --quick: a model and a budget that train in seconds
QUICK_MODEL = {"r_cut": 4.0, "lmax": 2, "hidden_irreps": "8x0e+4x1o", "num_heads": 2, "head_channels": 2,
               "radial_hidden": 16}  # fmt: skip


def quick_run(out: Path) -> Path:
    """A stand-in for a finished learning run on ethanol with EMT as the reference, in ``out``."""
    run = out / "learn-ethanol-emt"
    run.mkdir(parents=True, exist_ok=True)
    start = quick.STRUCTURES / "ethanol.xyz"
    config = LearnConfig(structure=str(start), reference="ase.calculators.emt:EMT", output_dir=str(run))
    config.model = dict(QUICK_MODEL)
    (run / "settings.json").write_text(json.dumps(config.to_dict(), indent=1) + "\n")
    write(run / "start.xyz", read(start))
    write(run / "isolated_atoms.xyz", quick.isolated_atoms(["H", "C", "O"]), format="extxyz")
    write(run / "data.xyz", quick.labelled("ethanol", 12, seed=1), format="extxyz")
    write(run / "validation_300K.xyz", quick.labelled("ethanol", 4, seed=2), format="extxyz")
    return run


def random_pool(run: Path, config: LearnConfig, frames: int) -> list:
    """Snapshots every 10 steps of a reference MD at the run's temperature (cached in the run)."""
    path = run / "random_pool.xyz"
    if not path.is_file():
        pool, calls = reference_md(
            read(run / "start.xyz"), make_reference(config.reference), temperature_K=config.temperature_K,
            frames=frames, seed=7, stride=10, timestep_fs=config.timestep_fs,
        )  # fmt: skip
        write(path, pool)
        print(f"random pool: {frames} frames from a reference MD of {calls} calls")
    return read(path, ":")


def fit(run: Path, config: LearnConfig, frames: list, name: str, steps: int, seed: int) -> Path:
    """One model from scratch on ``frames``, the learning run's settings, ``steps`` optimiser steps."""
    folder = run / "versus" / name
    data = folder / "data.xyz"
    if (folder / "best.pt").is_file():
        return folder / "best.pt"
    folder.mkdir(parents=True, exist_ok=True)
    write(data, frames)
    fitted = len(frames) - max(1, round(config.train.get("valid_size", 0.1) * len(frames)))
    settings = TrainConfig(
        **{
            **config.train,
            "train_file": str(data),
            "atomic_energies": str(run / "isolated_atoms.xyz"),
            "output_dir": str(folder / "run"),
            "epochs": max(1, math.ceil(steps * config.train.get("batch_size", 5) / fitted)),
            "seed": seed,
            "device": "cpu",
        }
    )
    with contextlib.redirect_stdout(io.StringIO()):
        best = train(settings, dict(config.model))
    (folder / "best.pt").write_bytes(best.read_bytes())
    return folder / "best.pt"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, nargs="?", help="a finished se3t learn run folder")
    parser.add_argument("--frames", type=int, nargs="+", default=[25, 50, 100, 200])
    parser.add_argument("--steps", type=int, default=1500, help="optimiser steps per model")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plot-only", action="store_true", help="redraw from RUN/learn_vs_random.json")
    quick.add_options(parser)
    args = parser.parse_args()
    png = FIGURE
    if args.quick:
        out = quick.folder(args.out)
        args.run = args.run or quick_run(out)
        args.frames, args.steps, args.seeds, png = [10], 5, 1, out / FIGURE.name
    elif args.run is None:
        parser.error("the following arguments are required: run")
    if args.plot_only:
        rows = json.loads((args.run / "learn_vs_random.json").read_text())
        temperatures = [k for k in rows[0] if k.endswith("K")]
        table(rows, temperatures)
        figure(rows, temperatures, args.run.name, png)
        return
    torch.set_num_threads(args.threads)
    config = LearnConfig(**json.loads((args.run / "settings.json").read_text()))
    learned = read(args.run / "data.xyz", ":")
    counts = [n for n in args.frames if n <= len(learned)]
    pool = random_pool(args.run, config, 5 * max(counts) if args.quick else max(1000, 5 * max(counts)))
    sets = {
        p.stem.removeprefix("validation_"): read(p, ":") for p in sorted(args.run.glob("validation_*K.xyz"))
    }
    rows = []
    for n in counts:
        for seed in range(args.seeds):
            picks = np.random.default_rng(seed).choice(len(pool), size=n, replace=False)
            for method, frames in (("learn", learned[:n]), ("random", [pool[i] for i in picks])):
                model = fit(args.run, config, frames, f"{method}_{n}_seed{seed}", args.steps, seed)
                calculator = SE3TCalculator(str(model), dtype="float64")
                errors = {t: score(s, calculator)["forces_mae_meV_per_A"] for t, s in sets.items()}
                rows.append({"frames": n, "seed": seed, "method": method, **errors})
                print(json.dumps(rows[-1]), flush=True)
    (args.run / "learn_vs_random.json").write_text(json.dumps(rows, indent=1) + "\n")
    table(rows, list(sets))
    figure(rows, list(sets), args.run.name, png)


def table(rows: list[dict], temperatures: list[str]) -> None:
    """Markdown: mean force MAE over seeds per number of frames, learned and random."""
    header = " | ".join(f"{m} {t}" for t in temperatures for m in ("learn", "random"))
    print(f"| frames | {header} |\n|" + " ---: |" * (1 + 2 * len(temperatures)))
    for n in sorted({r["frames"] for r in rows}):
        cells = [
            np.mean([r[t] for r in rows if r["frames"] == n and r["method"] == m])
            for t in temperatures
            for m in ("learn", "random")
        ]
        print(f"| {n} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")


def figure(rows: list[dict], temperatures: list[str], name: str, path: Path = FIGURE) -> None:
    """Force MAE against labelled frames, one panel per validation temperature, drawn to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    counts = sorted({r["frames"] for r in rows})
    labels = {"learn": "frames chosen by se3t learn", "random": "random frames of a reference MD"}
    fig, axes = plt.subplots(1, len(temperatures), figsize=(5 * len(temperatures), 3.8), squeeze=False)
    for ax, t in zip(axes[0], temperatures, strict=True):
        for method, style in (("learn", "o-"), ("random", "s--")):
            mine = [r for r in rows if r["method"] == method]
            means = [np.mean([r[t] for r in mine if r["frames"] == n]) for n in counts]
            ax.loglog(counts, means, style, label=labels[method])
        ax.set_xticks(counts, [str(n) for n in counts])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_title(f"{name}: reference MD at {t}", fontsize=10)
        ax.set_xlabel("labelled frames")
        ax.set_ylabel("force MAE (meV/Å)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
