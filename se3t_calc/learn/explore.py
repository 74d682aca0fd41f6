"""Where a committee is unsure: frames to label, from rattling and from committee MD."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator

from se3t_calc.dynamics import make_dynamics
from se3t_calc.safety import closest_overlap, force_uncertainty


def rattled(atoms: Atoms, count: int, temperature_K: float, rng: np.random.Generator) -> list[Atoms]:
    """``count`` copies of ``atoms`` with Gaussian displacements.

    The spread grows from 0.01 Å to 0.04 Å x sqrt(T / 300 K) across the copies: at
    0.04 Å the forces of a molecule at 300 K are already larger than in its MD (random
    displacements compress stiff bonds), so larger ones teach what MD never visits.
    """
    top = 0.04 * np.sqrt(max(temperature_K, 1.0) / 300.0)
    frames = []
    for scale in np.linspace(0.01, top, count):
        frame = atoms.copy()
        frame.calc = None
        frame.positions += rng.normal(scale=scale, size=frame.positions.shape)
        frames.append(frame)
    return frames


@dataclass
class Exploration:
    """What a committee MD found.

    Attributes
    ----------
    frames : list of ase.Atoms
        Snapshots (every ``stride`` steps), without calculator.
    sigma : np.ndarray, shape (F,)
        Largest per-atom force uncertainty of each snapshot, eV/Å.
    steps : int
        MD steps run (the walkers move together).
    stops : list of str
        Why trajectories ended early (uncertainty far above the threshold, collapse).
    ends : list of int
        Index of the last snapshot of each trajectory that ended early.
    trajectory : np.ndarray, shape (F,)
        Which trajectory (0, 1, ...) each snapshot belongs to; a walker that starts
        again begins a new one.
    walkers : list of ase.Atoms
        Where each walker ended, with its momenta: the start of the next exploration.
    """

    frames: list[Atoms]
    sigma: np.ndarray
    steps: int
    stops: list[str]
    ends: list[int]
    trajectory: np.ndarray
    walkers: list[Atoms] = field(default_factory=list)

    def converged(self, threshold: float, planned: int) -> bool:
        """Whether the walkers ran ``planned`` steps, none ending early, all below ``threshold``."""
        return not self.stops and self.steps >= planned and bool((self.sigma <= threshold).all())


def explore(
    atoms: Atoms,
    calculator: Calculator,
    *,
    temperature_K: float,
    steps: int,
    threshold: float,
    wanted: int,
    seed: int,
    cutoff: float,
    walkers: int = 4,
    resume: list[Atoms] | None = None,
    timestep_fs: float = 0.5,
    stride: int = 10,
    stop_factor: float = 5.0,
) -> Exploration:
    """Langevin MD with a committee calculator, recording its force uncertainty.

    ``walkers`` copies of a molecule run side by side in one system, farther apart than
    the model sees (it is local: nothing reaches past its cutoff), so one committee
    call moves them all; a periodic structure runs alone. A walker ends early when an
    atom's uncertainty exceeds ``stop_factor`` x ``threshold`` (it has left what the
    committee knows; the snapshots before are the informative ones) or atoms collapse;
    it then starts again from ``atoms`` in place, with new velocities. The MD runs
    ``steps`` steps, or a fifth of them once ``wanted`` snapshots exceed the threshold
    (so that the walkers move on and the choice is among many). With ``resume``
    (the ``walkers`` of an earlier exploration) the walkers go on from where they were,
    so that round after round they reach further from the start.

    Parameters
    ----------
    atoms : ase.Atoms
        Starting structure.
    calculator : SE3TCalculator
        A committee (results carry ``forces_std``).
    temperature_K, steps, threshold, wanted, seed, timestep_fs, stride, stop_factor
        As above; ``threshold`` in eV/Å.
    cutoff : float
        The model's cutoff radius, Å.
    walkers : int
    resume : list of ase.Atoms, optional
        Positions and momenta of each walker (:attr:`Exploration.walkers`).
    """
    count = 1 if atoms.pbc.any() else walkers
    system, offsets = _side_by_side(atoms, count, cutoff)
    system.calc = calculator
    parts = [slice(k * len(atoms), (k + 1) * len(atoms)) for k in range(count)]
    rng = np.random.default_rng(seed)
    going_on = resume is not None and len(resume) == count
    if going_on:
        assert resume is not None
        moved = [walker.positions + offset for walker, offset in zip(resume, offsets, strict=True)]
        system.positions = np.concatenate(moved)
        system.set_momenta(np.concatenate([walker.get_momenta() for walker in resume]))
    dyn = make_dynamics(
        system, "langevin", timestep_fs=timestep_fs, temperature_K=temperature_K, seed=seed,
        initial_temperature_K=0.0 if going_on else None,
    )  # fmt: skip
    found = Exploration([], np.zeros(0), 0, [], [], np.zeros(0, dtype=int), [])
    sigma: list[float] = []
    trajectory: list[int] = []
    runs = list(range(count))
    for _ in dyn.irun(steps):
        if dyn.nsteps == 0 or dyn.nsteps % stride:  # irun yields the start too
            continue
        per_atom = force_uncertainty(system)
        for k, part in enumerate(parts):
            walker = Atoms(atoms.numbers, system.positions[part] - offsets[k], cell=atoms.cell, pbc=atoms.pbc)
            now = float(per_atom[part].max())
            found.frames.append(walker)
            sigma.append(now)
            trajectory.append(runs[k])
            problem = closest_overlap(walker, 0.6)
            if problem or now > stop_factor * threshold:
                found.stops.append(problem or f"force uncertainty {now:.3f} eV/Å at step {dyn.nsteps}")
                found.ends.append(len(found.frames) - 1)
                _restart(system, part, atoms.positions + offsets[k], temperature_K, rng)
                runs[k] = max(runs) + 1
            elif count > 1:
                _stop_drift(system, part)
        if dyn.nsteps >= steps // 5 and sum(value > threshold for value in sigma) >= wanted:
            break
    found.sigma, found.trajectory, found.steps = np.array(sigma), np.array(trajectory, dtype=int), dyn.nsteps
    for k, part in enumerate(parts):
        walker = Atoms(atoms.numbers, system.positions[part] - offsets[k], cell=atoms.cell, pbc=atoms.pbc)
        walker.set_momenta(system.get_momenta()[part])
        found.walkers.append(walker)
    return found


def _side_by_side(atoms: Atoms, count: int, cutoff: float) -> tuple[Atoms, np.ndarray]:
    """``count`` copies of a molecule along x, gaps of twice the cutoff plus 20 Å; their offsets (Å)."""
    extent = float(np.ptp(atoms.positions[:, 0])) if len(atoms) else 0.0
    offsets = np.zeros((count, 3))
    offsets[:, 0] = np.arange(count) * (extent + 2 * cutoff + 20.0)
    system = atoms.copy()
    for offset in offsets[1:]:
        copy = atoms.copy()
        copy.positions += offset
        system += copy
    system.calc = None
    return system, offsets


def _restart(
    system: Atoms, part: slice, positions: np.ndarray, temperature_K: float, rng: np.random.Generator
) -> None:
    """Put one walker back at ``positions`` with Maxwell-Boltzmann velocities and no drift."""
    new = system.positions.copy()
    new[part] = positions
    system.positions = new
    masses = system.get_masses()[part, None]
    momenta = system.get_momenta()
    momenta[part] = rng.normal(size=(len(masses), 3)) * np.sqrt(masses * units.kB * temperature_K)
    system.set_momenta(momenta)
    _stop_drift(system, part)


def _stop_drift(system: Atoms, part: slice) -> None:
    """Remove one walker's centre-of-mass velocity, so walkers never drift into each other."""
    masses = system.get_masses()[part, None]
    momenta = system.get_momenta()
    momenta[part] -= masses * (momenta[part].sum(axis=0) / masses.sum())
    system.set_momenta(momenta)


def select(found: Exploration, threshold: float, count: int, min_gap: int = 3) -> list[Atoms]:
    """Up to ``count`` snapshots: where trajectories ended early, then those above
    ``threshold``, most uncertain first, kept apart.

    The last snapshot of a trajectory that ended early is always taken (atoms that
    collapsed while the committee agreed are as wrong as can be). Diversity: a
    snapshot closer than ``min_gap`` snapshots of the same trajectory to one already
    chosen is passed over, so one excursion does not fill the round.
    """
    chosen: list[int] = list(dict.fromkeys(found.ends))[:count]
    for index in np.argsort(-found.sigma, kind="stable"):
        if found.sigma[index] <= threshold or len(chosen) >= count:
            break
        same = [c for c in chosen if found.trajectory[c] == found.trajectory[index]]
        if all(abs(int(index) - c) >= min_gap for c in same):
            chosen.append(int(index))
    return [found.frames[i] for i in sorted(chosen)]
