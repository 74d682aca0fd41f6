import numpy as np
import pytest
from ase.build import bulk
from helpers import calc, check_e3_equivariance, check_permutation_invariance, ethanol, small_model

INVARIANTS = ["r", "inverse", "mixed"]


@pytest.mark.parametrize("invariant", INVARIANTS)
def test_molecule_e3_and_permutation(invariant):
    calculator = calc(small_model(invariant=invariant))
    atoms = ethanol()
    check_e3_equivariance(atoms, calculator)
    check_permutation_invariance(atoms, calculator)


@pytest.mark.parametrize("invariant", INVARIANTS)
def test_periodic_cell_e3_and_permutation(invariant):
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.1, seed=1)
    calculator = calc(small_model(species=["Si"], invariant=invariant))
    check_e3_equivariance(atoms, calculator)
    check_permutation_invariance(atoms, calculator)


def test_default_config_is_equivariant():
    """The shipped default hyper-parameters (lmax 3, gates, several heads)."""
    import torch

    from se3t_calc import ModelConfig, SE3TModel

    torch.manual_seed(0)
    model = SE3TModel(ModelConfig(species=["H", "C", "O"])).double()
    check_e3_equivariance(ethanol(3), calc(model))


def test_forces_are_not_trivially_zero():
    """Guard: the checks above would pass for a constant model."""
    atoms = ethanol()
    atoms.calc = calc(small_model())
    assert np.abs(atoms.get_forces()).max() > 1e-3
