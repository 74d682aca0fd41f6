from collections import Counter

import numpy as np
import pytest
from helpers import ethanol

from se3t_calc.analysis import bond_lengths, covalent_bonds, energy_drift
from se3t_calc.dynamics import make_dynamics


def test_energy_drift_recovers_slope_and_fluctuation():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 10, 2001)  # ps
    noise = rng.choice([-1.0, 1.0], size=t.size) * 0.3  # meV/atom, RMS exactly 0.3
    noise -= np.polyval(np.polyfit(t, noise, 1), t)  # orthogonal to the line
    n = 9
    etot = n * (0.05 * t + noise) / 1000 - 100.0  # eV
    drift, rms = energy_drift(t, etot, n)
    assert drift == pytest.approx(0.05, abs=1e-9)
    assert rms == pytest.approx(np.sqrt(np.mean(noise**2)), rel=1e-9)
    with pytest.raises(ValueError, match="at least 3 samples"):
        energy_drift(t[:2], etot[:2], n)


def test_covalent_bonds_of_ethanol():
    atoms = ethanol()
    pairs = covalent_bonds(atoms)
    symbols = atoms.get_chemical_symbols()
    kinds = Counter("".join(sorted(symbols[i] + symbols[j])) for i, j in pairs)
    assert kinds == {"CH": 5, "CC": 1, "CO": 1, "HO": 1}
    lengths = bond_lengths(atoms, pairs)
    assert np.all((lengths > 0.9) & (lengths < 1.6))


def test_dynamics_keeps_momenta_when_asked_and_refuses_unknown_ensembles():
    atoms = ethanol()
    momenta = np.random.default_rng(1).normal(size=(len(atoms), 3))
    atoms.set_momenta(momenta)
    make_dynamics(atoms, "nve", initial_temperature_K=0)
    np.testing.assert_array_equal(atoms.get_momenta(), momenta)
    make_dynamics(atoms, "langevin", temperature_K=300, seed=3)
    assert np.abs(atoms.get_momenta().sum(axis=0)).max() < 1e-12
    with pytest.raises(ValueError, match="unknown ensemble 'npt'"):
        make_dynamics(atoms, "npt")
