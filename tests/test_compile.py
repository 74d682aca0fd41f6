"""The torch.compile path of the calculator: the eager numbers, without recompiling in MD."""

import copy

import numpy as np
import pytest
import torch
from helpers import calc, energy_forces, ethanol, small_model

from se3t_calc import SE3TCalculator
from se3t_calc.dynamics import make_dynamics

pytestmark = pytest.mark.slow  # the first compilation takes about a minute on 2 cores


def _edges(calculator) -> int:
    """Edges of the last neighbour list (before padding)."""
    return len(calculator.neighbors._pairs[0])


@pytest.mark.parametrize("convolution", ["tensor_product", "so2"])  # so2: its product runs eagerly
def test_compiled_equals_eager_as_neighbour_counts_change(convolution):
    model = small_model(convolution=convolution)
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


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_model_is_one_graph(dtype, device):
    """The model traces into one graph on the padded graph of a periodic cell. The one
    exception, on the CPU, is the per-structure sum (an inductor bug); on any other
    device ("meta" stands in for CUDA) it is inside too."""
    atoms = ethanol()
    atoms.cell = np.eye(3) * 7.0
    atoms.pbc = True
    calculator = calc(small_model(), dtype=dtype, pad_edges=True)
    calculator.evaluate(atoms, stress=True)
    model, graph = calculator.model, dict(calculator.tensor_path.tensors)
    if device == "meta":
        model = copy.deepcopy(model).to(device)
        graph = {key: value.to(device) for key, value in graph.items()}
    explanation = torch._dynamo.explain(model)(graph)
    # a break at the end of forward leaves one graph, so the reasons are checked too
    reasons = [r.reason for r in explanation.break_reasons]
    fenced = device == "cpu"
    assert len(reasons) == fenced and all("_index_add" in r for r in reasons), reasons
    assert explanation.graph_count == 1


def test_no_recompilation_along_md():
    """Compiled with padded edges, 40 Langevin steps with a skin compile once
    ("reduce-overhead": CUDA graphs on a GPU, plain compiled kernels on the CPU)."""
    atoms, model = ethanol(), small_model()
    atoms.calc = SE3TCalculator(
        model, device="cpu", dtype="float32", skin=0.3, compile="reduce-overhead", pad_edges=True
    )
    dynamics = make_dynamics(atoms, "langevin", temperature_K=600, seed=0)
    dynamics.run(1)
    with torch._dynamo.config.patch(error_on_recompile=True):
        dynamics.run(40)
    assert atoms.calc.neighbors.num_builds > 2  # edges were uploaded again, into the same shape
    e, f = energy_forces(atoms, calc(model, dtype="float32"))
    np.testing.assert_allclose(atoms.get_potential_energy(), e, rtol=1e-5)
    np.testing.assert_allclose(atoms.get_forces(), f, atol=1e-4)


def test_bad_compile_mode_refused():
    with pytest.raises(ValueError, match="reduce-overhead"):
        calc(small_model(), compile="fast")
