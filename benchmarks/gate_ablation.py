"""Does the gate nonlinearity help? ``se3t train`` with and without it on 100 training /
20 validation frames of rMD17 ethanol (``train_01`` in ``../shared/data/rmd17``), same
seeds and budget.

Usage: python benchmarks/gate_ablation.py [--epochs 30] [--seeds 0 1]

This is a small-data comparison of the architecture choice, not a trained model.
``--quick``: 8 training / 4 validation frames of a stand-in of the rMD17 file (``quick.py``),
1 epoch, seed 0.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import quick

from se3t_calc.train import TrainConfig, train

DATA = "rmd17_ethanol_train_01.npz"
SIZES = {False: (100, 20), True: (8, 4)}  # training, validation structures; by --quick


def fit(
    data: Path, sizes: tuple[int, int], gate: bool, seed: int, epochs: int, threads: int
) -> tuple[float, float]:
    """Train on ``sizes`` (fitted, validation) structures of ``data``.

    Returns the best validation force MAE (meV/Å) and the wall seconds.
    """
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(
            train_file=str(data),
            train_size=sizes[0],
            valid_size=sizes[1],
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
    parser.add_argument("--data", type=Path, default=quick.RMD17, help="folder with the rMD17 npz files")
    quick.add_options(parser, out=False)
    args = parser.parse_args()
    sizes = SIZES[args.quick]
    if args.quick:
        args.epochs, args.seeds, args.data = 1, [0], quick.rmd17(["ethanol"], train=sum(sizes))
    rows = [
        (gate, seed, *fit(args.data / DATA, sizes, gate, seed, args.epochs, args.threads))
        for gate in (True, False)
        for seed in args.seeds
    ]
    print(f"{'gate':<6}{'seed':>5}{'val force MAE meV/Å':>22}{'train s':>9}")
    for gate, seed, mae, seconds in rows:
        print(f"{gate!s:<6}{seed:>5}{mae:>22.1f}{seconds:>9.1f}")


if __name__ == "__main__":
    main()
