"""``se3t train`` as a function: lock the run folder, resume or start, fit, test the best model."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch

from se3t_calc.checkpoint import atomic_save, atomic_write_text, model_from_dict, read_checkpoint
from se3t_calc.config import ModelConfig
from se3t_calc.model import SE3TModel
from se3t_calc.runtime import resolve_device
from se3t_calc.train.config import TrainConfig
from se3t_calc.train.distributed import Cluster, init_cluster, shutdown
from se3t_calc.train.lock import remove_stale_temporaries, run_folder_lock
from se3t_calc.train.metrics import best_epoch_summary, format_table, log_line, read_log
from se3t_calc.train.plots import learning_curve
from se3t_calc.train.prepare import Prepared, prepare
from se3t_calc.train.resume import (
    check_same_data,
    data_fingerprint,
    describe_changes,
    resumed_settings,
    verify_run_state,
)
from se3t_calc.train.scoring import evaluate
from se3t_calc.train.trainer import BEST, LAST, LOG, Trainer
from se3t_calc.train.warm_start import initial_model


def train(
    config: TrainConfig,
    model_settings: dict[str, Any] | None = None,
    *,
    resume: bool = False,
    given: Collection[str] | None = None,
) -> Path:
    """Run ``se3t train``: prepare data, build or resume, fit, test the best model.

    Parameters
    ----------
    config : TrainConfig
    model_settings : dict, optional
        :class:`ModelConfig` fields; ``species`` defaults to the elements of the data.
    resume : bool
        Continue from ``output_dir/last.pt`` when it exists. The stored settings are
        kept; of those in ``config`` that differ, the budget and runtime ones
        (:data:`se3t_calc.train.resume.MUTABLE`: a larger ``epochs`` or ``max_time``
        extends a finished run) are applied and printed, any other is refused.
    given : collection of str, optional
        Names of the :class:`TrainConfig` fields set explicitly (a settings file or
        flags), compared on resume; default all.

    Returns
    -------
    Path
        The best model file, loadable by :class:`se3t_calc.SE3TCalculator`.

    Raises
    ------
    ValueError
        The folder holds a run and ``resume`` is False, another process trains into
        it, or a setting that cannot change was changed on resume.
    """
    main = int(os.environ.get("RANK", "0")) == 0  # torchrun: rank 0 owns the folder
    with run_folder_lock(config.output_dir) if main else contextlib.nullcontext():
        if main:
            for path in remove_stale_temporaries(config.output_dir):
                print(f"removed {path}, left by an interrupted save", flush=True)
        last = Path(config.output_dir) / LAST
        if last.is_file() and not resume:
            raise ValueError(
                f"{config.output_dir} already holds a run ({LAST}); continue it with --resume "
                "or choose another --output-dir"
            )
        state = read_checkpoint(last) if resume and last.is_file() else None
        changes: list[str] = []
        if state is not None:
            for note in verify_run_state(last, state):
                print(note, flush=True)
            config, model_settings, changes = resumed_settings(
                state, config, dict(model_settings or {}), given
            )
        fingerprint = data_fingerprint(config) if config.train_file else {}
        if state is not None:
            check_same_data(last, state, config, fingerprint)
        if config.threads:
            torch.set_num_threads(config.threads)
        cluster = init_cluster(resolve_device(config.device).type)
        try:
            return _run(config, dict(model_settings or {}), state, cluster, changes, fingerprint)
        finally:
            shutdown(cluster)


def _run(
    config: TrainConfig,
    settings: dict[str, Any],
    state: dict | None,
    cluster: Cluster,
    changes: list[str],
    fingerprint: dict[str, str],
) -> Path:
    source = initial_model(config.init_from, settings) if state is None and config.init_from else None
    if source is not None:
        settings = source.config.to_dict()
    cutoff = float(settings.get("r_cut", ModelConfig.r_cut))
    prepared = prepare(config, settings.get("species"), cutoff, None if state is None else state["split"])
    torch.manual_seed(config.seed)
    if source is None:
        model = SE3TModel(ModelConfig(**{**settings, "species": prepared.species}))
        set_statistics(model, prepared)
    else:
        model = source
        prepared.scale, prepared.shift = float(model.readout.scale), float(model.readout.shift)
        prepared.e0_note += f"; weights, scale and shift from {config.init_from}"
    trainer = Trainer(config, prepared, model, cluster)
    trainer.fingerprint = fingerprint
    out = Path(config.output_dir)
    if state is not None:
        trainer.load_state_dict(state["training_state"])
        _truncate_log(out / LOG, trainer.epoch)
        trainer.say(f"resuming {out / LAST} after epoch {trainer.epoch} ({trainer.elapsed:.0f} s)")
        rate = trainer.schedule.rate(trainer.step, trainer.elapsed)
        trainer.say(describe_changes(changes, config, new_rate=rate, old_rate=trainer._lr()))
    elif cluster.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / LOG).unlink(missing_ok=True)
    params = sum(p.numel() for p in model.parameters())
    resolved = {"model": model.config.to_dict(), "train": config.to_dict()}
    trainer.say(json.dumps(resolved, indent=1))
    trainer.say(prepared.describe() + f"\nmodel: {params} parameters on {trainer.device}, {config.dtype}")
    trainer.fit()
    if cluster.is_main:
        _finish(trainer, out)
    return out / BEST


def set_statistics(model: SE3TModel, prepared: Prepared) -> None:
    """Put the training set's energy scale and shift and the repulsion onsets into ``model``."""
    model.readout.scale.fill_(prepared.scale)
    per_coordination = model.config.isolated_atom_limit
    model.readout.shift.fill_(prepared.shift_per_coordination if per_coordination else prepared.shift)
    if model.repulsion is not None:
        onset = torch.as_tensor(prepared.repulsion_onset, dtype=model.repulsion.r_outer.dtype)
        model.repulsion.r_outer.copy_(onset)


def _finish(trainer: Trainer, out: Path) -> None:
    learning_curve(out / LOG, out / "learning_curve.png")
    best = read_checkpoint(out / BEST)
    print(best_epoch_summary(best["metadata"]["training"]["metrics"], trainer.epoch, out / BEST), flush=True)
    test = trainer.data.test
    if test is None:
        return
    model = model_from_dict(best).to(device=trainer.device, dtype=torch.float64).eval()
    errors = evaluate(model, test, batch_size=trainer.config.valid_batch_size, device=trainer.device)
    summary = errors.summary()
    print(f"test set ({trainer.config.test_file}), best model, float64:")
    print(format_table(summary, model.config.species))
    best["metadata"]["training"]["test_metrics"] = summary
    atomic_save(best, out / BEST)
    atomic_write_text(out / "test_metrics.json", json.dumps(summary, indent=1) + "\n")


def _truncate_log(path: Path, epoch: int) -> None:
    """Drop log lines of epochs after the checkpoint (a run killed between log and save), and a
    last line torn by a kill while it was written."""
    if path.is_file():
        records = [record for record in read_log(path) if record["epoch"] <= epoch]
        atomic_write_text(path, "".join(log_line(record) for record in records))
