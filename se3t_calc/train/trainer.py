"""The training loop: AdamW, schedule, EMA, clipping, checkpoints, resume, budgets."""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from se3t_calc import keys
from se3t_calc.checkpoint import atomic_save, model_to_dict
from se3t_calc.derivatives import energy_and_derivatives
from se3t_calc.model import SE3TModel
from se3t_calc.progress import ProgressBar
from se3t_calc.runtime import resolve_device, resolve_dtype
from se3t_calc.train.compiled import CompiledDerivatives
from se3t_calc.train.config import TrainConfig
from se3t_calc.train.dataset import batch_tensors
from se3t_calc.train.distributed import Cluster, average_gradients, barrier
from se3t_calc.train.ema import ExponentialMovingAverage
from se3t_calc.train.loss import loss_terms, weighted_total
from se3t_calc.train.metrics import log_line
from se3t_calc.train.prepare import Prepared
from se3t_calc.train.resume import sign
from se3t_calc.train.schedule import LearningRateSchedule
from se3t_calc.train.scoring import evaluate

BEST, LAST, LOG = "best.pt", "last.pt", "metrics.jsonl"
FORCE_MAE, ENERGY_MAE = "valid_forces_mae_meV_per_A", "valid_energy_mae_meV"


class TrainingDivergedError(ValueError):
    """The loss, the gradients or the validation errors became NaN or infinite."""


class Trainer:
    """Owns the model, its EMA copy, the optimiser and the schedule of one run.

    Parameters
    ----------
    config : TrainConfig
    prepared : Prepared
        Data, split and statistics (see :func:`se3t_calc.train.prepare.prepare`).
    model : SE3TModel
        With scale and shift set and zero atomic energies (they are subtracted
        from the labels instead, in float64).
    cluster : Cluster
    """

    def __init__(self, config: TrainConfig, prepared: Prepared, model: SE3TModel, cluster: Cluster):
        if config.compile and model.config.convolution == "so2":
            raise ValueError(
                "TrainConfig.compile=True cannot train a model with convolution='so2': torch.compile "
                "(inductor, torch 2.13, CPU) miscompiles its product in the traced training step; "
                "train it with compile=False (the calculator still compiles it, running that product eagerly)"
            )
        self.config, self.data, self.cluster = config, prepared, cluster
        self.device = resolve_device(config.device)
        if self.device.type == "cuda" and cluster.world_size > 1:
            self.device = torch.device("cuda", cluster.local_rank)
        self.dtype = resolve_dtype(config.dtype)
        self.model = model.to(device=self.device, dtype=self.dtype)
        self.ema = ExponentialMovingAverage(self.model, config.ema_decay)
        self.derivatives = (
            CompiledDerivatives(self.model)
            if config.compile
            else functools.partial(energy_and_derivatives, self.model, training=True)
        )
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay, amsgrad=config.amsgrad
        )
        steps_per_epoch = math.ceil(len(prepared.train_idx) / (config.batch_size * cluster.world_size))
        self.schedule = LearningRateSchedule(
            self.optimizer,
            config.schedule,
            config.lr,
            warmup_steps=round(config.warmup_epochs * steps_per_epoch),
            total_steps=config.epochs * steps_per_epoch,
            max_seconds=config.max_seconds,
            min_factor=config.min_lr_factor,
            factor=config.plateau_factor,
            patience=config.plateau_patience,
        )
        self.weights = {
            "energy": config.energy_weight,
            "forces": config.forces_weight,
            "stress": config.stress_weight,
        }
        self.shuffle = torch.Generator().manual_seed(config.seed)
        self.epoch = self.step = 0
        self.stage = 1
        self.elapsed = 0.0
        self.best = math.inf
        self.bad_epochs = 0
        self.out = Path(config.output_dir)
        self.metric = _selection_metric(prepared, model.config.isolated_atom_limit)
        self.fingerprint: dict[str, str] = {}  # sha256 of the data files, stored in last.pt

    # ------------------------------------------------------------------ epochs
    def progress(self) -> float:
        """Fraction of the budget used: the larger of epochs and wall time."""
        done = self.epoch / self.config.epochs
        budget = self.config.max_seconds
        return max(done, self.elapsed / budget) if budget else done

    def _enter_stage_two(self) -> None:
        """Raise the energy weight once the budget passes ``stage_two``.

        The best model is then chosen among second-stage epochs only, so the model
        kept has the more accurate energies of that stage.
        """
        start = self.config.stage_two
        if self.stage == 2 or start is None or self.progress() < start:
            return
        self.stage, self.best, self.bad_epochs = 2, math.inf, 0
        self.weights["energy"] = self.config.stage_two_energy_weight
        self.say(f"second stage from epoch {self.epoch + 1}: energy weight {self.weights['energy']:g}")

    def train_epoch(self) -> dict[str, float]:
        """One pass over the training split; returns mean loss terms and throughput."""
        self._enter_stage_two()
        self.model.train()
        order = self.data.train_idx[torch.randperm(len(self.data.train_idx), generator=self.shuffle).numpy()]
        size, world = self.config.batch_size, self.cluster.world_size
        chunks = [order[k : k + size * world] for k in range(0, len(order), size * world)]
        mine = [c[self.cluster.rank * size : (self.cluster.rank + 1) * size] for c in chunks]
        bar = ProgressBar(len(mine), f"epoch {self.epoch + 1}", enabled=self.cluster.is_main)
        sums: dict[str, float] = {}
        start = time.perf_counter()
        for k, indices in enumerate(mine):
            batch = batch_tensors(
                self.data.train, indices, self.data.atomic_energies, device=self.device, dtype=self.dtype
            )
            for name, value in self._train_step(batch, start).items():
                sums[name] = sums.get(name, 0.0) + value
            bar.update(k + 1, f"loss {sums['loss'] / (k + 1):.4g}")
        bar.close()
        seconds = time.perf_counter() - start
        self.epoch += 1
        means = {f"train_{name}": value / max(len(mine), 1) for name, value in sums.items()}
        return {**means, "structures_per_s": len(order) / seconds, "epoch_s": seconds}

    def _train_step(self, batch: dict[str, torch.Tensor], epoch_start: float) -> dict[str, float]:
        stress = bool(batch[keys.HAS_STRESS].any())
        out = self.derivatives(batch, compute_stress=stress)
        terms = loss_terms(out, batch, kind=self.config.loss, delta=self.config.huber_delta)
        loss = weighted_total(terms, self.weights)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.model, self.cluster)
        # the norm (before clipping) of the averaged gradients: the same on every process
        limit = self.config.clip_grad or math.inf
        norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), limit))
        value = float(loss.detach())
        if not (math.isfinite(value) and math.isfinite(norm)):
            what = f"loss {value:.4g}, gradient norm {norm:.4g} at step {self.step + 1}"
            raise self.diverged(what, epoch=self.epoch + 1)
        self.schedule.step(self.step, self.elapsed + time.perf_counter() - epoch_start)
        self.optimizer.step()
        self.ema.update(self.model)
        self.step += 1
        return {"loss": value, **{k: float(v.detach()) for k, v in terms.items()}}

    def validate(self) -> dict[str, float]:
        """Errors of the EMA model on the validation split (meV units)."""
        self.ema.model.eval()
        errors = evaluate(
            self.ema.model,
            self.data.valid,
            self.data.valid_idx,
            atomic_energies=self.data.atomic_energies,
            batch_size=self.config.valid_batch_size,
            device=self.device,
            dtype=self.dtype,
        )
        summary = errors.summary()
        return {f"valid_{k}": v for k, v in summary.items() if k != "structures"}

    # ------------------------------------------------------------- checkpoints
    def export(self) -> SE3TModel:
        """A complete float32/64 CPU copy of the EMA model with the atomic energies put back."""
        model = copy.deepcopy(self.ema.model).cpu()
        e0 = torch.as_tensor(self.data.atomic_energies, dtype=model.readout.atomic_energies.dtype)
        model.readout.atomic_energies.copy_(e0)
        return model

    def metadata(self, metrics: dict[str, float] | None = None) -> dict[str, Any]:
        """Training summary stored with the model."""
        return {
            "training": {
                "train_config": self.config.to_dict(),
                "epoch": self.epoch,
                "elapsed_s": round(self.elapsed, 1),
                "energy_scale_eV": self.data.scale,
                "energy_shift_eV": self.data.shift,
                "avg_num_neighbors": self.data.avg_num_neighbors,
                "num_train": len(self.data.train_idx),
                "num_valid": len(self.data.valid_idx),
                "hardware": _hardware(self.device, self.cluster),
                "commit": _commit(),
                "metrics": metrics or {},
            }
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where training stopped."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "ema": self.ema.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "stage": self.stage,
            "elapsed": self.elapsed,
            "best": self.best,
            "bad_epochs": self.bad_epochs,
            "shuffle_rng": self.shuffle.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.ema.load_state_dict(state["ema"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.elapsed, self.best = float(state["elapsed"]), float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
        if int(state.get("stage", 1)) == 2:
            self.stage = 2
            self.weights["energy"] = self.config.stage_two_energy_weight
        self.shuffle.set_state(state["shuffle_rng"])
        torch.set_rng_state(state["torch_rng"])

    def save(self, metrics: dict[str, float], improved: bool) -> None:
        """Write ``last.pt`` (with the training state) and, if improved, ``best.pt``."""
        if not self.cluster.is_main:
            return
        data = model_to_dict(self.export(), self.metadata(metrics))
        if improved:
            atomic_save(data, self.out / BEST)
        resumable = {
            **data,
            "training_state": self.state_dict(),
            "split": self.data.split(),
            "data_fingerprint": self.fingerprint,
        }
        atomic_save(sign(resumable), self.out / LAST)

    def diverged(self, what: str, *, epoch: int) -> TrainingDivergedError:
        """The error that ends a run whose numbers became NaN or infinite in ``epoch``.

        Nothing of ``epoch`` is saved: ``last.pt`` keeps the epoch before it, if any.
        """
        lr = self.config.lr
        kept = (
            f"{self.out / LAST} keeps epoch {epoch - 1}, the last one with finite errors, and {BEST} "
            "the best one (--init-from starts a new run from its weights)"
            if epoch > 1 and (self.out / LAST).is_file()
            else "no epoch finished, so nothing was saved"
        )
        return TrainingDivergedError(
            f"training diverged in epoch {epoch} ({what}): lower --lr "
            f"(now {lr:g}; try {min(lr / 10, 1e-3):g}) "
            f"or raise --warmup-epochs, and train again in a new --output-dir; {kept}"
        )

    # -------------------------------------------------------------------- loop
    def fit(self) -> None:
        """Train until the epoch limit, the time budget or early stopping.

        Raises
        ------
        TrainingDivergedError
            At the first step with a non-finite loss or gradient, or the first epoch with
            non-finite validation errors; nothing of that epoch is saved.
        """
        if self.metric == ENERGY_MAE:
            self.say(
                "the validation structures have no forces to score (single atoms): the best model "
                "and early stopping follow the validation energy MAE"
            )
        while (reason := self.stop_reason()) is None:
            start = time.perf_counter()
            record = self.train_epoch()
            valid = self.validate()
            bad = [f"{k} {v}" for k, v in valid.items() if not math.isfinite(v)]
            if bad:
                raise self.diverged(f"validation {', '.join(bad[:2])}", epoch=self.epoch)
            record.update(valid)
            self.elapsed += time.perf_counter() - start  # the budget counts validation too
            metric = record[self.metric]
            improved = metric < self.best
            self.best = min(self.best, metric)
            self.bad_epochs = 0 if improved else self.bad_epochs + 1
            self.schedule.end_epoch(metric)
            record = {"epoch": self.epoch, "elapsed_s": self.elapsed, "lr": self._lr(), **record}
            self._log(record, improved)  # before the checkpoint: a resume drops lines past it
            self.save(record, improved)
            barrier(self.cluster)
        self.say(reason)

    def stop_reason(self) -> str | None:
        """Why training is over (epoch limit, time budget, early stopping), or None."""
        cfg = self.config
        if cfg.patience is not None and self.bad_epochs >= cfg.patience:
            what = "force" if self.metric == FORCE_MAE else "energy"
            return f"early stopping: no better validation {what} MAE for {cfg.patience} epochs"
        budget = cfg.max_seconds
        if budget is not None and self.elapsed >= budget:
            return f"time budget of {cfg.max_time} reached after {self.epoch} epochs"
        if self.epoch >= cfg.epochs:
            return f"epoch limit of {cfg.epochs} reached"
        return None

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _log(self, record: dict[str, float], improved: bool) -> None:
        if not self.cluster.is_main:
            return
        with open(self.out / LOG, "a") as handle:
            handle.write(log_line(record))
        self.say(
            f"epoch {self.epoch:5d}  {self.elapsed:8.0f} s  lr {record['lr']:.2e}  "
            f"loss {record['train_loss']:.3e}  valid MAE E {record['valid_energy_mae_meV']:8.2f} meV  "
            f"F {record['valid_forces_mae_meV_per_A']:8.2f} meV/Å  "
            f"{record['structures_per_s']:6.1f} struct/s{'  *' if improved else ''}"
        )

    def say(self, text: str) -> None:
        """Print ``text`` (on rank 0 only)."""
        if self.cluster.is_main:
            print(text, flush=True)


def _hardware(device: torch.device, cluster: Cluster) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    return f"{name}, {torch.get_num_threads()} threads, {cluster.world_size} process(es)"


@functools.cache
def _commit() -> str | None:
    """Git commit of the se3t_calc source tree, when it is a checkout."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip()
    return None


def _cpu_name() -> str:
    """CPU model from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "cpu"


def _selection_metric(prepared: Prepared, isolated_atom_limit: bool) -> str:
    """The validation error that picks the best model: the force MAE, or the energy MAE when no
    validation structure has forces to score (the force on a lone atom is zero by symmetry).

    Raises
    ------
    ValueError
        The validation structures are all atoms without neighbours, whose energy a model
        with the isolated-atom limit fixes at E0: no error tells one epoch from another.
    """
    idx = prepared.valid_idx
    if any(len(prepared.valid.structures[i].atoms) > 1 for i in idx):  # forces are required in training
        return FORCE_MAE
    if isolated_atom_limit and not prepared.valid.num_edges()[idx].any():
        raise ValueError(
            f"the {len(idx)} validation structures are all single atoms without neighbours: the model "
            "gives each exactly its E0 and zero force, so they cannot tell a better model from a "
            "worse one; hold out structures of two or more atoms (--valid-file, or a --valid-size "
            "that takes some)"
        )
    return ENERGY_MAE
