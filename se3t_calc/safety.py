"""Checks that stop MD when it leaves the model's domain, as an ASE observer."""

from __future__ import annotations

import warnings

import numpy as np
from ase import Atoms
from ase.data import covalent_radii

from se3t_calc.analysis import bond_lengths, covalent_bonds
from se3t_calc.neighbors import neighbor_list


class BlowUpError(RuntimeError):
    """Raised by :class:`MDSafetyCheck` when a simulation has left the model's domain."""


class MDSafetyCheck:
    """ASE observer that raises :class:`BlowUpError` when MD goes wrong.

    Attach it to an integrator, ``dyn.attach(MDSafetyCheck(atoms, cutoff=5.0), interval=1)``;
    the exception then stops ``dyn.run`` at the first bad step, with a message naming
    what went wrong. The state at construction is the reference.

    Checks, in order:

    - energy and forces finite;
    - no two atoms closer than ``overlap_factor`` times the sum of their covalent
      radii (nuclei that met: the model never saw such distances);
    - with a committee, no atom whose force uncertainty (the norm of its ``forces_std``)
      exceeds ``max_force_std`` eV/Å, or with ``uncertain="warn"`` a warning the first
      time one does;
    - no atom that had a neighbour within ``cutoff`` at the start is without one now;
    - no covalent bond of the start (pairs closer than ``bond_tolerance`` times the
      sum of covalent radii) longer than ``bond_factor`` times its starting length;
    - temperature at most ``max_temperature_K``;
    - total (potential + kinetic) energy within ``energy_tolerance_meV_per_atom`` of
      its first value, for NVE runs, where it is conserved.

    Parameters
    ----------
    atoms : ase.Atoms
        The simulated structure, with its calculator attached.
    cutoff : float
        The model's cutoff radius, Å.
    bond_factor : float or None
        Largest allowed bond length as a multiple of its starting length; None disables.
    max_temperature_K : float or None
        None disables.
    energy_tolerance_meV_per_atom : float or None
        Largest allowed change of the total energy, meV per atom; None disables
        (thermostatted runs do not conserve it).
    bond_tolerance : float
        Pairs closer than this many times the sum of their covalent radii are bonds.
    overlap_factor : float or None
        Pairs closer than this many times the sum of their covalent radii have
        collapsed onto each other; None disables.
    max_force_std : float or None
        Largest allowed force uncertainty of an atom, eV/Å; needs a committee
        calculator (``forces_std`` in its results). None disables.
    uncertain : {"stop", "warn"}
        What exceeding ``max_force_std`` does: raise :class:`BlowUpError`, or warn
        once (:class:`UncertaintyWarning`) and go on.
    """

    def __init__(
        self,
        atoms: Atoms,
        *,
        cutoff: float,
        bond_factor: float | None = 1.5,
        max_temperature_K: float | None = None,
        energy_tolerance_meV_per_atom: float | None = None,
        bond_tolerance: float = 1.2,
        overlap_factor: float | None = 0.6,
        max_force_std: float | None = None,
        uncertain: str = "stop",
    ):
        if uncertain not in ("stop", "warn"):
            raise ValueError(f"uncertain={uncertain!r}: choose 'stop' or 'warn'")
        if max_force_std is not None and not hasattr(atoms.calc, "num_members"):
            raise ValueError("max_force_std needs an SE3TCalculator")
        if max_force_std is not None and not atoms.calc.num_members:
            raise ValueError(
                "max_force_std needs a committee of models for its force uncertainty: give several "
                "model files, a committee folder or a shipped committee (e.g. rmd17-ethanol-committee)"
            )
        self.atoms, self.cutoff = atoms, cutoff
        self.overlap_factor, self.max_force_std, self.uncertain = overlap_factor, max_force_std, uncertain
        self.warned = False
        self.bond_factor, self.max_temperature_K = bond_factor, max_temperature_K
        self.energy_tolerance = energy_tolerance_meV_per_atom
        self.had_neighbour = self._neighbour_counts() > 0
        self.bonds = covalent_bonds(atoms, bond_tolerance)
        self.start_lengths = bond_lengths(self.atoms, self.bonds)
        self.start_energy: float | None = None

    def __call__(self) -> None:
        """Check the current state; raise :class:`BlowUpError` naming the first problem."""
        checks = (
            self._finite,
            self._overlap,
            self._uncertainty,
            self._isolated,
            self._bonds,
            self._temperature,
            self._energy,
        )
        for check in checks:
            problem = check()
            if problem:
                raise BlowUpError(problem)

    def _finite(self) -> str | None:
        energy, forces = self.atoms.get_potential_energy(), self.atoms.get_forces()
        if np.isfinite(energy) and np.isfinite(forces).all():
            return None
        return "non-finite energy or forces from the model (the positions were finite)"

    def _overlap(self) -> str | None:
        if self.overlap_factor is None:
            return None
        found = closest_overlap(self.atoms, self.overlap_factor)
        return None if found is None else found + ": the structure has collapsed"

    def _uncertainty(self) -> str | None:
        if self.max_force_std is None:
            return None
        sigma = force_uncertainty(self.atoms)
        worst = int(np.argmax(sigma))
        if sigma[worst] <= self.max_force_std:
            return None
        symbol = self.atoms.get_chemical_symbols()[worst]
        problem = (
            f"force uncertainty {sigma[worst]:.3f} eV/Å on atom {worst} ({symbol}) above the limit "
            f"{self.max_force_std} eV/Å: the committee disagrees, the model is extrapolating"
        )
        if self.uncertain == "stop":
            return problem
        if not self.warned:
            warnings.warn(problem + "; going on (uncertain='warn')", UncertaintyWarning, stacklevel=2)
            self.warned = True
        return None

    def _isolated(self) -> str | None:
        lost = np.nonzero(self.had_neighbour & (self._neighbour_counts() == 0))[0]
        if not len(lost):
            return None
        symbol = self.atoms.get_chemical_symbols()[lost[0]]
        return (
            f"atom {lost[0]} ({symbol}) has no neighbour within the {self.cutoff} Å cutoff, "
            f"though it had one at the start: it has left the structure ({len(lost)} such atom(s))"
        )

    def _bonds(self) -> str | None:
        if self.bond_factor is None or not len(self.bonds):
            return None
        ratio = bond_lengths(self.atoms, self.bonds) / self.start_lengths
        worst = int(np.argmax(ratio))
        if ratio[worst] <= self.bond_factor:
            return None
        i, j = self.bonds[worst]
        symbols = self.atoms.get_chemical_symbols()
        return (
            f"bond {i}-{j} ({symbols[i]}-{symbols[j]}) stretched to {ratio[worst]:.2f} times its "
            f"starting length {self.start_lengths[worst]:.3f} Å (limit {self.bond_factor})"
        )

    def _temperature(self) -> str | None:
        temperature = self.atoms.get_temperature()
        if self.max_temperature_K is None or temperature <= self.max_temperature_K:
            return None
        return f"temperature {temperature:.0f} K above the limit of {self.max_temperature_K:.0f} K"

    def _energy(self) -> str | None:
        if self.energy_tolerance is None:
            return None
        energy = self.atoms.get_potential_energy() + self.atoms.get_kinetic_energy()
        if self.start_energy is None:
            self.start_energy = energy
        change = 1000 * (energy - self.start_energy) / len(self.atoms)
        if abs(change) <= self.energy_tolerance:
            return None
        return (
            f"total energy changed by {change:+.2f} meV/atom since the start of NVE "
            f"(tolerance {self.energy_tolerance} meV/atom): the integration is unstable"
        )

    def _neighbour_counts(self) -> np.ndarray:
        a = self.atoms
        i, _, _ = neighbor_list(a.positions, a.cell.array, a.pbc, self.cutoff)
        return np.bincount(i, minlength=len(a))


class UncertaintyWarning(UserWarning):
    """The committee's force uncertainty passed the limit of an :class:`MDSafetyCheck`."""


def force_uncertainty(atoms: Atoms) -> np.ndarray:
    """Per-atom force uncertainty (N,), eV/Å: the norm of the committee's ``forces_std`` row.

    ``atoms.calc`` must be a committee calculator whose results are current.
    """
    atoms.get_forces()
    return np.linalg.norm(atoms.calc.results["forces_std"], axis=1)


def closest_overlap(atoms: Atoms, factor: float) -> str | None:
    """The closest pair nearer than ``factor`` times its covalent bond length, described; else None."""
    radii = covalent_radii[atoms.numbers]
    i, j, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 2 * factor * radii.max())
    length = np.linalg.norm(atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell.array, axis=1)
    ratio = length / (radii[i] + radii[j])
    if not len(ratio) or ratio.min() >= factor:
        return None
    k = int(np.argmin(ratio))
    symbols = atoms.get_chemical_symbols()
    return (
        f"atoms {i[k]} ({symbols[i[k]]}) and {j[k]} ({symbols[j[k]]}) are {length[k]:.3f} Å apart, "
        f"{ratio[k]:.2f} times their covalent bond length (limit {factor})"
    )
