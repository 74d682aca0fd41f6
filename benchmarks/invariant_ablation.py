"""Distance invariant of the attention heads: ``r``, ``1/r`` or mixed, on rMD17.

Each run is the standard protocol (``train_01``: 950 fitted, 50 validation; test on all
1000 frames of ``test_01``) with the same number of epochs (the cosine schedule spans
them), seed and settings; only ``--invariant`` changes. An epoch budget rather than a
wall-time one keeps the comparison independent of the load on the machine; the wall time
of each run is printed beside it. Finished runs are skipped and unfinished ones resumed,
so the script can be re-run to add seeds or molecules. Prints one row per run and a
markdown table of the mean and standard deviation over seeds.

    python benchmarks/invariant_ablation.py --molecules ethanol aspirin --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from se3t_calc.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
RMD17 = ROOT.parent / "shared" / "data" / "rmd17"
INVARIANTS = ("r", "inverse", "mixed")


def run(molecule: str, invariant: str, seed: int, args: argparse.Namespace) -> dict:
    """Train one variant (or reuse a finished run); return its test metrics."""
    epochs = args.epochs[molecule]
    out = Path(args.out_dir) / f"{molecule}_{invariant}_seed{seed}_{epochs}ep"
    metrics = out / "test_metrics.json"
    if not metrics.is_file():
        config = TrainConfig(
            train_file=str(args.data / f"rmd17_{molecule}_train_01.npz"),
            test_file=str(args.data / f"rmd17_{molecule}_test_01.npz"),
            train_size=950,
            valid_size=50,
            epochs=epochs,
            seed=seed,
            threads=args.threads,
            device=args.device,
            output_dir=str(out),
        )
        train(config, {"invariant": invariant}, resume=True)
    elapsed = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["elapsed_s"]
    return {**json.loads(metrics.read_text()), "minutes": elapsed / 60}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", nargs="+", default=["ethanol", "aspirin"])
    parser.add_argument("--invariants", nargs="+", choices=INVARIANTS, default=list(INVARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument(
        "--epochs", nargs="+", default=["ethanol=60", "aspirin=25"], help="MOLECULE=EPOCHS budget per run"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", type=Path, default=RMD17, help="folder with the rMD17 npz files")
    parser.add_argument("--out-dir", default=str(ROOT / "runs" / "ablation"))
    args = parser.parse_args()
    args.epochs = {k: int(v) for k, v in (item.split("=") for item in args.epochs)}
    rows = []
    for molecule in args.molecules:
        for invariant in args.invariants:
            for seed in args.seeds:
                m = run(molecule, invariant, seed, args)
                e, f = m["energy_mae_meV"], m["forces_mae_meV_per_A"]
                rows.append((molecule, invariant, seed, e, f, m["minutes"]))
    print(f"\nepochs per run: {args.epochs}; test MAE on all 1000 frames of test_01")
    print(f"{'molecule':<10}{'invariant':<10}{'seed':>5}{'E meV':>9}{'F meV/Å':>10}{'minutes':>9}")
    for molecule, invariant, seed, e, f, minutes in rows:
        print(f"{molecule:<10}{invariant:<10}{seed:>5}{e:>9.2f}{f:>10.2f}{minutes:>9.1f}")
    print("\n| molecule | invariant | energy MAE (meV) | force MAE (meV/Å) | minutes per run |")
    print("| --- | --- | ---: | ---: | ---: |")
    for molecule in args.molecules:
        for invariant in args.invariants:
            mine = np.array([r[3:] for r in rows if r[:2] == (molecule, invariant)])
            e, f, minutes = mine.T
            print(f"| {molecule} | {invariant} | {_mean_sd(e)} | {_mean_sd(f)} | {minutes.mean():.1f} |")


def _mean_sd(x: np.ndarray) -> str:
    return f"{x.mean():.2f} ± {x.std(ddof=1):.2f}" if len(x) > 1 else f"{x.mean():.2f} (1 seed)"


if __name__ == "__main__":
    main()
