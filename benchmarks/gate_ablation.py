"""Does the gate nonlinearity help? A short fit with and without it on the committed
ethanol fixture (100 training / 20 validation rMD17 frames), same seeds and budget.

Usage: python benchmarks/gate_ablation.py [--epochs 60] [--seeds 0 1]

This is a small-data comparison of the architecture choice, not a trained model.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from ase.io import read

from se3t_calc import ModelConfig, SE3TModel, atoms_to_graph, energy_and_derivatives, keys

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "ethanol_rmd17.xyz"


def fit(frames, gate: bool, seed: int, epochs: int) -> tuple[float, float]:
    """Train and return (validation force MAE in meV/Å, seconds)."""
    torch.manual_seed(seed)
    train, valid = frames[:100], frames[100:120]
    model = SE3TModel(ModelConfig(species=["H", "C", "O"], gate=gate))
    energies = np.array([a.get_potential_energy() for a in train])
    model.readout.shift.fill_(float(energies.mean() / len(train[0])))
    model.readout.scale.fill_(float(np.sqrt(np.mean([a.get_forces() ** 2 for a in train]))))
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    batches = [train[k : k + 10] for k in range(0, len(train), 10)]
    graphs = [_graph(model, b) for b in batches]
    start = time.perf_counter()
    for _ in range(epochs):
        for graph, batch in zip(graphs, batches, strict=True):
            out = energy_and_derivatives(model, graph, training=True)
            target_e = torch.tensor([a.get_potential_energy() for a in batch], dtype=torch.float32)
            target_f = torch.tensor(np.concatenate([a.get_forces() for a in batch]), dtype=torch.float32)
            loss = ((out[keys.TOTAL_ENERGY] - target_e) / len(batch[0])).pow(2).mean()
            loss = loss + 10 * (out[keys.FORCES] - target_f).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    out = energy_and_derivatives(model, _graph(model, valid))
    target = np.concatenate([a.get_forces() for a in valid])
    return 1000 * float(np.abs(out[keys.FORCES].detach().numpy() - target).mean()), seconds


def _graph(model, frames):
    return atoms_to_graph(frames, model.config.species, model.config.r_cut, dtype=torch.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args()
    frames = read(FIXTURE, index=":")
    print(f"{'gate':<6}{'seed':>5}{'val force MAE meV/Å':>22}{'train s':>9}")
    for gate in (True, False):
        for seed in args.seeds:
            mae, seconds = fit(frames, gate, seed, args.epochs)
            print(f"{gate!s:<6}{seed:>5}{mae:>22.1f}{seconds:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
