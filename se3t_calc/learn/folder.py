"""The folder of a ``se3t learn`` run: its files, read and written atomically.

The run folder holds everything, written atomically as it goes, so a killed run
continues with ``resume`` and loses no labelled frame::

    settings.json        the settings (budgets may change on resume)
    state.json           reference calls and seconds, failures, elapsed time, stop reason
    isolated_atoms.xyz   E0 of every element from the reference
    data.xyz             every labelled frame (extxyz, readable by ``se3t train``)
    pending.xyz          frames chosen but not yet labelled
    walkers.xyz          where the exploration MD's walkers are, with their momenta
    rounds.json          one record per round
    round_K/member_M/    training runs; round_K/member_M.pt their best models
    member_M.pt          the committee of the last round: ``SE3TCalculator(folder)``
    validation_TK.xyz    independent reference MD, and validation.json its scores
    card.json            the summary: cost, frames, validation errors
    learn.log, learning_curve.png; round_K/member_M/train.out the training output
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.io import read, write

from se3t_calc.checkpoint import atomic_write_text

# the files a run writes into its folder (besides member_*.pt and round_K/)
RUN_FILES = ("settings.json", "state.json", "start.xyz", "isolated_atoms.xyz", "data.xyz", "pending.xyz",
             "walkers.xyz", "rounds.json", "validation.json", "card.json", "learn.log",
             "learning_curve.png")  # fmt: skip


def new_state() -> dict[str, Any]:
    """``state.json`` of a new run: counters at zero, no failures, not stopped."""
    counters = ["calls", "reference_s", "elapsed_s", "next_id", "explorations", "validation_calls"]
    counters.append("validation_s")
    return {**dict.fromkeys(counters, 0), "failed": [], "stop": None}


def read_json(path: Path, default: Any) -> Any:
    """The JSON in ``path``, or ``default`` where there is no such file."""
    return json.loads(path.read_text()) if path.is_file() else default


def labelled_nothing(folder: Path) -> bool:
    """A run folder whose run stopped before a label was kept (no E0, no frame): nothing to lose."""
    return not any((folder / name).exists() for name in ("isolated_atoms.xyz", "data.xyz", "rounds.json"))


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=1) + "\n")


def read_frames(path: Path) -> list[Atoms]:
    """Every frame of an extxyz file, with its info and arrays; none where there is no file."""
    if not path.is_file() or path.stat().st_size == 0:
        return []
    frames = read(path, index=":", format="extxyz")
    return frames if isinstance(frames, list) else [frames]


def write_frames(path: Path, frames: list[Atoms]) -> None:
    """``frames`` as one extxyz file, atomically (a killed run never leaves half a file)."""
    buffer = io.StringIO()
    write(buffer, frames, format="extxyz")
    atomic_write_text(path, buffer.getvalue())
