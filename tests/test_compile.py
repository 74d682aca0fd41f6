"""The torch.compile path of the calculator: the eager numbers, without recompiling in MD."""

import numpy as np
import pytest
import torch
from helpers import calc, energy_forces, ethanol, small_model

from se3t_calc import keys

pytestmark = pytest.mark.slow  # the first compilation takes about a minute on 2 cores


def _edges(calculator) -> int:
    return calculator._graph[keys.EDGE_INDEX].shape[1]


def test_compiled_equals_eager_as_neighbour_counts_change():
    model = small_model()
    eager, compiled = calc(model), calc(model, compile=True)
    atoms = ethanol()
    start = atoms.positions.copy()
    rng = np.random.default_rng(0)
    edge_counts = set()
    for step in range(5):
        atoms.positions = start + rng.normal(scale=0.4, size=start.shape)
        e_ref, f_ref = energy_forces(atoms, eager)
        # dynamic shapes: after the first call, a new number of edges must not recompile
        with torch._dynamo.config.patch(error_on_recompile=step > 0):
            e, f = energy_forces(atoms, compiled)
        edge_counts.add(_edges(compiled))
        np.testing.assert_allclose(e, e_ref, rtol=1e-12)
        np.testing.assert_allclose(f, f_ref, atol=1e-11)
    assert len(edge_counts) > 1, "the structures did not change the number of edges"


def test_compiled_stress_in_a_periodic_cell():
    model = small_model()
    atoms = ethanol()
    atoms.cell = np.eye(3) * 7.0
    atoms.pbc = True
    atoms.calc = calc(model)
    reference = atoms.get_stress(), atoms.get_forces()
    atoms.calc = calc(model, compile=True)
    np.testing.assert_allclose(atoms.get_stress(), reference[0], atol=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), reference[1], atol=1e-11)
