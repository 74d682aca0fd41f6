"""``se3t train --committee N``: members trained one after another into one committee folder."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch

from se3t_calc.checkpoint import atomic_save, atomic_write_text, read_checkpoint
from se3t_calc.pretrained import MEMBER_GLOB
from se3t_calc.runtime import load_for_inference, resolve_device
from se3t_calc.train.config import TrainConfig
from se3t_calc.train.dataset import GraphDataset
from se3t_calc.train.metrics import format_table
from se3t_calc.train.prepare import structure_reader
from se3t_calc.train.run import train
from se3t_calc.train.scoring import evaluate


def member_config(config: TrainConfig, k: int) -> TrainConfig:
    """Settings of member ``k``: seed ``seed + k`` (weights and data order), the split of member 0.

    Member 0 is an ordinary run with ``config``'s settings.
    """
    if k == 0:
        return dataclasses.replace(config, output_dir=str(Path(config.output_dir) / "member_0"))
    return dataclasses.replace(
        config,
        seed=config.seed + k,
        split_seed=config.seed if config.split_seed is None else config.split_seed,
        output_dir=str(Path(config.output_dir) / f"member_{k}"),
    )


def train_committee(
    config: TrainConfig,
    model_settings: dict[str, Any] | None,
    *,
    members: int,
    resume: bool = False,
    given: Collection[str] | None = None,
) -> Path:
    """Train ``members`` models into ``output_dir/member_k/`` and gather them as a committee.

    Each finished member's best model is copied to ``output_dir/member_k.pt``, so that
    ``SE3TCalculator(output_dir)`` loads the committee; a member whose file is there
    is not trained again, so a killed committee run continues with ``resume`` where
    it stopped. With a test file, the committee's mean predictions are scored on it
    at the end (``output_dir/test_metrics.json``).

    Returns
    -------
    Path
        The committee folder.
    """
    if members < 2:
        raise ValueError(f"--committee {members}: a committee needs at least 2 members")
    out = Path(config.output_dir)
    trained = [f"member_{k}.pt" for k in range(members) if (out / f"member_{k}.pt").is_file()]
    if trained and not resume:
        raise ValueError(
            f"{out} already holds {', '.join(trained)} of an earlier committee run; continue it with "
            "--resume (trained members are kept, whatever the settings now), or choose another --output-dir"
        )
    for k in range(members):
        final = out / f"member_{k}.pt"
        if final.is_file():
            print(f"member {k}: {final} is trained; skipped", flush=True)
            continue
        best = train(member_config(config, k), model_settings, resume=resume, given=given)
        atomic_save(read_checkpoint(best), final)
    extra = sorted(set(out.glob(MEMBER_GLOB)) - {out / f"member_{k}.pt" for k in range(members)})
    if extra:
        print(f"note: {out} also holds {[p.name for p in extra]}, which the committee includes", flush=True)
    if config.test_file:
        _score(config, out, config.test_file)
    return out


def _score(config: TrainConfig, out: Path, test_file: str) -> None:
    """Errors of the committee's mean on ``test_file``, printed and written as JSON."""
    device = resolve_device(config.device)
    committee = load_for_inference(out, device=device, dtype=torch.float64)
    species, r_cut = committee.config.species, committee.config.r_cut
    test = GraphDataset(structure_reader(config)(test_file), species, r_cut)
    errors = evaluate(committee, test, batch_size=config.valid_batch_size, device=device)
    summary = errors.summary()
    print(f"test set ({test_file}), committee mean of the members in {out}, float64:")
    print(format_table(summary, species))
    atomic_write_text(out / "test_metrics.json", json.dumps(summary, indent=1) + "\n")
