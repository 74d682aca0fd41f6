"""Figures of a run: the learning curve and parity plots (matplotlib, written atomically)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from se3t_calc.train.metrics import ErrorAccumulator


def learning_curve(log: str | os.PathLike, path: str | os.PathLike) -> None:
    """Training loss and validation energy/force MAE per epoch from a ``metrics.jsonl`` log."""
    records = [json.loads(line) for line in Path(log).read_text().splitlines() if line.strip()]
    if not records:
        return
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    epoch = [r["epoch"] for r in records]
    for ax, key, label in zip(
        axes,
        ("train_loss", "valid_energy_mae_meV", "valid_forces_mae_meV_per_A"),
        ("training loss", "validation energy MAE (meV)", "validation force MAE (meV/Å)"),
        strict=True,
    ):
        ax.semilogy(epoch, [r[key] for r in records])
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def parity_plot(errors: ErrorAccumulator, path: str | os.PathLike) -> None:
    """Predicted against reference energy per atom and force components."""
    plt = _pyplot()
    natoms = np.concatenate(errors.natoms)
    ref_e = np.concatenate(errors.ref_energy) / natoms
    pred_e = ref_e + np.concatenate(errors.energy) / natoms
    panels = [(ref_e, pred_e, "energy (eV/atom)")]
    if errors.forces:  # energy-only data: one panel
        ref_f = np.concatenate(errors.ref_forces).ravel()
        panels.append((ref_f, ref_f + np.concatenate(errors.forces).ravel(), "force component (eV/Å)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4.2), squeeze=False)
    for ax, (ref, pred, label) in zip(axes[0], panels, strict=True):
        ax.scatter(ref, pred, s=2, alpha=0.4)
        lims = [min(ref.min(), pred.min()), max(ref.max(), pred.max())]
        ax.plot(lims, lims, "k--", lw=0.8)
        ax.set_xlabel(f"reference {label}")
        ax.set_ylabel(f"predicted {label}")
    fig.tight_layout()
    save_figure(fig, path)


def rounds_curve(rounds: list[dict], threshold: float, path: str | os.PathLike) -> None:
    """``se3t learn``: validation force MAE and exploration uncertainty against reference calls."""
    if not rounds:
        return
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    calls = [r["reference_calls"] for r in rounds]
    ax.semilogy(calls, [r["valid_forces_mae_meV_per_A"] for r in rounds], "o-", label="validation force MAE")
    explored = [r for r in rounds if "max_force_std_meV_per_A" in r]
    if explored:
        x = [r["reference_calls"] for r in explored]
        ax.semilogy(x, [r["max_force_std_meV_per_A"] for r in explored], "s--", label="largest MD force σ")
        ax.semilogy(x, [r["mean_force_std_meV_per_A"] for r in explored], "^:", label="mean MD force σ")
    ax.axhline(1000 * threshold, color="k", lw=0.8, label="threshold")
    ax.set_xlabel("reference calls")
    ax.set_ylabel("meV/Å")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike) -> None:
    """Write ``fig`` as PNG atomically (a temporary file renamed over ``path``) and close it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=120, format="png")
    tmp.replace(path)
    fig.clf()
    import matplotlib.pyplot as plt

    plt.close(fig)
