"""The compiled training step: the eager loss gradient, for molecules, one structure and stress."""

import numpy as np
import pytest
import torch
from ase.build import bulk
from helpers import DATA, small_model

from se3t_calc import keys
from se3t_calc.derivatives import energy_and_derivatives
from se3t_calc.train.compiled import CompiledDerivatives
from se3t_calc.train.data import read_structures
from se3t_calc.train.dataset import GraphDataset, batch_tensors
from se3t_calc.train.labels import LabeledStructure
from se3t_calc.train.loss import loss_terms, weighted_total

pytestmark = pytest.mark.slow  # each new graph compiles for about a minute on 2 cores

WEIGHTS = {"energy": 1.0, "forces": 1000.0, "stress": 1000.0}


def _gradients(model, derivatives, batch, stress):
    model.zero_grad(set_to_none=True)
    out = derivatives(batch, compute_stress=stress)
    weighted_total(loss_terms(out, batch), WEIGHTS).backward()
    # the empty biases of the linear maps (kept for the file format) take part in nothing
    return out, [None if p.grad is None else p.grad.clone() for p in model.parameters()]


def _check(model, compiled, batch, stress=False):
    def eager(b, compute_stress):
        return energy_and_derivatives(model, b, compute_stress=compute_stress, training=True)

    out_ref, grads_ref = _gradients(model, eager, batch, stress)
    out, grads = _gradients(model, compiled, batch, stress)
    for key in (keys.TOTAL_ENERGY, keys.FORCES) + ((keys.STRESS,) if stress else ()):
        torch.testing.assert_close(out[key], out_ref[key], rtol=1e-10, atol=1e-10)
    assert [g is None for g in grads] == [g is None for g in grads_ref]
    for g, g_ref in zip(grads, grads_ref, strict=True):
        if g_ref is not None:
            torch.testing.assert_close(g, g_ref, rtol=1e-8, atol=1e-8 * float(g_ref.abs().max()))


def _batches(dataset, sizes):
    e0, cpu = np.zeros(len(dataset.counts[0])), torch.device("cpu")
    start = 0
    for size in sizes:
        yield batch_tensors(dataset, range(start, start + size), e0, device=cpu, dtype=torch.float64)
        start += size


def test_compiled_gradient_equals_eager_for_every_batch_shape():
    """Second derivatives included: the force term of the loss is where a trace that cut
    the graph of saved outputs went wrong. Batches of 3, 2 (new sizes, same graph) and 1
    structure (sizes of 1 are fixed by tracing: a graph of its own)."""
    model = small_model()
    dataset = GraphDataset(read_structures(DATA / "ethanol_rmd17.xyz")[:6], model.config.species, 4.0)
    compiled = CompiledDerivatives(model)
    for batch in _batches(dataset, (3, 2, 1)):
        _check(model, compiled, batch)
    assert len(compiled._graphs) == 2


def test_compiled_gradient_with_stress():
    """Periodic batches of 2 and 1 structures (the strain is gathered per atom: its
    gradient is a scatter into the structures)."""
    model = small_model(species=("Si",))
    rng = np.random.default_rng(0)
    structures = []
    for k in range(3):
        atoms = bulk("Si", "diamond", a=5.43, cubic=True)
        atoms.positions += rng.normal(scale=0.1, size=atoms.positions.shape)
        labels = rng.normal(size=(len(atoms), 3)), rng.normal(scale=0.01, size=(3, 3))
        structures.append(LabeledStructure(atoms, -10.0 * len(atoms), labels[0], labels[1], f"si {k}"))
    dataset = GraphDataset(structures, model.config.species, 4.0)
    compiled = CompiledDerivatives(model)
    for batch in _batches(dataset, (2, 1)):
        _check(model, compiled, batch, stress=True)
