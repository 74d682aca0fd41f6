"""Median ms per energy+forces call of SE3TCalculator (random weights, default config).

Usage: python benchmarks/bench_calculator.py [--calls 50] [--systems aspirin water-192 water-1536]
       [--threads 1 2] [--invariant r|inverse|mixed]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from peers.worker import time_calls
from systems import SYSTEMS

from se3t_calc import ModelConfig, SE3TCalculator, SE3TModel


def median_ms(atoms, calculator, calls: int, rng: np.random.Generator) -> float:
    """Median ms of energy+forces after 3 warm-up calls (results reach the host each call)."""
    atoms = atoms.copy()
    atoms.calc = calculator
    return statistics.median(time_calls(atoms, atoms.positions.copy(), calls + 3, rng)[3:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--invariant", default="mixed", choices=["r", "inverse", "mixed"])
    args = parser.parse_args()
    torch.manual_seed(0)
    model = SE3TModel(ModelConfig(species=["H", "C", "N", "O"], invariant=args.invariant))
    params = sum(p.numel() for p in model.parameters())
    print(f"default model, invariant {args.invariant}, {params} parameters, torch {torch.__version__}")
    devices = [("cpu", t) for t in args.threads]
    if torch.cuda.is_available():
        devices.append(("cuda", 0))
    print(f"{'system':<12}{'atoms':>6} {'device':<12}{'float32 ms':>11}{'float64 ms':>11}")
    rng = np.random.default_rng(0)
    for name in args.systems:
        atoms = SYSTEMS[name]()
        for device, threads in devices:
            if threads:
                torch.set_num_threads(threads)
            label = f"{device} x{threads}" if threads else torch.cuda.get_device_name()[:12]
            ms = [
                median_ms(atoms, SE3TCalculator(model, device=device, dtype=dtype), args.calls, rng)
                for dtype in ("float32", "float64")
            ]
            print(f"{name:<12}{len(atoms):>6} {label:<12}{ms[0]:>11.2f}{ms[1]:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
