"""One change at a time against the default model, on the rMD17 standard protocol.

Each run fits ``train_01`` (950 structures, 50 for validation) for a fixed number of
epochs (the cosine schedule spans them; an epoch budget keeps the result independent of
the machine's load) and reports the best model's errors on all 1000 frames of
``test_01``, with the model's per-call cost on aspirin (energy + forces, 1 thread,
float32, median of 30 calls). Finished runs are reused and unfinished ones resumed, so
the script can be re-run to add variants or seeds. Prints one row per run and a markdown
table of the mean over seeds.

    python benchmarks/study.py --variants default product16 --seeds 0 1
    python benchmarks/study.py --variants default invariant-r invariant-inverse \
        --molecules ethanol aspirin --seeds 0 1 2          # the distance-invariant ablation

``--quick``: the default and e0-isolated variants (unless variants are named), one seed,
one epoch on 8 + 2 frames of a stand-in of the rMD17 files (``quick.py``), 2 rounds of
call timing; the runs go to ``--out-dir`` (default there: a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import quick
import torch
from systems import aspirin

from se3t_calc import ModelConfig, SE3TCalculator, SE3TModel, retain_freed_memory
from se3t_calc.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
RMD17 = quick.RMD17
ISOLATED = "isolated_atoms_pbe_def2svp.xyz"
SIZES = {False: (950, 50), True: (8, 2)}  # fitted and validation structures of train_01, by --quick

# name -> (model settings, training settings); each differs from "default" in one thing
VARIANTS: dict[str, tuple[dict, dict]] = {
    "default": ({}, {}),  # mixed invariant: half the heads see r, half 1/r
    "invariant-r": ({"invariant": "r"}, {}),
    "invariant-inverse": ({"invariant": "inverse"}, {}),
    "e0-isolated": ({}, {"atomic_energies": ISOLATED}),
    "product16": ({"product_channels": 16}, {}),
    "bessel": ({"radial_basis": "bessel"}, {}),
    "basis16": ({"num_basis": 16}, {}),
    "wide16": ({"hidden_irreps": "64x0e+16x1o+16x2e+16x3o"}, {}),
    "heads8": ({"head_channels": 8}, {}),
    "forces100": ({}, {"forces_weight": 100.0}),
    "forces1000": ({}, {"forces_weight": 1000.0}),
    "layers3": ({"num_layers": 3}, {}),
    "radial64": ({"radial_hidden": 64}, {}),
}
# the models of examples/rmd17-fast.toml and of the first rmd17-accurate.toml: combinations
# of the single changes that paid (the recipes there add a second stage and force weight
# 1000; today's accurate recipe is BEST below)
WIDE = "64x0e+16x1o+16x2e+16x3o"
COMBINED: dict[str, tuple[dict, dict]] = {
    "fast": (
        {"radial_basis": "bessel", "product_channels": 8, "hidden_irreps": WIDE},
        {"atomic_energies": ISOLATED},
    ),
    "accurate": (
        {"radial_basis": "bessel", "product_channels": 16, "hidden_irreps": WIDE, "head_channels": 8},
        {"atomic_energies": ISOLATED},
    ),
}


def _on_top(base: tuple[dict, dict], change: tuple[dict, dict]) -> tuple[dict, dict]:
    """Settings ``base`` with the model and training settings of ``change`` applied."""
    return {**base[0], **change[0]}, {**base[1], **change[1]}


# the same single changes on top of the accurate settings: "accurate+layers3", ...
for name in ("basis16", "forces100", "forces1000", "layers3", "radial64"):
    VARIANTS[f"accurate+{name}"] = _on_top(COMBINED["accurate"], VARIANTS[name])
# and on top of the accurate settings with force weight 1000 (the shipped accurate recipe)
for name, model in {
    "product-last": {"product_last": True},
    "product-depth2": {"product_depth": 2},
    "radial64": {"radial_hidden": 64},
}.items():
    VARIANTS[f"accurate+forces1000+{name}"] = _on_top(VARIANTS["accurate+forces1000"], (model, {}))
# the attention form, on top of the best of those
BEST = "accurate+forces1000+product-depth2+mlp-attention"
VARIANTS[BEST] = _on_top(VARIANTS["accurate+forces1000+product-depth2"], ({"attention_hidden": 16}, {}))
# size on top of that: width of the l > 0 features, of the product, of the heads; depth
for name, model in {
    "wide32": {"hidden_irreps": "64x0e+32x1o+32x2e+32x3o"},
    "product32": {"product_channels": 32},
    "heads16": {"head_channels": 16},
    "layers3": {"num_layers": 3},
    # a third layer with features up to l = 2 (the l = 3 harmonics still couple them)
    "layers3-l2": {"num_layers": 3, "hidden_irreps": "64x0e+16x1o+16x2e"},
    # keys and values by the edge-frame (SO(2)) convolution, with two and three layers
    "so2": {"convolution": "so2"},
    "layers3-so2": {"num_layers": 3, "convolution": "so2"},
    # radial MLPs of two hidden layers; a third stacked product
    "radial2": {"radial_layers": 2},
    "product-depth3": {"product_depth": 3},
    "product-depth3+radial2": {"product_depth": 3, "radial_layers": 2},
}.items():
    VARIANTS[f"{BEST}+{name}"] = _on_top(VARIANTS[BEST], (model, {}))
VARIANTS.update(COMBINED)


def run(molecule: str, variant: str, seed: int, args: argparse.Namespace) -> dict:
    """Train one variant (or reuse a finished run); return its test metrics."""
    model_settings, train_settings = VARIANTS[variant]
    epochs = args.epochs[molecule]
    out = Path(args.out_dir) / f"{molecule}_{variant}_seed{seed}_{epochs}ep"
    metrics = out / "test_metrics.json"
    if not metrics.is_file():
        settings = dict(train_settings)
        if "atomic_energies" in settings:
            settings["atomic_energies"] = str(args.data / settings["atomic_energies"])
        config = TrainConfig(
            train_file=str(args.data / f"rmd17_{molecule}_train_01.npz"),
            test_file=str(args.data / f"rmd17_{molecule}_test_01.npz"),
            train_size=SIZES[args.quick][0],
            valid_size=SIZES[args.quick][1],
            epochs=epochs,
            seed=seed,
            threads=args.threads,
            device=args.device,
            output_dir=str(out),
            **settings,
        )
        train(config, dict(model_settings), resume=True)
    elapsed = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["elapsed_s"]
    return {**json.loads(metrics.read_text()), "minutes": elapsed / 60}


def call_costs(variants: list[str], rounds: int = 30, calls: int = 4) -> dict[str, tuple[int, float]]:
    """Parameters and median ms per energy+forces call on aspirin, per variant.

    Random weights, float32, 1 thread; the variants take turns, ``calls`` calls each per
    round, so that a change in machine load hits all of them alike.
    """
    torch.set_num_threads(1)
    atoms = aspirin()
    start = atoms.positions.copy()
    rng = np.random.default_rng(0)
    calcs, times = {}, {}
    for variant in variants:
        model = SE3TModel(ModelConfig(species=("H", "C", "O"), **VARIANTS[variant][0]))
        calcs[variant] = (sum(p.numel() for p in model.parameters()), SE3TCalculator(model, dtype="float32"))
        times[variant] = []
    for _ in range(rounds):
        for variant, (_, calc) in calcs.items():
            for k in range(calls + 1):  # the first call of a round is not timed
                atoms.positions = start + rng.normal(scale=0.01, size=start.shape)
                t0 = time.perf_counter()
                calc.get_forces(atoms)
                if k:
                    times[variant].append(time.perf_counter() - t0)
    return {v: (calcs[v][0], 1000 * float(np.median(times[v]))) for v in variants}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", nargs="+", default=["ethanol"])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), help="default: all")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument(
        "--epochs", nargs="+", default=["ethanol=60", "aspirin=25"], help="MOLECULE=EPOCHS budget per run"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", type=Path, default=RMD17, help="folder with the rMD17 npz files")
    parser.add_argument("--out-dir", help="folder of the runs (default: runs/study)")
    parser.add_argument("--no-train", action="store_true", help="only time the variants")
    quick.add_options(parser, out=False)  # --out-dir is the folder above
    args = parser.parse_args()
    rounds = 30
    if args.quick:
        args.molecules, args.seeds, args.epochs, rounds = ["ethanol"], [0], ["ethanol=1"], 2
        args.variants = args.variants or ["default", "e0-isolated"]
        args.data, args.out_dir = quick.rmd17(args.molecules), args.out_dir or str(quick.folder(None))
    args.variants = args.variants or list(VARIANTS)
    args.out_dir = args.out_dir or str(ROOT / "runs" / "study")
    retain_freed_memory()  # as `se3t train` does: training steps about 1.2x faster
    args.epochs = {k: int(v) for k, v in (item.split("=") for item in args.epochs)}
    costs = call_costs(args.variants, rounds=rounds)
    if args.no_train:
        for v, (params, ms) in costs.items():
            print(f"{v:<14}{params:>8} params {ms:8.2f} ms ({ms / costs[args.variants[0]][1]:.2f}x)")
        return
    rows = []
    for molecule in args.molecules:
        for variant in args.variants:
            for seed in args.seeds:
                m = run(molecule, variant, seed, args)
                e, f = m["energy_mae_meV"], m["forces_mae_meV_per_A"]
                rows.append((molecule, variant, seed, e, f, m["minutes"]))
                print(f"{molecule} {variant} seed {seed}: E {e:.2f} meV, F {f:.2f} meV/Å", flush=True)
    print(f"\nepochs per run: {args.epochs}; test MAE on all 1000 frames of test_01")
    print(
        "| molecule | variant | params | aspirin ms/call | energy MAE (meV) | force MAE (meV/Å) "
        "| seeds | minutes |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for molecule in args.molecules:
        for variant in args.variants:
            mine = np.array([r[3:] for r in rows if r[:2] == (molecule, variant)])
            e, f, minutes = mine.T
            params, ms = costs[variant]
            print(
                f"| {molecule} | {variant} | {params} | {ms:.1f} | {_mean_sd(e)} | {_mean_sd(f)} "
                f"| {len(e)} | {minutes.mean():.1f} |"
            )


def _mean_sd(x: np.ndarray) -> str:
    return f"{x.mean():.2f} ± {x.std(ddof=1):.2f}" if len(x) > 1 else f"{x.mean():.2f}"


if __name__ == "__main__":
    main()
