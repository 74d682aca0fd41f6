"""One round of ``se3t learn``: every member trained on all frames labelled so far."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from se3t_calc.checkpoint import atomic_save, read_checkpoint
from se3t_calc.learn.settings import LearnConfig
from se3t_calc.train.committee import member_config
from se3t_calc.train.config import TrainConfig
from se3t_calc.train.run import train
from se3t_calc.train.trainer import FORCE_MAE


def train_round(
    config: LearnConfig,
    run_dir: Path,
    round_: int,
    *,
    frames: int,
    steps: int,
    seconds: float | None,
    pool: Executor | None = None,
) -> float:
    """Train the committee of ``round_`` into ``run_dir/round_K/member_k.pt``; resumable.

    Round 0 starts from random weights; later rounds start each member from its model
    of the round before. Members share the validation frames and differ in weights
    and data order. Their training output goes to ``round_K/member_k/train.out``.

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
    pool : concurrent.futures.Executor, optional
        Trains the members in parallel, one process each (see :func:`member_pool`).

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
            "threads": 1 if pool is not None else config.threads,
            "device": "cpu",
        }
    )
    waves = math.ceil(config.committee / (config.workers if pool is not None else 1))
    jobs = []
    for k in range(config.committee):
        member = member_config(base, k)
        if round_ > 0:
            previous = run_dir / f"round_{round_ - 1}" / f"member_{k}.pt"
            member = dataclasses.replace(member, init_from=str(previous))
        if seconds is not None:
            member = dataclasses.replace(member, max_time=f"{max(seconds / waves, 5.0):.0f}s")
        jobs.append((member, dict(config.model), folder / f"member_{k}.pt"))
    finals = list(pool.map(_train_member, jobs)) if pool is not None else [_train_member(job) for job in jobs]
    errors = [read_checkpoint(f)["metadata"]["training"]["metrics"][FORCE_MAE] for f in finals]
    return sum(errors) / len(errors)


def member_pool(workers: int) -> Executor:
    """Processes that train members side by side (spawned: torch does not survive a fork)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _train_member(job: tuple[TrainConfig, dict[str, Any], Path]) -> Path:
    """Train one member unless its model is there; returns the model file."""
    member, settings, final = job
    if not final.is_file():
        log = Path(member.output_dir) / "train.out"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as out, contextlib.redirect_stdout(out):
            best = train(member, settings, resume=True)
        atomic_save(read_checkpoint(best), final)
    return final


def _epochs(config: LearnConfig, steps: int, frames: int) -> int:
    """Epochs that make ``steps`` optimiser steps, at least one."""
    fitted = frames - _validation_frames(config.train.get("valid_size", 0.05), frames)
    return max(1, math.ceil(steps * int(config.train.get("batch_size", 5)) / max(fitted, 1)))


def _validation_frames(size: float, frames: int) -> int:
    return int(size) if size >= 1 else max(1, round(size * frames))
