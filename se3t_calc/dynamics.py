"""ASE integrators set up from plain settings (units in the names), as ``se3t md`` uses them."""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms, units
from ase.md import velocitydistribution

ENSEMBLES = ("langevin", "nve", "nose-hoover")


def thermalize(atoms: Atoms, temperature_K: float, rng: np.random.Generator) -> None:
    """Maxwell-Boltzmann momenta at ``temperature_K`` with zero total momentum."""
    # thermalize_momenta replaces MaxwellBoltzmannDistribution from ASE 3.29 on
    draw = getattr(velocitydistribution, "thermalize_momenta", None)
    draw = draw or velocitydistribution.MaxwellBoltzmannDistribution
    draw(atoms, temperature_K=temperature_K, rng=rng)
    velocitydistribution.Stationary(atoms)


def make_dynamics(
    atoms: Atoms,
    ensemble: str,
    *,
    timestep_fs: float = 0.5,
    temperature_K: float = 300.0,
    friction_per_fs: float = 0.01,
    tdamp_fs: float = 50.0,
    seed: int = 0,
    initial_temperature_K: float | None = None,
) -> Any:
    """Draw velocities and return the integrator for ``ensemble``.

    Parameters
    ----------
    atoms : ase.Atoms
        With a calculator attached; its momenta are overwritten.
    ensemble : {"langevin", "nve", "nose-hoover"}
        Langevin thermostat, VelocityVerlet, or a Nosé-Hoover chain.
    timestep_fs : float
    temperature_K : float
        Thermostat target; also the temperature of the initial velocities.
    friction_per_fs : float
        Langevin friction, 1/fs.
    tdamp_fs : float
        Nosé-Hoover damping time, fs.
    seed : int
        Seeds the velocities and the Langevin noise.
    initial_temperature_K : float, optional
        Temperature of the initial velocities if not ``temperature_K``; ``0`` keeps
        the momenta ``atoms`` already has.

    Raises
    ------
    ValueError
        Unknown ensemble, a time step or damping time not > 0, a negative
        temperature or friction.
    """
    if ensemble not in ENSEMBLES:
        raise ValueError(f"unknown ensemble {ensemble!r}; choose one of {ENSEMBLES}")
    for name, value, low in (("timestep_fs", timestep_fs, 0), ("tdamp_fs", tdamp_fs, 0)):
        if not value > low:
            raise ValueError(f"{name} must be > 0, got {value}")
    for name, value in (("temperature_K", temperature_K), ("friction_per_fs", friction_per_fs)):
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    rng = np.random.default_rng(seed)
    start_K = temperature_K if initial_temperature_K is None else initial_temperature_K
    if start_K > 0:
        thermalize(atoms, start_K, rng)
    timestep = timestep_fs * units.fs
    if ensemble == "langevin":
        from ase.md.langevin import Langevin

        # fixcm=False: ASE's centre-of-mass fix biases the sampling of small systems
        return Langevin(
            atoms,
            timestep,
            temperature_K=temperature_K,
            friction=friction_per_fs / units.fs,
            fixcm=False,
            rng=rng,
        )
    if ensemble == "nose-hoover":
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        return NoseHooverChainNVT(atoms, timestep, temperature_K=temperature_K, tdamp=tdamp_fs * units.fs)
    from ase.md.verlet import VelocityVerlet

    return VelocityVerlet(atoms, timestep)
