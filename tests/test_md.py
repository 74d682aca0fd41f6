"""Energy conservation of a shipped model in NVE (float64, 0.5 fs).

Measured with ``benchmarks/stability.py rmd17-ethanol`` (5 ps NVE after 10 ps Langevin
at 300 K): drift -0.001 meV/atom/ps, RMS fluctuation 0.074 meV/atom. Over 1 ps, with
fluctuations correlated over ~10 fs (about 100 independent samples), a line fit
resolves the slope to about 0.074 * sqrt(12 / 100) ~ 0.03 meV/atom/ps; the bounds below
are about 3-4 times the measured or expected values. A force that is not the exact
gradient of the energy, or an energy that jumps, breaks them.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ethanol

from se3t_calc import SE3TCalculator
from se3t_calc.analysis import energy_drift
from se3t_calc.dynamics import make_dynamics


def nve_energies(atoms, nve_steps: int, equilibrate_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Langevin at 300 K, then VelocityVerlet; times (ps) and total energies (eV) of every step."""
    make_dynamics(atoms, "langevin", temperature_K=300, seed=0).run(equilibrate_steps)
    dyn = make_dynamics(atoms, "nve", initial_temperature_K=0)
    samples = []
    dyn.attach(lambda: samples.append((dyn.nsteps * 0.5e-3, atoms.get_total_energy())), interval=1)
    dyn.run(nve_steps)
    return np.array(samples).T


def test_short_nve_run_conserves_energy():
    atoms = ethanol()
    atoms.calc = SE3TCalculator("rmd17-ethanol", device="cpu", dtype="float64", skin=0.5)
    t, etot = nve_energies(atoms, nve_steps=200, equilibrate_steps=100)
    _, rms = energy_drift(t, etot, len(atoms))
    assert rms < 0.25
    assert np.ptp(etot) / len(atoms) < 1.5e-3  # eV/atom, measured 0.5 meV/atom over 5 ps


@pytest.mark.slow
def test_nve_drift_over_one_picosecond():
    atoms = ethanol()
    atoms.calc = SE3TCalculator("rmd17-ethanol", device="cpu", dtype="float64", skin=0.5)
    t, etot = nve_energies(atoms, nve_steps=2000, equilibrate_steps=500)
    drift, rms = energy_drift(t, etot, len(atoms))
    assert abs(drift) < 0.1
    assert rms < 0.25
