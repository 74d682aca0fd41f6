"""Does the gate nonlinearity help? ``se3t train`` with and without it on the committed
ethanol fixture (100 training / 20 validation rMD17 frames), same seeds and budget.

Usage: python benchmarks/gate_ablation.py [--epochs 30] [--seeds 0 1]

This is a small-data comparison of the architecture choice, not a trained model.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from se3t_calc.train import TrainConfig, train

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "ethanol_rmd17.xyz"


def fit(gate: bool, seed: int, epochs: int, threads: int) -> tuple[float, float]:
    """Train; return (best validation force MAE in meV/Å, wall seconds)."""
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(
            train_file=str(FIXTURE),
            train_size=100,
            valid_size=20,
            epochs=epochs,
            seed=seed,
            device="cpu",
            threads=threads,
            output_dir=out,
        )
        train(config, {"gate": gate})
        log = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    return min(r["valid_forces_mae_meV_per_A"] for r in log), log[-1]["elapsed_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    rows = [
        (gate, seed, *fit(gate, seed, args.epochs, args.threads))
        for gate in (True, False)
        for seed in args.seeds
    ]
    print(f"{'gate':<6}{'seed':>5}{'val force MAE meV/Å':>22}{'train s':>9}")
    for gate, seed, mae, seconds in rows:
        print(f"{gate!s:<6}{seed:>5}{mae:>22.1f}{seconds:>9.1f}")


if __name__ == "__main__":
    main()
