import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError
from helpers import calc, energy_forces, ethanol, small_model

from se3t_calc import SE3TCalculator


def test_results_are_float64_numpy_and_consistent():
    atoms = ethanol()
    atoms.calc = calc(small_model(), dtype="float32")
    energies = atoms.get_potential_energies()
    assert atoms.get_forces().dtype == np.float64 and energies.shape == (len(atoms),)
    np.testing.assert_allclose(energies.sum(), atoms.get_potential_energy(), rtol=1e-6)
    assert atoms.get_potential_energy(force_consistent=True) == atoms.get_potential_energy()


def test_float32_agrees_with_float64():
    model = small_model()
    a64, a32 = ethanol(), ethanol()
    a64.calc, a32.calc = calc(model), calc(model, dtype="float32")
    # the total is a sum of per-atom energies of either sign, each resolved by float32 to a
    # few units of its last place: the bound is 8 float32 epsilons of sum |E_i| (the total
    # itself can be much smaller than the terms, so a bound relative to it measures luck)
    scale = np.abs(a64.get_potential_energies()).sum()
    bound = 8 * np.finfo(np.float32).eps * scale
    assert abs(a32.get_potential_energy() - a64.get_potential_energy()) < bound
    np.testing.assert_allclose(a32.get_forces(), a64.get_forces(), atol=1e-4)


def test_no_recomputation_when_nothing_changed(monkeypatch):
    atoms = ethanol()
    atoms.calc = calc(small_model())
    calls = []
    original = atoms.calc.calculate
    monkeypatch.setattr(atoms.calc, "calculate", lambda *a, **k: calls.append(1) or original(*a, **k))
    atoms.get_potential_energy()
    atoms.get_forces()
    atoms.get_potential_energies()
    atoms.get_potential_energy()
    assert len(calls) == 1
    atoms.positions[0, 0] += 0.01
    atoms.get_forces()
    assert len(calls) == 2


def test_global_default_dtype_untouched():
    before = torch.get_default_dtype()
    atoms = ethanol()
    atoms.calc = calc(small_model())
    atoms.get_forces()
    assert torch.get_default_dtype() == before


def test_unknown_element_is_named():
    atoms = Atoms("CHN", positions=[[0, 0, 0], [1, 0, 0], [0, 1.2, 0]])
    atoms.calc = calc(small_model())
    with pytest.raises(ValueError, match=r"\['N'\].*\['H', 'C', 'O'\]"):
        atoms.get_potential_energy()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_positions_refused(bad):
    atoms = ethanol()
    atoms.positions[3, 1] = bad
    atoms.calc = calc(small_model())
    with pytest.raises(ValueError, match=r"non-finite.*\[3\]"):
        atoms.get_potential_energy()


def test_empty_structure_refused():
    atoms = Atoms()
    atoms.calc = calc(small_model())
    with pytest.raises(ValueError, match="empty structure"):
        atoms.get_potential_energy()


def test_stress_of_molecule_is_a_clear_error():
    atoms = ethanol()
    atoms.calc = calc(small_model())
    with pytest.raises(PropertyNotImplementedError, match="3-D periodic"):
        atoms.get_stress()


def test_degenerate_periodic_cell_refused():
    atoms = bulk("C", "diamond", a=3.6)
    atoms.cell[2] = 0.0
    atoms.calc = calc(small_model())
    with pytest.raises(ValueError, match="cell vector 2 is zero"):
        atoms.get_potential_energy()


def test_bad_options_refused():
    with pytest.raises(ValueError, match="dtype"):
        SE3TCalculator(small_model(), dtype="float16")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            SE3TCalculator(small_model(), device="cuda")
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        SE3TCalculator("missing.pt")


def test_nan_weights_are_refused_not_returned():
    model = small_model()
    with torch.no_grad():
        model.readout.mlp.layer0.weight.fill_(float("nan"))
    atoms = ethanol()
    atoms.calc = calc(model)
    with pytest.raises(ValueError, match=r"non-finite \(NaN or inf\) energy and forces"):
        atoms.get_potential_energy()


def test_float32_total_energy_is_not_rounded_by_large_reference_energies():
    from ase.io import read
    from helpers import DATA

    model = small_model()
    model.readout.atomic_energies.copy_(torch.tensor([-13.5, -1029.0, -2041.0]))  # exact in float32
    for atoms in read(DATA / "aspirin_rmd17.xyz", index=":"):  # about -17 500 eV: float32 steps of 2 meV
        atoms.calc = None
        e64, f64 = energy_forces(atoms, calc(model))
        e32, f32 = energy_forces(atoms, calc(model, dtype="float32"))
        assert abs(e32 - e64) < 1e-4
        np.testing.assert_allclose(f32, f64, atol=1e-4)
