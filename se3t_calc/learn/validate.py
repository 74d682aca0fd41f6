"""Validation that is not circular: reference MD the learning never saw, scored at the end."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator

from se3t_calc.dynamics import make_dynamics


def reference_md(
    atoms: Atoms,
    factory: Callable[[], Calculator],
    *,
    temperature_K: float,
    frames: int,
    seed: int,
    timestep_fs: float = 0.5,
    equilibrate: int = 400,
    stride: int = 20,
) -> tuple[list[Atoms], int]:
    """Snapshots of a Langevin MD driven by the reference itself, with its labels.

    ``equilibrate`` steps are discarded, then every ``stride``-th step is kept, with the
    reference energy and forces of that step attached (no extra reference call).

    Returns
    -------
    list of ase.Atoms
        ``frames`` structures with a :class:`SinglePointCalculator` holding energy (eV)
        and forces (eV/Å).
    int
        Reference calls made (one per MD step and one at the start).
    """
    walker = atoms.copy()
    walker.calc = factory()
    dyn = make_dynamics(walker, "langevin", timestep_fs=timestep_fs, temperature_K=temperature_K, seed=seed)
    kept: list[Atoms] = []

    def keep() -> None:
        if dyn.nsteps > equilibrate and (dyn.nsteps - equilibrate) % stride == 0:
            kept.append(labelled_copy(walker, walker.get_potential_energy(), walker.get_forces()))

    dyn.attach(keep, interval=1)
    dyn.run(equilibrate + frames * stride)
    return kept, dyn.nsteps + 1


def labelled_copy(atoms: Atoms, energy: float, forces: np.ndarray) -> Atoms:
    """A copy of ``atoms`` carrying ``energy`` (eV) and ``forces`` (N, 3) (eV/Å) as results."""
    frame = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    frame.calc = SinglePointCalculator(frame, energy=float(energy), forces=np.array(forces, dtype=float))
    return frame


def score(frames: list[Atoms], calculator: Calculator) -> dict[str, float]:
    """Energy (meV, meV/atom) and force (meV/Å) MAE and RMSE of ``calculator`` against the labels.

    With a committee calculator also ``max_force_std_meV_per_A``: the mean over frames
    of its largest per-atom force uncertainty.
    """
    de, df, sigma = [], [], []
    for frame in frames:
        probe = frame.copy()
        probe.calc = calculator
        de.append(probe.get_potential_energy() - frame.get_potential_energy())
        df.append((probe.get_forces() - frame.get_forces()).ravel())
        if "forces_std" in calculator.results:
            sigma.append(np.linalg.norm(calculator.results["forces_std"], axis=1).max())
    e, f = 1000 * np.array(de), 1000 * np.concatenate(df)
    atoms = np.array([len(frame) for frame in frames])
    scores = {
        "structures": len(frames),
        "energy_mae_meV": float(np.abs(e).mean()),
        "energy_rmse_meV": float(np.sqrt((e**2).mean())),
        "energy_mae_meV_per_atom": float(np.abs(e / atoms).mean()),
        "forces_mae_meV_per_A": float(np.abs(f).mean()),
        "forces_rmse_meV_per_A": float(np.sqrt((f**2).mean())),
    }
    if sigma:
        scores["max_force_std_meV_per_A"] = float(1000 * np.mean(sigma))
    return scores
