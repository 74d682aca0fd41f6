"""Edge padding: the same numbers with and without it, and few shapes along MD."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from helpers import calc, ethanol, small_model

from se3t_calc import energy_and_derivatives, keys
from se3t_calc.padding import EdgeBuckets, edge_capacity


def test_edge_capacity_has_headroom_and_is_a_multiple_of_64():
    for edges in (0, 1, 63, 64, 500, 12345):
        capacity = edge_capacity(edges)
        assert capacity % 64 == 0 and capacity >= 1.2 * edges and capacity - 64 < max(1.2 * edges, 64)


def test_buckets_change_only_on_overflow_or_when_half_empty():
    buckets = EdgeBuckets()
    assert buckets.fit(1000) == 1216
    assert [buckets.fit(e) for e in (900, 1100, 1216, 700)] == [1216] * 4
    assert buckets.fit(1217) == 1472 and buckets.num_rebuckets == 2
    assert buckets.fit(600) == 768 and buckets.num_rebuckets == 3


def water_box(n_per_side: int = 3, seed: int = 0) -> Atoms:
    """``3 n**3`` atoms of water molecules on a cubic grid at about 1 g/cm^3."""
    rng = np.random.default_rng(seed)
    spacing = 3.1
    box = Atoms(cell=np.eye(3) * spacing * n_per_side, pbc=True)
    for index in np.ndindex(n_per_side, n_per_side, n_per_side):
        water = molecule("H2O")
        water.rotate(rng.uniform(0, 360), rng.normal(size=3))
        water.positions += (np.array(index) + 0.5) * spacing
        box += water
    return box


def _results(atoms, calculator):
    atoms = atoms.copy()
    atoms.calc = calculator
    stress = atoms.get_stress() if atoms.pbc.all() else None
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_potential_energies(), stress


@pytest.mark.parametrize("structure", ["molecule", "water", "crystal"])
@pytest.mark.parametrize("skin", [0.0, 0.5])
def test_padding_changes_no_result(structure, skin):
    atoms = {"molecule": ethanol, "water": water_box, "crystal": lambda: bulk("C", "diamond", 3.6) * 2}[
        structure
    ]()
    atoms.rattle(0.05, seed=1)
    model = small_model(species=["H", "C", "O"])
    exact = _results(atoms, calc(model, skin=skin, pad_edges=False))
    padded_calc = calc(model, skin=skin, pad_edges=True)
    padded = _results(atoms, padded_calc)
    assert padded_calc.tensor_path.tensors[keys.EDGE_INDEX].shape[1] > len(padded_calc.neighbors._pairs[0])
    np.testing.assert_allclose(padded[0], exact[0], rtol=1e-13)
    np.testing.assert_allclose(padded[1], exact[1], atol=1e-12)
    np.testing.assert_allclose(padded[2], exact[2], atol=1e-12)
    if exact[3] is not None:
        np.testing.assert_allclose(padded[3], exact[3], atol=1e-13)


def test_padding_atom_is_isolated_with_zero_force_and_finite_gradients():
    """All padding hangs on the padding atom: its force is exactly zero, every gradient finite,
    and its energy that of an atom without neighbours."""
    atoms = water_box(2)
    calculator = calc(small_model(), pad_edges=True)
    calculator.evaluate(atoms, stress=True)
    graph = calculator.tensor_path.tensors
    out = energy_and_derivatives(calculator.model, graph, compute_stress=True)
    n = len(atoms)
    assert graph[keys.POSITIONS].shape[0] == n + 1 and graph[keys.CELL].shape[0] == 2
    assert (graph[keys.EDGE_INDEX][:, -1] == n).all()  # padding edges are there
    assert torch.isfinite(out[keys.FORCES]).all() and torch.isfinite(out[keys.STRESS]).all()
    assert (out[keys.FORCES][n] == 0).all() and (out[keys.STRESS][1] == 0).all()
    lone = Atoms("H", positions=[[0.0, 0.0, 0.0]])  # species 0, no neighbours
    # E0 is 0 in this model: both are 0 up to the rounding of the readout MLP on batches of
    # different sizes, so the comparison is absolute
    np.testing.assert_allclose(
        out[keys.NODE_ENERGY][n].item(), _results(lone, calc(small_model()))[0], atol=1e-14
    )


def distinct_shapes_along_md(atoms, steps: int, skin: float) -> tuple[int, int]:
    """Distinct edge counts the model sees along Langevin MD, without and with padding."""
    from se3t_calc.dynamics import make_dynamics

    calculator = calc(small_model(), dtype="float32", skin=skin, pad_edges=True)
    atoms.calc = calculator
    exact, padded = set(), set()

    def record():
        exact.add(len(calculator.neighbors._pairs[0]))
        padded.add(calculator.tensor_path.tensors[keys.EDGE_INDEX].shape[1])

    dynamics = make_dynamics(atoms, "langevin", temperature_K=300, seed=0)
    dynamics.attach(record, interval=1)
    dynamics.run(steps)
    return len(exact), len(padded)


@pytest.mark.slow
@pytest.mark.parametrize("skin", [0.0, 0.5])
def test_few_shapes_along_md_of_water_192(skin):
    exact, padded = distinct_shapes_along_md(water_box(4), 200, skin)
    print(f"skin {skin}: {exact} distinct edge counts exact, {padded} padded")
    assert padded <= 2 < exact
