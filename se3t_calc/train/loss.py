"""Weighted loss on per-atom energy, forces and stress."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from se3t_calc import keys


def loss_terms(
    out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], *, kind: str = "mse", delta: float = 0.01
) -> dict[str, torch.Tensor]:
    """Per-term losses of one batch.

    Parameters
    ----------
    out : dict of str to torch.Tensor
        Model outputs with ``total_energy`` (B,), ``forces`` (N, 3) and, when the batch
        has stress labels, ``stress`` (B, 3, 3).
    batch : dict of str to torch.Tensor
        The batch with its reference labels (:mod:`se3t_calc.keys`).
    kind : {"mse", "huber"}
    delta : float
        Huber transition point.

    Returns
    -------
    dict of str to torch.Tensor
        Scalars ``energy`` ((eV/atom)^2), ``forces`` ((eV/Å)^2) and ``stress``
        ((eV/Å^3)^2, zero without stress labels).
    """

    def penalty(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        if kind == "huber":
            return F.huber_loss(pred, ref, delta=delta)
        return F.mse_loss(pred, ref)

    natoms = batch[keys.NUM_ATOMS].to(out[keys.TOTAL_ENERGY].dtype)
    terms = {
        "energy": penalty(out[keys.TOTAL_ENERGY] / natoms, batch[keys.REF_ENERGY] / natoms),
        "forces": penalty(out[keys.FORCES], batch[keys.REF_FORCES]),
    }
    has = batch[keys.HAS_STRESS]
    if bool(has.any()):
        terms["stress"] = penalty(out[keys.STRESS][has], batch[keys.REF_STRESS][has])
    else:
        terms["stress"] = torch.zeros((), dtype=natoms.dtype, device=natoms.device)
    return terms


def weighted_total(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """``sum_k weights[k] * terms[k]``."""
    return sum((weights[k] * terms[k] for k in terms), torch.zeros_like(terms["forces"]))
