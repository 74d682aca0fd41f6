"""One round of ``se3t learn``: every member trained on all frames labelled so far."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from se3t_calc.checkpoint import atomic_save, read_checkpoint
from se3t_calc.learn.settings import LearnConfig
from se3t_calc.train.committee import member_config
from se3t_calc.train.config import TrainConfig
from se3t_calc.train.trainer import train


def train_round(
    config: LearnConfig, run_dir: Path, round_: int, *, frames: int, steps: int, seconds: float | None
) -> float:
    """Train the committee of ``round_`` into ``run_dir/round_K/member_k.pt``; resumable.

    Round 0 starts from random weights; later rounds start each member from its model
    of the round before. Members share the
    validation frames and differ in weights and data order.

    Parameters
    ----------
    config : LearnConfig
    run_dir : Path
        The run folder, with ``data.xyz`` and ``isolated_atoms.xyz``.
    round_ : int
    frames : int
        Labelled frames in ``data.xyz``.
    steps : int
        Optimiser steps of each member.
    seconds : float or None
        Wall time left to the run; each member gets its share.

    Returns
    -------
    float
        Mean over members of the validation force MAE of their best models, meV/Å.
    """
    folder = run_dir / f"round_{round_}"
    base = TrainConfig(
        **{
            **config.train,
            "train_file": str(run_dir / "data.xyz"),
            "atomic_energies": str(run_dir / "isolated_atoms.xyz"),
            "output_dir": str(folder),
            "seed": config.seed,
            "epochs": _epochs(config, steps, frames),
            "threads": config.threads,
            "device": "cpu",
        }
    )
    errors = []
    for k in range(config.committee):
        final = folder / f"member_{k}.pt"
        if not final.is_file():
            member = member_config(base, k)
            if round_ > 0:
                previous = run_dir / f"round_{round_ - 1}" / f"member_{k}.pt"
                member = dataclasses.replace(member, init_from=str(previous))
            if seconds is not None:
                member = dataclasses.replace(member, max_time=f"{max(seconds / config.committee, 5.0):.0f}s")
            best = train(member, dict(config.model), resume=True)
            atomic_save(read_checkpoint(best), final)
        errors.append(read_checkpoint(final)["metadata"]["training"]["metrics"]["valid_forces_mae_meV_per_A"])
    return sum(errors) / len(errors)


def _epochs(config: LearnConfig, steps: int, frames: int) -> int:
    """Epochs that make ``steps`` optimiser steps, at least one."""
    fitted = frames - _validation_frames(config.train.get("valid_size", 0.05), frames)
    return max(1, math.ceil(steps * int(config.train.get("batch_size", 5)) / max(fitted, 1)))


def _validation_frames(size: float, frames: int) -> int:
    return int(size) if size >= 1 else max(1, round(size * frames))
