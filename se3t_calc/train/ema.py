"""Exponential moving average of model weights."""

from __future__ import annotations

import copy
from typing import Any

import torch


class ExponentialMovingAverage:
    """A copy of a model whose parameters follow ``p_ema <- d p_ema + (1 - d) p``.

    The decay ramps up as ``min(decay, (1 + n) / (10 + n))`` over the first updates
    ``n``, so that early averages are not dominated by the random initial weights.
    With ``decay=0`` the copy equals the model after every update.

    Parameters
    ----------
    model : torch.nn.Module
    decay : float
        In [0, 1).
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.num_updates = 0
        self.model: Any = copy.deepcopy(model)
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Move the average towards ``model``'s current parameters."""
        self.num_updates += 1
        decay = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for avg, p in zip(self.model.parameters(), model.parameters(), strict=True):
            avg.lerp_(p.detach(), 1.0 - decay)

    def state_dict(self) -> dict[str, Any]:
        """Averaged weights and update count."""
        return {"model": self.model.state_dict(), "num_updates": self.num_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""
        self.model.load_state_dict(state["model"])
        self.num_updates = int(state["num_updates"])
