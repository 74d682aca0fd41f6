"""Validation force error against training time, beside the published errors on each molecule.

Each curve is the best validation force MAE reached within a training time: from a
shipped model's card (``valid_forces_mae_vs_minutes``, warm starts included) or from a
run folder's ``metrics.jsonl`` (then also the training-set force RMSE of the epochs, the
model's fit to the frames it sees, against the validation RMSE: the gap between them is
what the model does not generalise). The rMD17 molecule of each curve is read from its
card or the run folder's name; dashed lines mark TensorNet's and MACE's published test errors on
it (``published_rmd17.py``).

    python benchmarks/learning_curves.py rmd17-ethanol-accurate rmd17-aspirin-accurate \\
        runs/rmd17-accurate_uracil_8h --png benchmarks/figures/learning_curves.png

``--quick``: the shipped accurate models' cards, the plot in ``--out``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

import quick
from published_rmd17 import molecule_in, published

from se3t_calc.pretrained import model_card
from se3t_calc.train.plots import save_figure


def from_card(name: str) -> dict:
    """Curve ``(hours, best validation MAE)`` and molecule of a shipped model."""
    card = model_card(name)
    curve = card["training"]["valid_forces_mae_vs_minutes"]
    return {
        "label": name,
        "molecule": molecule_in(card["data"]["test_file"]["path"]) or name,
        "valid": [(float(m) / 60, mae) for m, mae in curve.items()],
    }


def from_run(folder: Path) -> dict:
    """Curves of a run folder: best validation MAE, and per-epoch training and validation RMSE."""
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line]
    hours = [r["elapsed_s"] / 3600 for r in records]
    best = itertools.accumulate((r["valid_forces_mae_meV_per_A"] for r in records), min)
    return {
        "label": folder.name,
        "molecule": molecule_in(folder.name) or folder.name,
        "valid": list(zip(hours, best, strict=True)),
        "train_rmse": [(h, 1000 * math.sqrt(r["train_forces"])) for h, r in zip(hours, records, strict=True)],
        "valid_rmse": [(h, r["valid_forces_rmse_meV_per_A"]) for h, r in zip(hours, records, strict=True)],
    }


def plot(curves: list[dict], path: Path) -> None:
    """One panel per molecule, log-log, the published errors as dashed lines."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    molecules = sorted({c["molecule"] for c in curves})
    fig, axes = plt.subplots(1, len(molecules), figsize=(4.5 * len(molecules), 3.8), squeeze=False)
    for ax, molecule in zip(axes[0], molecules, strict=True):
        for i, curve in enumerate(c for c in curves if c["molecule"] == molecule):
            hours, mae = zip(*curve["valid"], strict=True)
            ax.plot(hours, mae, color=f"C{i}", label=f"{curve['label']} (valid MAE)")
            if "train_rmse" in curve:
                for key, style in (("train_rmse", ":"), ("valid_rmse", "--")):
                    h, rmse = zip(*curve[key], strict=True)
                    ax.plot(h, rmse, style, color=f"C{i}", lw=0.8, label=f"{key.replace('_', ' ')} per epoch")
        errors = published(molecule)
        for peer in ("MACE", "TensorNet") if errors else ():
            force = errors[peer][1]
            ax.axhline(force, ls="--", color="grey", lw=0.8)
            ax.annotate(
                f"{peer} {force:g}",
                (0.02, force),
                xycoords=("axes fraction", "data"),
                fontsize=7,
                va="bottom",
            )
        ax.set(xscale="log", yscale="log", title=f"rMD17 {molecule}", xlabel="training time (h)")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("force error (meV/Å)")
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sources", nargs="*", help="shipped model names or run folders")
    parser.add_argument("--png", type=quick.png_path, help="write the plot here (.png)")
    quick.add_options(parser)
    args = parser.parse_args()
    if args.quick:
        args.sources = args.sources or ["rmd17-ethanol-accurate", "rmd17-aspirin-accurate"]
        args.png = args.png or quick.folder(args.out) / "learning_curves.png"
    elif not args.sources:
        parser.error("name at least one shipped model or run folder")
    curves = [from_run(Path(s)) if Path(s).is_dir() else from_card(s) for s in args.sources]
    for curve in curves:
        hours, mae = curve["valid"][-1]
        print(
            f"{curve['label']:40s} {curve['molecule']:14s} {hours:7.2f} h  best valid F MAE {mae:6.2f} meV/Å"
        )
    if args.png:
        plot(curves, args.png)


if __name__ == "__main__":
    main()
