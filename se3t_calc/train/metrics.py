"""Errors of predictions against references: MAE and RMSE tables."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


class ErrorAccumulator:
    """Collects prediction errors batch by batch (numpy, float64, eV and Å)."""

    def __init__(self, species: Sequence[str]):
        self.species = list(species)
        self.energy: list[np.ndarray] = []  # (B,) eV
        self.natoms: list[np.ndarray] = []  # (B,)
        self.forces: list[np.ndarray] = []  # (N, 3) eV/Å
        self.atom_species: list[np.ndarray] = []  # (N,)
        self.stress: list[np.ndarray] = []  # (B', 3, 3) eV/Å^3
        self.ref_energy: list[np.ndarray] = []  # (B,) eV, for parity plots
        self.ref_forces: list[np.ndarray] = []  # (N, 3) eV/Å

    def add(
        self,
        energy: tuple[np.ndarray, np.ndarray],
        forces: tuple[np.ndarray, np.ndarray] | None,
        natoms: np.ndarray,
        species: np.ndarray,
        stress_error: np.ndarray | None = None,
    ) -> None:
        """Add one batch: (predicted, reference) energies (B,) and forces (N, 3) or None, stress errors."""
        self.energy.append(energy[0] - energy[1])
        self.ref_energy.append(energy[1])
        self.natoms.append(natoms)
        if forces is not None:
            self.forces.append(forces[0] - forces[1])
            self.ref_forces.append(forces[1])
            self.atom_species.append(species)
        if stress_error is not None and len(stress_error):
            self.stress.append(stress_error)

    def summary(self) -> dict[str, float]:
        """MAE/RMSE in meV (energy), meV/atom, meV/Å (forces, also per element), meV/Å^3."""
        e = np.concatenate(self.energy)
        e_atom = e / np.concatenate(self.natoms)
        out = {
            "structures": float(len(e)),
            "energy_mae_meV": _mae(e),
            "energy_rmse_meV": _rmse(e),
            "energy_mae_meV_per_atom": _mae(e_atom),
            "energy_rmse_meV_per_atom": _rmse(e_atom),
        }
        if self.forces:
            out.update(self._force_summary())
        if self.stress:
            s = np.concatenate(self.stress)
            out["stress_mae_meV_per_A3"] = _mae(s)
            out["stress_rmse_meV_per_A3"] = _rmse(s)
        return out

    def _force_summary(self) -> dict[str, float]:
        f = np.concatenate(self.forces)
        species = np.concatenate(self.atom_species)
        out = {"forces_mae_meV_per_A": _mae(f), "forces_rmse_meV_per_A": _rmse(f)}
        for k, symbol in enumerate(self.species):
            if (species == k).any():
                out[f"forces_mae_meV_per_A_{symbol}"] = _mae(f[species == k])
                out[f"forces_rmse_meV_per_A_{symbol}"] = _rmse(f[species == k])
        return out


def energy_profile(errors: ErrorAccumulator) -> str:
    """Model against reference energy along the data (a scan), each relative to its minimum.

    Returns
    -------
    str
        One line per structure (meV), then the largest deviation and both barrier
        heights (maximum minus minimum of each profile).
    """
    ref = 1000 * np.concatenate(errors.ref_energy)
    model = ref + 1000 * np.concatenate(errors.energy)
    ref, model = ref - ref.min(), model - model.min()
    lines = [f"{'frame':>6}{'reference meV':>16}{'model meV':>12}{'model - ref':>13}"]
    lines += [
        f"{k:6d}{r:16.2f}{m:12.2f}{m - r:13.2f}" for k, (r, m) in enumerate(zip(ref, model, strict=True))
    ]
    lines.append(
        f"largest deviation {np.abs(model - ref).max():.2f} meV; barrier (max - min): "
        f"reference {ref.max():.2f} meV, model {model.max():.2f} meV"
    )
    return "\n".join(lines)


def worst_structures(errors: ErrorAccumulator, count: int) -> list[dict[str, float]]:
    """The ``count`` structures with the largest force error on one atom, worst first.

    Returns
    -------
    list of dict
        Per structure: ``index`` in the data (from 0), ``atom`` (its index in the
        structure) and ``max_force_error_meV_per_A`` (norm of that atom's force error),
        the structure's ``forces_mae_meV_per_A`` and ``energy_error_meV`` (model minus
        reference).
    """
    forces = np.split(np.concatenate(errors.forces), np.cumsum(np.concatenate(errors.natoms))[:-1])
    energy = np.concatenate(errors.energy)
    norms = [np.linalg.norm(f, axis=1) for f in forces]
    atom = np.array([n.argmax() for n in norms])
    peak = np.array([n[a] for n, a in zip(norms, atom, strict=True)])
    order = np.argsort(-peak, kind="stable")[:count]
    return [
        {
            "index": int(k),
            "atom": int(atom[k]),
            "max_force_error_meV_per_A": 1000 * float(peak[k]),
            "forces_mae_meV_per_A": _mae(forces[k]),
            "energy_error_meV": 1000 * float(energy[k]),
        }
        for k in order
    ]


def format_worst(rows: list[dict[str, float]]) -> str:
    """Table of :func:`worst_structures`."""
    lines = [f"{'structure':>9} {'atom':>5} {'max |dF| meV/Å':>15} {'F MAE meV/Å':>12} {'dE meV':>9}"]
    lines += [  # one space between columns, so that large numbers widen a column, not merge
        f"{r['index']:9d} {r['atom']:5d} {r['max_force_error_meV_per_A']:15.1f} "
        f"{r['forces_mae_meV_per_A']:12.2f} {r['energy_error_meV']:9.2f}"
        for r in rows
    ]
    return "\n".join(lines)


def _mae(x: np.ndarray) -> float:
    return float(1000 * np.mean(np.abs(x)))


def _rmse(x: np.ndarray) -> float:
    return float(1000 * np.sqrt(np.mean(x**2)))


def format_table(summary: dict[str, float], species: Sequence[str]) -> str:
    """Human-readable MAE / RMSE table of :meth:`ErrorAccumulator.summary`."""
    rows = [
        ("energy (meV)", "energy_mae_meV", "energy_rmse_meV"),
        ("energy (meV/atom)", "energy_mae_meV_per_atom", "energy_rmse_meV_per_atom"),
        ("forces (meV/Å)", "forces_mae_meV_per_A", "forces_rmse_meV_per_A"),
    ]
    rows += [
        (f"  forces on {s} (meV/Å)", f"forces_mae_meV_per_A_{s}", f"forces_rmse_meV_per_A_{s}")
        for s in species
    ]
    rows.append(("stress (meV/Å^3)", "stress_mae_meV_per_A3", "stress_rmse_meV_per_A3"))
    lines = [f"{int(summary['structures'])} structures", f"{'quantity':<26}{'MAE':>12}{'RMSE':>12}"]
    for label, mae, rmse in rows:
        if mae in summary:
            lines.append(f"{label:<26}{summary[mae]:12.3f}{summary[rmse]:12.3f}")
    return "\n".join(lines)


def best_epoch_summary(record: dict[str, float], epochs: int, path: str | Path) -> str:
    """One line naming the best epoch of a run, its validation errors and the model file.

    Parameters
    ----------
    record : dict
        The epoch's log record, as stored in the best model's training metadata.
    epochs : int
        Epochs the run trained.
    path : str or Path
        The best model file.
    """
    return (
        f"best model: epoch {record['epoch']} of {epochs}, validation MAE "
        f"E {record['valid_energy_mae_meV']:.2f} meV, F {record['valid_forces_mae_meV_per_A']:.2f} meV/Å; "
        f"saved as {path}"
    )


def log_line(record: dict[str, Any]) -> str:
    """One line of ``metrics.jsonl``: strict JSON, a non-finite number written as ``null``."""
    strict = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}
    return json.dumps(strict, allow_nan=False) + "\n"


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` log, one per epoch.

    Blank lines are skipped, and so is a last line that is not complete JSON: the line
    a run killed while writing it leaves.

    Raises
    ------
    ValueError
        Any other line that is not a JSON object with an ``epoch``; the message names
        the file and the line.
    """
    lines = [(n, line) for n, line in enumerate(Path(path).read_text().splitlines(), start=1) if line.strip()]
    records = []
    for number, line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if number == lines[-1][0]:  # torn by a kill during the write
                break
            raise ValueError(f"{path}, line {number}: not JSON ({err}); repair or delete that line") from None
        if not isinstance(record, dict) or not isinstance(record.get("epoch"), int):
            raise ValueError(
                f"{path}, line {number}: not an epoch record (no integer 'epoch'); repair or delete that line"
            )
        records.append(record)
    return records
