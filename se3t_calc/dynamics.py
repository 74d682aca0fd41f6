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
        Fewer than two atoms, an unknown ensemble, a time step or damping time not
        > 0, a negative temperature or friction, a non-finite setting, a negative
        seed, or Nosé-Hoover at 0 K.
    """
    if len(atoms) < 2:
        raise ValueError(
            f"MD needs at least 2 atoms, got {len(atoms)}: one atom has no motion but that of the "
            "centre of mass, which the initial velocities remove, so it has no temperature; for a "
            "crystal of one atom per cell, repeat the cell (atoms.repeat((2, 2, 2)))"
        )
    _check_settings(
        ensemble,
        timestep_fs=timestep_fs,
        temperature_K=temperature_K,
        friction_per_fs=friction_per_fs,
        tdamp_fs=tdamp_fs,
        seed=seed,
        initial_temperature_K=initial_temperature_K,
    )
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


def _check_settings(ensemble: str, *, seed: int, **settings: float | None) -> None:
    """Refuse settings :func:`make_dynamics` cannot run, naming the parameter."""
    if ensemble not in ENSEMBLES:
        raise ValueError(f"unknown ensemble {ensemble!r}; choose one of {ENSEMBLES}")
    for name, value in settings.items():
        if value is None:  # initial_temperature_K: that of the thermostat
            continue
        strict = name in ("timestep_fs", "tdamp_fs")
        if not (value > 0 if strict else value >= 0):
            raise ValueError(f"{name} must be {'>' if strict else '>='} 0, got {value}")
        if not np.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
    if ensemble == "nose-hoover" and settings["temperature_K"] == 0:
        raise ValueError(
            "the Nosé-Hoover thermostat needs temperature_K > 0 (it divides by kT); "
            "for dynamics without a thermostat use the 'nve' ensemble"
        )
    if isinstance(seed, int | np.integer) and seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
