"""Dimer curves of every element pair of a model, with and without its ZBL repulsion.

Two atoms alone, ``E(r) - E(atoms apart)`` from ``--r-min`` to the cutoff, for the model
as trained and for a copy with the repulsion removed (the network alone); optionally
for further models (e.g. one trained before the repulsion existed). Prints the energies
at a few distances and the lowest point of each curve; draws one panel per pair.

    python benchmarks/dimer_curves.py runs/x/best.pt --compare rmd17-ethanol-fast \\
        --plot benchmarks/figures/dimer_curves.png

``--quick``: the first member of the shipped ethanol committee (it has ZBL) unless a
model is named, 12 distances, the plot in ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import warnings
from pathlib import Path

import numpy as np
import quick
import torch
from ase import Atoms

from se3t_calc import SE3TCalculator, SE3TModel, load_model
from se3t_calc.pretrained import committee_files

PROBES = (0.1, 0.3, 0.5, 0.7, 1.0)


def curve(model: SE3TModel, pair: tuple[str, str], r: np.ndarray) -> np.ndarray:
    """``E(r) - E(apart)`` (eV) of the two atoms ``pair`` at the distances ``r`` (Å)."""
    calculator = SE3TCalculator(model, device="cpu", dtype="float64")
    apart = _energy(Atoms(pair[0]), calculator) + _energy(Atoms(pair[1]), calculator)
    return np.array([_energy(Atoms("".join(pair), [[0, 0, 0], [x, 0, 0]]), calculator) for x in r]) - apart


def _energy(atoms: Atoms, calculator: SE3TCalculator) -> float:
    atoms.calc = calculator
    return atoms.get_potential_energy()


def without_repulsion(model: SE3TModel) -> SE3TModel:
    """A copy of ``model`` whose ZBL term is removed: the network alone."""
    bare = copy.deepcopy(model)
    bare.repulsion = None
    return bare


def _load(name: str) -> SE3TModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model(name, dtype=torch.float64)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", nargs="?", help="model with ZBL (name or file)")
    parser.add_argument("--compare", nargs="*", default=[], help="further models to draw")
    parser.add_argument("--r-min", type=float, default=0.1, help="shortest distance, Å")
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--plot", help="PNG to draw")
    quick.add_options(parser)
    args = parser.parse_args()
    if args.quick:
        args.model = args.model or str(committee_files("rmd17-ethanol-committee")[0])
        args.points, args.plot = 12, args.plot or str(quick.folder(args.out) / "dimer_curves.png")
    elif args.model is None:
        parser.error("the following arguments are required: model")
    model = _load(args.model)
    variants = {"with ZBL": model, "network alone": without_repulsion(model)}
    variants |= {name: _load(name) for name in args.compare}
    r = np.linspace(args.r_min, model.config.r_cut, args.points)
    pairs = list(itertools.combinations_with_replacement(model.config.species, 2))
    curves = {(label, p): curve(m, p, r) for label, m in variants.items() for p in pairs}
    probes = " | ".join(f"{x} Å" for x in PROBES)
    print(f"| pair | model | {probes} | minimum (eV at Å) |")
    print("| --- | --- |" + " ---: |" * (len(PROBES) + 1))
    for (label, p), e in curves.items():
        values = " | ".join(f"{np.interp(x, r, e):.2f}" for x in PROBES)
        k = int(np.argmin(e))
        print(f"| {'-'.join(p)} | {label} | {values} | {e[k]:.2f} at {r[k]:.2f} |")
    if args.plot:
        plot(r, curves, pairs, list(variants), Path(args.plot))


def plot(r: np.ndarray, curves: dict, pairs: list, labels: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 3
    rows = -(-len(pairs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, p in zip(axes.flat, pairs, strict=False):
        for label in labels:
            ax.plot(r, curves[(label, p)], label=label)
        ax.set_yscale("symlog", linthresh=1.0)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title("-".join(p))
        ax.set_xlabel("r (Å)")
        ax.set_ylabel("E(r) - E(apart) (eV)")
    for ax in list(axes.flat)[len(pairs) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
