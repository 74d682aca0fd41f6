"""Where a committee is unsure: frames to label, from rattling and from committee MD."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

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
        MD steps run, over all restarts.
    stops : list of str
        Why trajectories ended early (uncertainty far above the threshold, collapse).
    ends : list of int
        Index of the last snapshot of each trajectory that ended early.
    trajectory : np.ndarray, shape (F,)
        Which trajectory (0, 1, ...) each snapshot belongs to.
    """

    frames: list[Atoms]
    sigma: np.ndarray
    steps: int
    stops: list[str]
    ends: list[int]
    trajectory: np.ndarray

    def converged(self, threshold: float, planned: int) -> bool:
        """Whether one trajectory of ``planned`` steps stayed below ``threshold`` throughout."""
        return not self.stops and self.steps >= planned and bool((self.sigma <= threshold).all())


def explore(
    atoms: Atoms,
    calculator: object,
    *,
    temperature_K: float,
    steps: int,
    threshold: float,
    wanted: int,
    seed: int,
    timestep_fs: float = 0.5,
    stride: int = 10,
    stop_factor: float = 5.0,
) -> Exploration:
    """Langevin MD with a committee calculator, recording its force uncertainty.

    A trajectory ends early when an atom's uncertainty exceeds ``stop_factor`` x
    ``threshold`` (it has left what the committee knows; the frames before are the
    informative ones) or atoms collapse; a new one then starts from ``atoms`` with
    the next seed, until ``steps`` steps are spent or ``wanted`` snapshots exceed the
    threshold.

    Parameters
    ----------
    atoms : ase.Atoms
        Starting structure.
    calculator : SE3TCalculator
        A committee (results carry ``forces_std``).
    temperature_K, steps, threshold, wanted, seed, timestep_fs, stride, stop_factor
        As above; ``threshold`` in eV/Å.
    """
    frames: list[Atoms] = []
    sigma: list[float] = []
    stops: list[str] = []
    ends: list[int] = []
    trajectory: list[int] = []
    done, trial = 0, 0
    while done < steps and sum(s > threshold for s in sigma) < wanted:
        walker = atoms.copy()
        walker.calc = calculator
        dyn = make_dynamics(
            walker, "langevin", timestep_fs=timestep_fs, temperature_K=temperature_K, seed=seed + trial
        )
        trial += 1
        for _ in dyn.irun(steps - done):
            if dyn.nsteps == 0:  # irun yields the start too
                continue
            done += 1
            if dyn.nsteps % stride:
                continue
            now = float(force_uncertainty(walker).max())
            snapshot = walker.copy()
            snapshot.calc = None
            frames.append(snapshot)
            sigma.append(now)
            trajectory.append(trial - 1)
            problem = closest_overlap(walker, 0.6)
            if problem or now > stop_factor * threshold:
                stops.append(problem or f"force uncertainty {now:.3f} eV/Å at step {dyn.nsteps}")
                ends.append(len(frames) - 1)
                break
    return Exploration(frames, np.array(sigma), done, stops, ends, np.array(trajectory, dtype=int))


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
