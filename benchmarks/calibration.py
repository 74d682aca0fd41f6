"""How well a committee's spread predicts its error: ranking, coverage and recalibration.

For every labelled structure of each set, the committee's mean forces and energy and
their standard deviations over members (``ddof=1``) are compared with the reference:

- Spearman rank correlation of predicted against actual error: per atom (norm of the
  ``forces_std`` row against the norm of the force error) and per structure (RMS of
  those per-atom values against the force RMSE; and energy std against |energy error|);
- coverage: the fraction of force components (and energies) whose error lies within
  1, 2 and 3 predicted standard deviations (a calibrated Gaussian gives 68.3, 95.4, 99.7 %);
- a recalibration factor ``s = sqrt(mean(z^2))``, ``z = error / std``, fitted on the
  ``--calibrate`` set (for forces and energy separately) and applied to the others.

    python benchmarks/calibration.py runs/acac-fast-committee \\
        --calibrate valid=runs/acac/valid.xyz --sets test300=runs/acac/test_300K.xyz \\
        test600=../shared/data/acac/train_600K.xyz --json runs/calibration_acac.json

``--quick``: the shipped ethanol committee (unless one is named) on two sets of 6 rattled
ethanol structures labelled with EMT (``quick.py``), written to ``--out`` with the JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import quick
import torch

from se3t_calc import keys
from se3t_calc.derivatives import energy_and_derivatives
from se3t_calc.runtime import load_for_inference
from se3t_calc.train.data import read_structures
from se3t_calc.train.dataset import GraphDataset, batches

GAUSSIAN = {1: 0.683, 2: 0.954, 3: 0.997}


def predict(committee, path: str) -> dict[str, np.ndarray]:
    """Member forces (M, N, 3) and energies (M, S) of every structure of ``path``, with references."""
    frames = read_structures(path)
    data = GraphDataset(frames, committee.config.species, committee.config.r_cut)
    forces, energies = [], []
    e0 = np.zeros(len(committee.config.species))
    for batch in batches(data, range(len(data)), 50, e0, device=torch.device("cpu"), dtype=torch.float64):
        out = energy_and_derivatives(committee, batch)
        forces.append(out[keys.MEMBER_FORCES].detach().numpy())
        energies.append(out[keys.MEMBER_ENERGY].detach().numpy())
    return {
        "member_forces": np.concatenate(forces, axis=1),
        "member_energy": np.concatenate(energies, axis=1),
        "ref_forces": np.concatenate([s.forces for s in frames]),
        "ref_energy": np.array([s.energy for s in frames]),
        "atoms_per_frame": np.array([len(s.atoms) for s in frames]),
    }


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation of two samples (no ties expected in continuous data)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def errors_and_stds(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Errors and predicted standard deviations per component, atom, structure and energy."""
    f_err = p["member_forces"].mean(0) - p["ref_forces"]
    f_std = p["member_forces"].std(0, ddof=1)
    frame = np.repeat(np.arange(len(p["atoms_per_frame"])), p["atoms_per_frame"])
    atom_err, atom_std = np.linalg.norm(f_err, axis=1), np.linalg.norm(f_std, axis=1)
    count = np.bincount(frame)
    return {
        "f_err": f_err.ravel(),
        "f_std": f_std.ravel(),
        "atom_err": atom_err,
        "atom_std": atom_std,
        "frame_err": np.sqrt(np.bincount(frame, (f_err**2).sum(1)) / (3 * count)),
        "frame_std": np.sqrt(np.bincount(frame, atom_std**2) / count),
        "e_err": p["member_energy"].mean(0) - p["ref_energy"],
        "e_std": p["member_energy"].std(0, ddof=1),
    }


def scores(q: dict[str, np.ndarray], s_forces: float = 1.0, s_energy: float = 1.0) -> dict[str, float]:
    """Accuracy, ranking and coverage of one set, the stds scaled by ``s``."""
    out = {
        "forces_mae_meV_per_A": 1000 * float(np.abs(q["f_err"]).mean()),
        "mean_atom_std_meV_per_A": 1000 * float(q["atom_std"].mean()),
        "mean_atom_error_meV_per_A": 1000 * float(q["atom_err"].mean()),
        "spearman_atom": spearman(q["atom_std"], q["atom_err"]),
        "spearman_frame": spearman(q["frame_std"], q["frame_err"]),
        "spearman_energy": spearman(q["e_std"], np.abs(q["e_err"])),
    }
    zf = np.abs(q["f_err"]) / (s_forces * q["f_std"])
    ze = np.abs(q["e_err"]) / (s_energy * q["e_std"])
    for k in GAUSSIAN:
        out[f"forces_within_{k}_std"] = float((zf <= k).mean())
        out[f"energy_within_{k}_std"] = float((ze <= k).mean())
    return out


def recalibration(q: dict[str, np.ndarray]) -> tuple[float, float]:
    """``sqrt(mean(z^2))`` for force components and for energies: the std multipliers."""
    return (
        float(np.sqrt(np.mean((q["f_err"] / q["f_std"]) ** 2))),
        float(np.sqrt(np.mean((q["e_err"] / q["e_std"]) ** 2))),
    )


def _within(row: dict[str, float], quantity: str) -> str:
    return " / ".join(f"{100 * row[f'{quantity}_within_{k}_std']:.0f}" for k in GAUSSIAN)


def _named(items: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


def quick_settings(args: argparse.Namespace) -> None:
    """``--quick``: two small EMT-labelled ethanol sets in ``--out``, the JSON there too."""
    out = quick.folder(args.out)
    args.committee = args.committee or "rmd17-ethanol-committee"
    valid = quick.write_labelled(out / "valid.xyz", "ethanol", 6, seed=1)
    test = quick.write_labelled(out / "test.xyz", "ethanol", 6, seed=2)
    args.calibrate, args.sets = f"valid={valid}", [f"test={test}"]
    args.json = args.json or str(out / "calibration.json")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("committee", nargs="?", help="committee folder or shipped name")
    parser.add_argument("--calibrate", help="NAME=FILE: the set the recalibration factor is fitted on")
    parser.add_argument("--sets", nargs="+", help="NAME=FILE sets to score (required)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write every number here")
    quick.add_options(parser)
    args = parser.parse_args()
    if args.quick:
        quick_settings(args)
    if args.committee is None or not args.sets:
        parser.error("give the committee and --sets (or --quick)")
    torch.set_num_threads(args.threads)
    committee = load_for_inference(args.committee, device=torch.device("cpu"), dtype=torch.float64)
    named = _named(([args.calibrate] if args.calibrate else []) + args.sets)
    data = {name: errors_and_stds(predict(committee, path)) for name, path in named.items()}
    s_f, s_e = recalibration(data[args.calibrate.split("=")[0]]) if args.calibrate else (1.0, 1.0)
    rows = {name: {"raw": scores(q), "recalibrated": scores(q, s_f, s_e)} for name, q in data.items()}
    report(rows, s_f, s_e)
    if args.json:
        Path(args.json).write_text(json.dumps({"factors": [s_f, s_e], "sets": rows}, indent=1) + "\n")


def report(rows: dict, s_f: float, s_e: float) -> None:
    print(f"recalibration factors: forces {s_f:.3f}, energy {s_e:.3f}")
    print(
        "| set | F MAE | mean σ_F / mean |ΔF| (atom) | Spearman atom / frame / energy "
        "| F within 1/2/3 σ (raw) | F within 1/2/3 σ (recal.) | E within 1/2/3 σ (recal.) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows.items():
        raw, cal = r["raw"], r["recalibrated"]
        ranks = " / ".join(f"{raw[f'spearman_{k}']:.2f}" for k in ("atom", "frame", "energy"))
        spread = f"{raw['mean_atom_std_meV_per_A']:.1f} / {raw['mean_atom_error_meV_per_A']:.1f}"
        print(
            f"| {name} | {raw['forces_mae_meV_per_A']:.1f} | {spread} | {ranks} | {_within(raw, 'forces')} "
            f"| {_within(cal, 'forces')} | {_within(cal, 'energy')} |"
        )
    print("(Gaussian: 68 / 95 / 100 %; σ_F per atom is the norm of the forces_std row, meV/Å)")


if __name__ == "__main__":
    main()
