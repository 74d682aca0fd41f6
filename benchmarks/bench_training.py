"""Training throughput: structures per second of ``se3t train`` epochs (forward, forces, backward).

Uses the rMD17 training files in ``../shared/data/rmd17`` when present, else rattled
copies of ``examples/structures/<molecule>.xyz`` labelled with EMT (``quick.py``; the
speed of a step does not depend on the labels). Prints one row per molecule, thread
count, dtype and mode (eager, or the traced and compiled step of
``se3t train --compile true``; its first epoch, which compiles, is the untimed warm-up).

    python benchmarks/bench_training.py --structures 200 --threads 1 2
    python benchmarks/bench_training.py --molecules aspirin --threads 1 --dtypes float32 \
        --settings examples/rmd17-accurate.toml --product-channels 32 --modes eager compiled

Like ``se3t train``, it keeps freed memory in the process (``--allocator retain``);
``--allocator default`` leaves glibc's settings, as a script that does not call
:func:`se3t_calc.retain_freed_memory` would.

``--quick``: ethanol stand-ins (10 fitted, 2 for validation), 1 thread, float32, eager,
one timed epoch.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import quick
import torch

from se3t_calc import ModelConfig, SE3TModel, retain_freed_memory
from se3t_calc.train.config import TrainConfig, read_config_file
from se3t_calc.train.distributed import Cluster
from se3t_calc.train.prepare import prepare
from se3t_calc.train.trainer import Trainer

RMD17 = quick.RMD17


def data_file(molecule: str, structures: int, stand_in: bool) -> tuple[Path, str]:
    """rMD17 ``train_01`` and "rMD17"; with ``stand_in`` or without the data, a stand-in file
    of ``structures`` + 2 EMT-labelled frames and "EMT"."""
    path = RMD17 / f"rmd17_{molecule}_train_01.npz"
    if stand_in or not path.is_file():
        return quick.rmd17([molecule], train=structures + 2) / path.name, "EMT"
    return path, "rMD17"


def throughput(
    data: Path,
    structures: int | None,
    threads: int,
    dtype: str,
    epochs: int,
    batch: int,
    model_settings: dict,
    compile: bool,
) -> float:
    """Median structures/s over ``epochs`` epochs after one warm-up epoch."""
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(
            train_file=str(data),
            train_size=structures,
            valid_size=2,
            output_dir=out,
            device="cpu",
            dtype=dtype,
            batch_size=batch,
            compile=compile,
        )
        prepared = prepare(config, None, ModelConfig.r_cut)
        model = SE3TModel(ModelConfig(species=prepared.species, **model_settings))
        trainer = Trainer(config, prepared, model, Cluster())
        rates = [trainer.train_epoch()["structures_per_s"] for _ in range(epochs + 1)][1:]
    return sorted(rates)[len(rates) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", nargs="+", default=["ethanol", "aspirin"])
    parser.add_argument("--structures", type=int, default=200, help="structures per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up)")
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--modes", nargs="+", choices=["eager", "compiled"], default=["eager"])
    parser.add_argument("--settings", type=Path, help="se3t train settings file whose [model] to use")
    parser.add_argument("--product-channels", type=int, help="override of the model's product channels")
    parser.add_argument("--num-layers", type=int, help="override of the model's number of layers")
    parser.add_argument("--allocator", choices=["retain", "default"], default="retain")
    quick.add_options(parser, out=False)
    args = parser.parse_args()
    if args.quick:
        args.molecules, args.structures, args.epochs, args.threads = ["ethanol"], 10, 1, [1]
        args.dtypes, args.modes = ["float32"], ["eager"]
    if args.allocator == "retain":
        retain_freed_memory()
    model = read_config_file(args.settings).get("model", {}) if args.settings else {}
    for name in ("product_channels", "num_layers"):
        if getattr(args, name) is not None:
            model[name] = getattr(args, name)
    described = model or "default"
    print(f"torch {torch.__version__}, model {described}, batch {args.batch_size}")
    print(f"allocator {args.allocator}; structures/s, median of the timed epochs")
    print(f"{'molecule':<10}{'source':<10}{'threads':>8}{'dtype':>9}{'mode':>10}{'struct/s':>10}")
    for molecule in args.molecules:
        data, source = data_file(molecule, args.structures, stand_in=args.quick)
        for threads in args.threads:
            for dtype in args.dtypes:
                for mode in args.modes:
                    compiled = mode == "compiled"
                    batch = args.batch_size
                    rate = throughput(
                        data, args.structures, threads, dtype, args.epochs, batch, model, compiled
                    )
                    row = f"{molecule:<10}{source:<10}{threads:>8}{dtype:>9}{mode:>10}{rate:>10.1f}"
                    print(row, flush=True)


if __name__ == "__main__":
    main()
