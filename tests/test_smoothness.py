import numpy as np
import pytest
from ase import Atoms
from helpers import calc, check_energy_is_work_of_force, energy_forces, small_model

R_CUT = 4.0


def _trimer(x: float) -> Atoms:
    """A C-O pair and an H atom at distance ``x`` from the O along a skew line."""
    return Atoms("COH", positions=[[-1.2, 0.1, 0.0], [0.0, 0.0, 0.0], [x, 0.3, 0.2]])


def _distance(x: float) -> float:
    return float(np.linalg.norm(_trimer(x).positions[2] - _trimer(x).positions[1]))


@pytest.mark.parametrize("invariant", ["r", "inverse", "mixed"])
def test_energy_and_forces_continuous_across_cutoff(invariant):
    calculator = calc(small_model(invariant=invariant, r_cut=R_CUT))
    xs = np.linspace(R_CUT - 0.3, R_CUT + 0.3, 301)
    results = [energy_forces(_trimer(x), calculator) for x in xs]
    energy = np.array([e for e, _ in results])
    forces = np.array([f for _, f in results])
    step = xs[1] - xs[0]
    # the H atom enters the cutoff of the O inside the scan, and the energy changes there
    assert energy.max() - energy.min() > 1e-4
    # the H feels a force before the cutoff...
    assert np.abs(forces[0, 2]).max() > 1e-4
    # ...and the energy changes by the work of the force, with no jump at the cutoff
    check_energy_is_work_of_force(xs, energy, forces[:, 2, 0], atol=1e-6)
    # forces change continuously along the scan
    assert np.abs(np.diff(forces, axis=0)).max() < 50 * step * max(1.0, np.abs(forces).max())


@pytest.mark.parametrize("invariant", ["r", "inverse", "mixed"])
def test_no_interaction_beyond_cutoff(invariant):
    """Beyond r_cut of every atom the third atom contributes nothing at all."""
    calculator = calc(small_model(invariant=invariant, r_cut=R_CUT))
    far = [x for x in np.linspace(R_CUT + 0.05, R_CUT + 2.0, 7) if _distance(x) > R_CUT]
    energies = [energy_forces(_trimer(x), calculator)[0] for x in far]
    np.testing.assert_allclose(energies, energies[0], rtol=0, atol=0)
    forces = energy_forces(_trimer(far[0]), calculator)[1]
    assert np.all(forces[2] == 0.0)


def test_energy_flat_at_the_cutoff():
    """Value and derivative vanish smoothly: E(r_cut - d) - E(r_cut) shrinks faster than d^2."""
    calculator = calc(small_model(r_cut=R_CUT))
    pair = lambda d: Atoms("CO", positions=[[0, 0, 0], [d, 0, 0]])  # noqa: E731
    e_cut = energy_forces(pair(R_CUT), calculator)[0]
    gaps = [abs(energy_forces(pair(R_CUT - d), calculator)[0] - e_cut) for d in (0.2, 0.1, 0.05)]
    assert gaps[0] > 0
    assert gaps[1] < gaps[0] / 4 and gaps[2] < gaps[1] / 4
    force = energy_forces(pair(R_CUT - 1e-3), calculator)[1]
    assert np.abs(force).max() < 1e-12


@pytest.mark.parametrize("invariant", ["r", "inverse", "mixed"])
@pytest.mark.parametrize(
    "d", [1e-6, R_CUT - 1e-6, R_CUT, R_CUT + 1e-6]
)  # d = 0 is refused as duplicate atoms
def test_finite_at_special_distances(invariant, d):
    calculator = calc(small_model(invariant=invariant, r_cut=R_CUT))
    atoms = Atoms("CHO", positions=[[0, 0, 0], [d, 0, 0], [0.0, 1.2, 0.0]])
    energy, forces = energy_forces(atoms, calculator)
    assert np.isfinite(energy)
    assert np.isfinite(forces).all()
