import numpy as np
import pytest
from ase.build import bulk
from ase.io import read
from helpers import (
    DATA,
    calc,
    energy_forces,
    ethanol,
    finite_difference_forces,
    finite_difference_stress,
    small_model,
)


@pytest.mark.parametrize("invariant", ["r", "inverse", "mixed"])
def test_forces_match_finite_differences(invariant):
    calculator = calc(small_model(invariant=invariant))
    atoms = ethanol(5)
    _, forces = energy_forces(atoms, calculator)
    np.testing.assert_allclose(forces, finite_difference_forces(atoms, calculator), atol=1e-6)


def test_stress_matches_strain_finite_differences():
    atoms = bulk("Si", "diamond", a=5.3, cubic=True)
    atoms.rattle(0.15, seed=2)
    atoms.set_cell(atoms.cell.array @ np.array([[1, 0.03, 0], [0, 1, 0.02], [0, 0, 0.98]]), scale_atoms=True)
    calculator = calc(small_model(species=["Si"]))
    atoms.calc = calculator
    stress = atoms.get_stress()
    expected = finite_difference_stress(atoms, calculator)
    assert np.abs(expected).max() > 1e-3
    np.testing.assert_allclose(stress, expected, atol=1e-8)


def test_thin_cell_uses_all_periodic_images():
    """A cell thinner than the cutoff gives the same energy per atom as its supercell."""
    calculator = calc(small_model(species=["Si"], r_cut=5.0))
    primitive = bulk("Si", "diamond", a=5.43)  # 2 atoms, heights ~3.1 Å < r_cut
    primitive.rattle(0.05, seed=3)
    supercell = primitive.repeat((2, 3, 2))
    e1, f1 = energy_forces(primitive, calculator)
    e12, f12 = energy_forces(supercell, calculator)
    np.testing.assert_allclose(e12 / len(supercell), e1 / len(primitive), rtol=1e-10)
    np.testing.assert_allclose(f12[: len(primitive)], f1, atol=1e-10)


def test_surface_slab_with_thin_periodic_directions():
    atoms = read(DATA / "si_mlearn.xyz", index=2)
    atoms.calc = None
    calculator = calc(small_model(species=["Si"], r_cut=5.0))
    _, forces = energy_forces(atoms, calculator)
    np.testing.assert_allclose(forces.sum(0), 0.0, atol=1e-9)  # momentum conservation
    small = atoms[:3]
    np.testing.assert_allclose(
        energy_forces(small, calculator)[1], finite_difference_forces(small, calculator), atol=1e-6
    )


def test_stress_is_nan_for_the_non_periodic_structures_of_a_batch():
    import torch

    from se3t_calc import atoms_to_graph, energy_and_derivatives

    model = small_model(species=["H", "C", "O", "Si"])
    crystal = bulk("Si", "diamond", a=5.43, cubic=True)
    crystal.rattle(0.05, seed=1)
    slab = crystal.copy()
    slab.pbc = (True, True, False)
    graph = atoms_to_graph(
        [ethanol(), crystal, slab], model.config.species, model.config.r_cut, dtype=torch.float64
    )
    out = energy_and_derivatives(model, graph, compute_stress=True)
    stress = out["stress"].detach().numpy()
    assert np.isnan(stress[[0, 2]]).all()
    alone = calc(model)
    crystal.calc = alone
    np.testing.assert_allclose(stress[1], crystal.get_stress(voigt=False), atol=1e-10)
    assert np.isfinite(out["virial"].detach().numpy()).all()
