"""Checks that stop MD when it leaves the model's domain, as an ASE observer."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.geometry import find_mic

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
    ):
        self.atoms, self.cutoff = atoms, cutoff
        self.bond_factor, self.max_temperature_K = bond_factor, max_temperature_K
        self.energy_tolerance = energy_tolerance_meV_per_atom
        self.had_neighbour = self._neighbour_counts() > 0
        self.bonds = covalent_bonds(atoms, bond_tolerance)
        self.bond_lengths = self._bond_lengths()
        self.start_energy: float | None = None

    def __call__(self) -> None:
        """Check the current state; raise :class:`BlowUpError` naming the first problem."""
        for check in (self._finite, self._isolated, self._bonds, self._temperature, self._energy):
            problem = check()
            if problem:
                raise BlowUpError(problem)

    def _finite(self) -> str | None:
        energy, forces = self.atoms.get_potential_energy(), self.atoms.get_forces()
        if np.isfinite(energy) and np.isfinite(forces).all():
            return None
        return "non-finite energy or forces from the model (the positions were finite)"

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
        ratio = self._bond_lengths() / self.bond_lengths
        worst = int(np.argmax(ratio))
        if ratio[worst] <= self.bond_factor:
            return None
        i, j = self.bonds[worst]
        symbols = self.atoms.get_chemical_symbols()
        return (
            f"bond {i}-{j} ({symbols[i]}-{symbols[j]}) stretched to {ratio[worst]:.2f} times its "
            f"starting length {self.bond_lengths[worst]:.3f} Å (limit {self.bond_factor})"
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

    def _bond_lengths(self) -> np.ndarray:
        vectors = self.atoms.positions[self.bonds[:, 1]] - self.atoms.positions[self.bonds[:, 0]]
        if self.atoms.pbc.any():
            vectors, _ = find_mic(vectors, self.atoms.cell, self.atoms.pbc)
        return np.linalg.norm(vectors, axis=1)


def covalent_bonds(atoms: Atoms, tolerance: float = 1.2) -> np.ndarray:
    """Pairs closer than ``tolerance`` times the sum of their covalent radii (minimum image).

    Parameters
    ----------
    atoms : ase.Atoms
    tolerance : float

    Returns
    -------
    np.ndarray, shape (B, 2), int
        Atom indices ``i < j`` of each bond.
    """
    radii = covalent_radii[atoms.numbers]
    i, j, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 2 * tolerance * radii.max())
    length = np.linalg.norm(atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell.array, axis=1)
    bonded = (i < j) & (length < tolerance * (radii[i] + radii[j]))
    return np.unique(np.stack([i[bonded], j[bonded]], axis=1), axis=0).reshape(-1, 2)
