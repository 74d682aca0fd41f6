"""Silicon: lattice constant, equation of state and elastic constants, model against DFT.

1. Diamond silicon (8-atom cubic cell) is relaxed in cell and positions
   (``FrechetCellFilter`` + BFGS): the equilibrium lattice constant ``a0``.
2. Energy against volume over +-6 % in ``a`` around ``a0``, fitted with Birch-Murnaghan
   (``ase.eos.EquationOfState``): the bulk modulus ``B``.
3. ``C11`` and ``C12`` from the stress under a +-1 % uniaxial strain along x, and
   ``B = (C11 + 2 C12) / 3`` as a cross-check of step 2.

The DFT reference (VASP PBE, as in the training data) comes from the mlearn files
themselves: ``a0`` from the unstrained cell of the ``Elastic`` group (a 2x2x2 supercell),
and ``C11``, ``C12`` from the stresses of its mode-0 strains of +-2 %.

    python examples/si_eos.py                      # the shipped mlearn-si model
    python examples/si_eos.py --model runs/mlearn-si/best.pt --data ../shared/data/mlearn
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.eos import EquationOfState
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS
from ase.units import GPa

from se3t_calc import SE3TCalculator
from se3t_calc.train.mlearn import mlearn_stress

HERE = Path(__file__).resolve().parent


def relaxed_lattice_constant(calc: SE3TCalculator, a_guess: float = 5.43) -> float:
    """Equilibrium cubic lattice constant (Å) of diamond Si under ``calc``."""
    atoms = bulk("Si", "diamond", a=a_guess, cubic=True)
    atoms.calc = calc
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-4, steps=200)
    return float(np.cbrt(atoms.get_volume()))


def bulk_modulus(calc: SE3TCalculator, a0: float, span: float = 0.06, points: int = 9) -> float:
    """Birch-Murnaghan bulk modulus (GPa) from energies of scaled cubic cells."""
    volumes, energies = [], []
    for a in a0 * np.linspace(1 - span, 1 + span, points):
        atoms = bulk("Si", "diamond", a=a, cubic=True)
        atoms.calc = calc
        volumes.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    _, _, b = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    return float(b / GPa)


def c11_c12(pairs: list[tuple[float, np.ndarray]]) -> tuple[float, float]:
    """``C11``, ``C12`` (GPa) from a central difference of the stress under uniaxial strain.

    ``pairs`` holds two ``(strain along x, (3, 3) stress in eV/Å^3, positive under
    tension)``.
    """
    (e1, s1), (e2, s2) = pairs
    slope = (s2 - s1) / (e2 - e1) / GPa
    return float(slope[0, 0]), float(slope[1, 1])


def model_elastic(calc: SE3TCalculator, a0: float, strain: float = 0.01) -> tuple[float, float]:
    """``C11``, ``C12`` (GPa) of the model at its own ``a0`` (ions fixed: the diamond
    cell has no internal relaxation under uniaxial strain along a cube axis)."""
    pairs = []
    for e in (-strain, strain):
        atoms = bulk("Si", "diamond", a=a0, cubic=True)
        atoms.set_cell(atoms.cell.array * np.diag([1 + e, 1, 1]), scale_atoms=True)
        atoms.calc = calc
        pairs.append((e, atoms.get_stress(voigt=False)))
    return c11_c12(pairs)


def dft_reference(data: Path) -> tuple[float, float, float]:
    """``a0`` (Å), ``C11``, ``C12`` (GPa) from the ``Elastic`` group of the mlearn Si files."""
    records = [
        r for name in ("Si_training.json", "Si_test.json") for r in json.loads((data / name).read_text())
    ]
    mode0 = {}  # strain along x, rounded -> (strain, stress), for the cells strained along x only
    cells = []
    for r in records:
        if r["group"] != "Elastic":
            continue
        cell = np.array(r["structure"]["lattice"]["matrix"])
        cells.append(cell)
        if np.allclose(cell - np.diag(np.diag(cell)), 0) and np.isclose(cell[1, 1], cell[2, 2]):
            strain = cell[0, 0] / cell[1, 1] - 1
            mode0[round(strain, 2)] = (strain, mlearn_stress(r["outputs"]["virial_stress"], "Si"))
    if -0.02 not in mode0 or 0.02 not in mode0:
        raise ValueError(f"{data}: the Elastic group has no uniaxial strains of +-2 %")
    a_ref = float(np.median([cell[1, 1] for cell in cells]) / 2)  # 2x2x2 cubic supercell
    return a_ref, *c11_c12([mode0[-0.02], mode0[0.02]])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="mlearn-si")
    parser.add_argument("--data", type=Path, default=HERE.parents[1] / "shared" / "data" / "mlearn")
    args = parser.parse_args()

    calc = SE3TCalculator(args.model, dtype="float64")
    a0 = relaxed_lattice_constant(calc)
    b_eos = bulk_modulus(calc, a0)
    c11, c12 = model_elastic(calc, a0)
    rows = [("a0 (Å)", a0), ("B, E(V) fit (GPa)", b_eos), ("C11 (GPa)", c11), ("C12 (GPa)", c12)]
    rows.append(("B = (C11 + 2 C12)/3 (GPa)", (c11 + 2 * c12) / 3))
    reference = None
    if (args.data / "Si_training.json").is_file():
        a_ref, c11_ref, c12_ref = dft_reference(args.data)
        reference = [a_ref, None, c11_ref, c12_ref, (c11_ref + 2 * c12_ref) / 3]
    print("| quantity | model | DFT (mlearn data) |")
    print("| --- | ---: | ---: |")
    for k, (name, value) in enumerate(rows):
        ref = "--" if reference is None or reference[k] is None else f"{reference[k]:.3f}"
        print(f"| {name} | {value:.3f} | {ref} |")


if __name__ == "__main__":
    main()
