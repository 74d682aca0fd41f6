import numpy as np
import torch
from ase.build import bulk, molecule
from helpers import calc, energy_forces, ethanol, small_model

from se3t_calc import atoms_to_graph, energy_and_derivatives, keys


def _structures():
    si = bulk("C", "diamond", a=3.6)  # periodic, thin cell
    si.rattle(0.05, seed=0)
    return [ethanol(0), molecule("CH4"), si, ethanol(7), molecule("H2O")]


def test_batch_equals_separate_evaluations():
    model = small_model()
    structures = _structures()
    graph = atoms_to_graph(structures, model.config.species, model.config.r_cut, dtype=torch.float64)
    out = energy_and_derivatives(model, graph, compute_stress=True)
    forces = out[keys.FORCES].detach().numpy()
    start = 0
    for k, atoms in enumerate(structures):
        energy, f = energy_forces(atoms, calc(model))
        np.testing.assert_allclose(out[keys.TOTAL_ENERGY][k].item(), energy, rtol=1e-12)
        np.testing.assert_allclose(forces[start : start + len(atoms)], f, atol=1e-12)
        start += len(atoms)
    stress = out[keys.STRESS][2].detach().numpy()
    si = structures[2].copy()
    si.calc = calc(model)
    np.testing.assert_allclose(stress.ravel()[[0, 4, 8, 5, 2, 1]], si.get_stress(), atol=1e-12)


def test_no_gradient_leaks_between_structures():
    model = small_model()
    structures = _structures()
    graph = atoms_to_graph(structures, model.config.species, model.config.r_cut, dtype=torch.float64)
    positions = graph[keys.POSITIONS].clone().requires_grad_(True)
    energies = model({**graph, keys.POSITIONS: positions})[keys.TOTAL_ENERGY]
    (grad,) = torch.autograd.grad(energies[1], positions)
    batch = graph[keys.BATCH]
    assert grad[batch == 1].abs().max() > 0
    assert torch.all(grad[batch != 1] == 0)


def test_fresh_model_runs_in_default_dtype():
    """A model used straight after construction (float32), without the calculator."""
    from se3t_calc import ModelConfig, SE3TModel

    model = SE3TModel(ModelConfig(species=["H", "C", "O"]))
    graph = atoms_to_graph([ethanol(0), ethanol(1)], model.config.species, 5.0, dtype=torch.float32)
    out = energy_and_derivatives(model, graph)
    assert out[keys.TOTAL_ENERGY].dtype == torch.float64  # reference energies are summed in float64
    assert out[keys.FORCES].dtype == torch.float32
    assert torch.isfinite(out[keys.FORCES]).all()
