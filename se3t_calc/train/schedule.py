"""Learning-rate schedules: linear warm-up, then cosine, plateau or constant."""

from __future__ import annotations

import math
from typing import Any

import torch


class LearningRateSchedule:
    """Sets the learning rate of an optimiser at every step.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    kind : {"cosine", "plateau", "constant"}
        ``cosine`` decays from ``lr`` to ``min_factor * lr`` as training progresses,
        progress being the larger of ``step / total_steps`` and
        ``elapsed / max_seconds``; ``plateau`` multiplies the rate by ``factor`` after
        ``patience`` epochs without a better validation metric.
    lr : float
        Peak learning rate.
    warmup_steps : int
        Linear ramp from ``lr / warmup_steps`` to ``lr``.
    total_steps : int
    max_seconds : float, optional
        Wall-time budget, s.
    min_factor, factor : float
    patience : int
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        kind: str,
        lr: float,
        *,
        warmup_steps: int,
        total_steps: int,
        max_seconds: float | None = None,
        min_factor: float = 0.01,
        factor: float = 0.8,
        patience: int = 25,
    ):
        self.optimizer = optimizer
        self.kind, self.lr = kind, lr
        self.warmup_steps, self.total_steps, self.max_seconds = warmup_steps, total_steps, max_seconds
        self.min_factor, self.factor, self.patience = min_factor, factor, patience
        self.plateau_scale = 1.0
        self.best = math.inf
        self.bad_epochs = 0

    def rate(self, step: int, elapsed: float) -> float:
        """Learning rate for optimiser step ``step`` (0-based) after ``elapsed`` seconds."""
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        if self.kind == "plateau":
            return self.lr * warm * self.plateau_scale
        if self.kind == "constant":
            return self.lr * warm
        progress = step / max(self.total_steps, 1)
        if self.max_seconds:
            progress = max(progress, elapsed / self.max_seconds)
        cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        return self.lr * warm * (self.min_factor + (1 - self.min_factor) * cosine)

    def step(self, step: int, elapsed: float) -> float:
        """Set and return the learning rate of ``step``."""
        rate = self.rate(step, elapsed)
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        return rate

    def end_epoch(self, metric: float) -> None:
        """Report the validation metric of an epoch (used by ``plateau``)."""
        if metric < self.best:
            self.best, self.bad_epochs = metric, 0
            return
        self.bad_epochs += 1
        if self.kind == "plateau" and self.bad_epochs >= self.patience:
            self.plateau_scale *= self.factor
            self.bad_epochs = 0

    def state_dict(self) -> dict[str, Any]:
        """Mutable state (the settings come from the configuration)."""
        return {"plateau_scale": self.plateau_scale, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""
        self.plateau_scale = float(state["plateau_scale"])
        self.best = float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
