"""Reference calculators for ``se3t learn``: GFN2-xTB, PySCF DFT, or any ASE calculator.

A reference is named by a string (:func:`make_reference`). :func:`label` runs it on one
structure and turns every failure (an SCF that does not converge, a crash, a non-finite
result) into a reason, so that a learning run skips the frame and goes on.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.units import Bohr, Hartree

REFERENCE_HELP = (
    "xtb (GFN2-xTB through tblite), pyscf:XC/BASIS (DFT through PySCF, e.g. pyscf:pbe/def2-svp), "
    "or module:function returning an ASE calculator"
)


class ReferenceFailure(RuntimeError):
    """A reference calculation that gave no usable result."""


def make_reference(spec: str) -> Callable[[], Calculator]:
    """A factory of fresh reference calculators for ``spec``.

    Parameters
    ----------
    spec : str
        ``"xtb"``, ``"pyscf:XC/BASIS"`` or ``"module:function"`` (the function is called
        without arguments and returns an ASE calculator; the module is imported from
        the installed packages or the working folder).

    Returns
    -------
    callable
        Called with no arguments, returns a new calculator.

    Raises
    ------
    ValueError
        An unknown name, a malformed ``pyscf:`` spec, or a package that is not installed.
    """
    if spec == "xtb":
        _require("tblite", "pip install tblite (or se3t_calc[xtb])")
        from tblite.ase import TBLite

        return lambda: TBLite(method="GFN2-xTB", verbosity=0)
    if spec.startswith("pyscf:"):
        xc, _, basis = spec.removeprefix("pyscf:").partition("/")
        if not xc or not basis:
            raise ValueError(f"--reference {spec}: write pyscf:XC/BASIS, e.g. pyscf:pbe/def2-svp")
        _require("pyscf", "pip install pyscf (or se3t_calc[pyscf])")
        return lambda: PySCFCalculator(xc=xc, basis=basis)
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"--reference {spec}: unknown; use {REFERENCE_HELP}")
    if os.getcwd() not in sys.path:  # a module file in the working folder, as `python -m` finds it
        sys.path.insert(0, os.getcwd())
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"--reference {spec}: cannot import {name} from {module} ({err})") from err
    return lambda: _calculator_from(factory, spec)


def _calculator_from(factory: Callable[[], Any], spec: str) -> Calculator:
    """Call a user's ``module:function``; refuse, naming it, a failure or anything but a calculator."""
    try:
        calculator = factory()
    except Exception as err:  # the user's code may raise anything
        raise ReferenceFailure(
            f"--reference {spec}: calling it to make a calculator failed ({type(err).__name__}: {err})"
        ) from err
    if not callable(getattr(calculator, "get_potential_energy", None)):
        raise ReferenceFailure(
            f"--reference {spec}: the function returned {type(calculator).__name__}, not an ASE "
            "calculator; it must return one (e.g. EMT(), or an ORCA/CP2K/VASP calculator of ASE)"
        )
    return calculator


def _require(package: str, hint: str) -> None:
    try:
        importlib.import_module(package)
    except ImportError as err:
        raise ValueError(
            f"this reference needs the {package} package, which is not installed: {hint}"
        ) from err


class PySCFCalculator(Calculator):
    """Kohn–Sham DFT energy and forces of a molecule through PySCF.

    Restricted for closed shells, unrestricted otherwise (the spin is the smallest one
    the electron count allows, or Hund's rule for a lone atom), with density fitting.

    Parameters
    ----------
    xc : str
        Exchange–correlation functional as PySCF names it (``"pbe"``, ``"b3lyp"``).
    basis : str
        Basis set (``"def2-svp"``).
    charge : int
        Total charge.
    conv_tol : float
        SCF convergence on the energy, Hartree.
    max_cycle : int
        Largest number of SCF iterations; an SCF that needs more fails the frame.
    """

    implemented_properties = ["energy", "forces"]  # noqa: RUF012 (ASE declares it a list)

    def __init__(
        self,
        xc: str = "pbe",
        basis: str = "def2-svp",
        charge: int = 0,
        conv_tol: float = 1e-10,
        max_cycle: int = 100,
    ):
        super().__init__()
        self.xc, self.basis, self.charge = xc, basis, charge
        self.conv_tol, self.max_cycle = conv_tol, max_cycle

    def calculate(
        self, atoms: Atoms | None = None, properties: Any = ("energy",), system_changes: Any = all_changes
    ) -> None:
        """Energy (eV) and forces (eV/Å) of ``atoms``; :class:`ReferenceFailure` if the SCF fails."""
        from pyscf import dft, gto

        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        if self.atoms.pbc.any():
            raise ReferenceFailure("PySCFCalculator computes molecules; this structure is periodic")
        mol = gto.M(
            atom=list(zip(self.atoms.get_chemical_symbols(), self.atoms.positions, strict=True)),
            basis=self.basis,
            charge=self.charge,
            spin=_spin(self.atoms.numbers, self.charge),
            unit="Angstrom",
            verbose=0,
        )
        scf = (dft.RKS(mol) if mol.spin == 0 else dft.UKS(mol)).density_fit()
        scf.xc, scf.conv_tol, scf.max_cycle = self.xc, self.conv_tol, self.max_cycle
        energy = scf.kernel()
        if not scf.converged:
            raise ReferenceFailure(f"SCF not converged in {self.max_cycle} cycles")
        gradient = scf.nuc_grad_method().kernel()
        self.results = {"energy": float(energy) * Hartree, "forces": -np.asarray(gradient) * Hartree / Bohr}


# subshells in filling order, (l, capacity)
_AUFBAU = [(0, 2), (0, 2), (1, 6), (0, 2), (1, 6), (0, 2), (2, 10), (1, 6), (0, 2), (2, 10), (1, 6)]


def _spin(numbers: np.ndarray, charge: int) -> int:
    """2S: Hund's rule for a lone atom (aufbau order, up to Kr), else the parity of the electrons."""
    electrons = int(numbers.sum()) - charge
    if len(numbers) > 1 or electrons > 36:
        return electrons % 2
    for _, capacity in _AUFBAU:
        if electrons <= capacity:
            return min(electrons, capacity - electrons)
        electrons -= capacity
    return 0


def label(atoms: Atoms, calculator: Calculator) -> tuple[float, np.ndarray] | str:
    """Energy (eV) and forces (N, 3) (eV/Å) of ``atoms`` from ``calculator``, or why not.

    Any exception of the calculator and any non-finite result become the returned
    reason, so one failed frame never stops a run.
    """
    frame = atoms.copy()
    frame.calc = calculator
    try:
        energy = float(frame.get_potential_energy())
        forces = np.array(frame.get_forces(), dtype=float)
    except Exception as err:  # a reference may raise anything: SCF failure, crash, I/O
        return (
            f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else 'no message'}"
        )
    if not np.isfinite(energy) or not np.isfinite(forces).all():
        return "non-finite energy or forces"
    return energy, forces


def isolated_atom_energies(species: tuple[str, ...], factory: Callable[[], Calculator]) -> dict[str, float]:
    """E0 of every element of ``species`` from the reference, one lone atom each, eV.

    Raises
    ------
    ReferenceFailure
        The reference fails on a lone atom.
    """
    energies = {}
    for symbol in species:
        result = label(Atoms(symbol), factory())
        if isinstance(result, str):
            raise ReferenceFailure(f"the reference failed on a lone {symbol} atom, needed for E0: {result}")
        energies[symbol] = result[0]
    return energies
