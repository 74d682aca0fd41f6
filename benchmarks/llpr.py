"""One model's own uncertainty (last-layer prediction rigidity) against a committee's spread.

Last-layer prediction rigidity (LLPR; Bigi et al. 2024) estimates a single model's
uncertainty from the features its readout's last layer reads. Here the feature of a
structure is ``phi = sum_i (h_i - h_free[s_i])``, the readout MLP's last hidden layer
summed over atoms (minus that of lone atoms, which the isolated-atom limit subtracts),
and the force features are its derivatives ``g = d phi / d x``. With the training
structures' features, weighted as the loss weighted energies and forces,

    C = w_E sum phi phi^T + w_F sum_(i,a) g_ia g_ia^T + reg * I,
    sigma_E^2 = alpha^2 phi^T C^-1 phi,   sigma_F,ia^2 = alpha^2 g_ia^T C^-1 g_ia,

and ``alpha`` is fitted on calibration frames (it does not change a ranking). Member 0 of
a committee is scored against its own errors, the committee's spread against the
committee's errors, on the same held-out frames: Spearman rank correlation per atom (norm
of the per-atom uncertainty against the norm of the force error) and per structure (RMS
over atoms), coverage of force components within 1/2/3 sigma after one factor fitted on the
calibration frames, and the cost per structure.

    python benchmarks/llpr.py rmd17-ethanol-committee --molecule ethanol --json llpr.json

``--quick``: 6 training and 6 test structures of the ``quick.py`` stand-in (EMT labels).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import quick
import torch
from ase import Atoms

from se3t_calc import atoms_to_graph, keys, load_model
from se3t_calc.pretrained import committee_files
from se3t_calc.runtime import load_for_inference
from se3t_calc.train.data import read_structures

RMD17 = quick.RMD17
WIDTHS = (18, 10, 11, 9, 20, 10)


class LastLayer:
    """Features and their position derivatives from the readout's last hidden layer."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.outputs: list[torch.Tensor] = []
        model.readout.mlp.layer0.register_forward_hook(lambda _m, _i, out: self.outputs.append(out))

    def __call__(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``phi`` (H,), ``g`` (H, N, 3) and the model's forces (N, 3) of one structure."""
        config = self.model.config
        graph = atoms_to_graph(atoms, config.species, config.r_cut, dtype=torch.float64)
        positions = graph[keys.POSITIONS].requires_grad_(True)
        self.outputs.clear()
        out = self.model(graph)
        hidden, free = self.outputs[0], self.outputs[1]  # the atoms, then one lone atom per species
        phi = (hidden - free.index_select(0, graph[keys.SPECIES])).sum(0)
        (forces,) = torch.autograd.grad(-out[keys.TOTAL_ENERGY].sum(), positions, retain_graph=True)
        eye = torch.eye(len(phi), dtype=phi.dtype)
        (g,) = torch.autograd.grad(phi, positions, eye, is_grads_batched=True)
        return phi.detach().numpy(), g.numpy(), forces.numpy()


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ranks = [np.argsort(np.argsort(x)) for x in (a, b)]
    return float(np.corrcoef(*ranks)[0, 1])


def scores(sigma: np.ndarray, error: np.ndarray, frames: np.ndarray, calibrate: np.ndarray) -> dict:
    """Ranking and coverage of per-component ``sigma`` (A, 3) against ``error`` (A, 3).

    ``frames`` (A,) gives the structure of each atom; ``calibrate`` (A,) marks the atoms of
    the calibration structures, which fit the factor and are left out of the scores.
    """
    held = ~calibrate
    factor = float(np.sqrt(np.mean((error[calibrate] / sigma[calibrate]) ** 2)))
    z = np.abs(error[held] / (factor * sigma[held]))
    atom_sigma, atom_error = np.linalg.norm(sigma, axis=1), np.linalg.norm(error, axis=1)
    per_frame = [
        (np.sqrt(np.mean(atom_sigma[frames == f] ** 2)), np.sqrt(np.mean(atom_error[frames == f] ** 2)))
        for f in np.unique(frames[held])
    ]
    return {
        "spearman_atom": spearman(atom_sigma[held], atom_error[held]),
        "spearman_structure": spearman(*np.array(per_frame).T),
        "factor": factor,
        "coverage_1_2_3": [float(np.mean(z <= k)) for k in (1, 2, 3)],
    }


def llpr_sigma(layer: LastLayer, train: list, test: list, weights: tuple[float, float]) -> dict:
    """Per-component LLPR force sigma (before alpha) and the model's force errors on ``test``."""
    w_energy, w_forces = weights
    cov = None
    for structure in train:
        phi, g, _ = layer(structure.atoms)
        flat = g.reshape(len(phi), -1)
        term = w_energy * np.outer(phi, phi) + w_forces * flat @ flat.T
        cov = term if cov is None else cov + term
    assert cov is not None
    cov += 1e-8 * np.trace(cov) / len(cov) * np.eye(len(cov))
    inverse = np.linalg.inv(cov)
    sigma, error, seconds = [], [], []
    for structure in test:
        start = time.perf_counter()
        phi, g, forces = layer(structure.atoms)
        flat = g.reshape(len(phi), -1)
        sigma.append(np.sqrt(np.einsum("hk,hj,jk->k", flat, inverse, flat)).reshape(-1, 3))
        seconds.append(time.perf_counter() - start)
        error.append(forces - structure.forces)
    return {"sigma": np.concatenate(sigma), "error": np.concatenate(error), "s_per_structure": seconds}


def committee_sigma(name: str, test: list) -> dict:
    committee = load_for_inference(name, device=torch.device("cpu"), dtype=torch.float64)
    sigma, error, seconds = [], [], []
    for structure in test:
        graph = atoms_to_graph(
            structure.atoms, committee.config.species, committee.config.r_cut, dtype=torch.float64
        )
        positions = graph[keys.POSITIONS].requires_grad_(True)
        start = time.perf_counter()
        out = committee(graph)
        members = [
            -torch.autograd.grad(energy.sum(), positions, retain_graph=True)[0]
            for energy in out[keys.MEMBER_ENERGY]
        ]
        seconds.append(time.perf_counter() - start)
        stack = torch.stack(members).detach().numpy()
        sigma.append(stack.std(axis=0, ddof=1))
        error.append(stack.mean(axis=0) - structure.forces)
    return {"sigma": np.concatenate(sigma), "error": np.concatenate(error), "s_per_structure": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("committee", nargs="?", default="rmd17-ethanol-committee")
    parser.add_argument("--molecule", default="ethanol")
    parser.add_argument("--data", type=Path, default=RMD17)
    parser.add_argument("--train-frames", type=int, default=1000, help="first frames of train_01")
    parser.add_argument("--test-every", type=int, default=2, help="every k-th frame of test_01")
    parser.add_argument("--calibrate-fraction", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    quick.add_options(parser, out=False)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.data = quick.rmd17([args.molecule], train=6, test=6)
        args.train_frames, args.test_every = 6, 1
    train_path = args.data / f"rmd17_{args.molecule}_train_01.npz"
    test_path = args.data / f"rmd17_{args.molecule}_test_01.npz"
    train = read_structures(train_path)[: args.train_frames]
    test = read_structures(test_path)[:: args.test_every]
    member = load_model(committee_files(args.committee)[0], dtype=torch.float64)
    weights = member.metadata["training"]["train_config"]
    layer = LastLayer(member)
    results = {
        "llpr (member 0)": llpr_sigma(
            layer, train, test, (weights["energy_weight"], weights["forces_weight"])
        ),
        "committee": committee_sigma(args.committee, test),
    }
    frames = np.concatenate([np.full(len(s.atoms), k) for k, s in enumerate(test)])
    calibrate = frames < round(args.calibrate_fraction * len(test))
    table = {}
    print(f"{args.committee} on {len(test)} frames of {test_path} ({len(train)} training frames for LLPR)")
    header = ("estimate", "rho atom", "rho frame", "factor", "in 1/2/3 sigma", "ms/frame")
    print(
        "".join(
            f"{h:<18}" if k == 0 else f"{h:>{w}}" for k, (h, w) in enumerate(zip(header, WIDTHS, strict=True))
        )
    )
    for label, result in results.items():
        row = scores(result["sigma"], result["error"], frames, calibrate)
        row["ms_per_structure"] = 1000 * float(np.median(result["s_per_structure"]))
        table[label] = row
        cover = "/".join(f"{100 * c:.0f}" for c in row["coverage_1_2_3"])
        print(
            f"{label:<18}{row['spearman_atom']:>10.2f}{row['spearman_structure']:>11.2f}"
            f"{row['factor']:>9.2f}{cover + ' %':>20}{row['ms_per_structure']:>10.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
