"""Evaluate a model on labelled structures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from se3t_calc import keys
from se3t_calc.committee import Committee
from se3t_calc.derivatives import energy_and_derivatives
from se3t_calc.model import SE3TModel
from se3t_calc.train.dataset import GraphDataset, batches
from se3t_calc.train.metrics import ErrorAccumulator


def evaluate(
    model: SE3TModel | Committee,
    dataset: GraphDataset,
    indices: Sequence[int] | np.ndarray | None = None,
    *,
    atomic_energies: np.ndarray | None = None,
    batch_size: int = 50,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
) -> ErrorAccumulator:
    """Errors of ``model`` on ``dataset[indices]`` (all structures by default).

    Forces are scored when every structure has them, otherwise energies (and stress) only.

    Parameters
    ----------
    model : SE3TModel or Committee
        On ``device`` in ``dtype``; a committee is scored by its mean.
    dataset : GraphDataset
    indices : sequence of int, optional
    atomic_energies : np.ndarray, shape (K,), optional
        Reference energies subtracted from the labels, for a model trained without
        them; default none (a complete model file).
    batch_size : int
    device, dtype
        Where and in which precision to evaluate.
    """
    indices = list(range(len(dataset))) if indices is None else list(indices)
    with_forces = all(dataset.structures[i].forces is not None for i in indices)
    e0 = np.zeros(dataset.counts.shape[1]) if atomic_energies is None else atomic_energies
    errors = ErrorAccumulator(model.config.species)
    for batch in batches(dataset, indices, batch_size, e0, device=torch.device(device), dtype=dtype):
        has = batch[keys.HAS_STRESS]
        with_stress = bool(has.any())
        out = energy_and_derivatives(model, batch, compute_stress=with_stress)
        stress = (out[keys.STRESS][has] - batch[keys.REF_STRESS][has]) if with_stress else None
        errors.add(
            (_np(out[keys.TOTAL_ENERGY]), _np(batch[keys.REF_ENERGY])),
            (_np(out[keys.FORCES]), _np(batch[keys.REF_FORCES])) if with_forces else None,
            _np(batch[keys.NUM_ATOMS]),
            _np(batch[keys.SPECIES]),
            None if stress is None else _np(stress),
        )
    return errors


def _np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float64 if tensor.is_floating_point() else np.int64)
