"""Isolated-atom and atomisation energies of models against DFT.

For each model: the energy of every element alone, minus the model's own E0 (zero
with the exact isolated-atom limit), and the atomisation energy of an rMD17 molecule
(frame 0 of test_01), ``sum_i E(atom i alone) - E(molecule)``, beside DFT's
(``sum_i E0_DFT - E_DFT``, PBE/def2-SVP isolated atoms from
``isolated_atoms_pbe_def2svp.xyz``).

    python benchmarks/isolated_atoms.py rmd17-ethanol rmd17-ethanol-fast runs/x/best.pt --molecule ethanol

``--quick``: ``rmd17-<molecule>-fast`` and the shipped committee unless models are named,
against EMT in place of DFT (a stand-in of the rMD17 files, ``quick.py``).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import quick
from ase import Atoms
from ase.io import read

from se3t_calc import SE3TCalculator
from se3t_calc.train.data import read_structures

RMD17 = quick.RMD17


def dft_reference(molecule: str, data: Path = RMD17) -> tuple[Atoms, float, dict[str, float]]:
    """Frame 0 of test_01, its DFT energy (eV) and the DFT isolated-atom energies (eV)."""
    frame = read_structures(data / f"rmd17_{molecule}_test_01.npz")[0]
    e0 = {
        a.get_chemical_symbols()[0]: a.get_potential_energy()
        for a in read(data / "isolated_atoms_pbe_def2svp.xyz", ":")
    }
    return frame.atoms, frame.energy, e0


def energy(atoms: Atoms, calculator: SE3TCalculator) -> float:
    atoms = atoms.copy()
    atoms.calc = calculator
    return atoms.get_potential_energy()


def model_row(name: str, molecule: Atoms, dft: float, e0_dft: dict[str, float]) -> dict:
    """Lone-atom offsets from the model's E0 and atomisation energies, eV."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calculator = SE3TCalculator(name, device="cpu", dtype="float64")
    model = calculator.model
    first = model.members[0] if hasattr(model, "members") else model
    stored = dict(zip(first.config.species, first.readout.atomic_energies.tolist(), strict=True))
    alone = {s: energy(Atoms(s), calculator) for s in first.config.species}
    symbols = molecule.get_chemical_symbols()
    atomisation = sum(alone[s] for s in symbols) - energy(molecule, calculator)
    return {
        "model": name,
        "limit": first.config.isolated_atom_limit,
        "offsets": {s: alone[s] - stored[s] for s in alone},
        "atomisation": atomisation,
        "dft_atomisation": sum(e0_dft[s] for s in symbols) - dft,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="*", help="model names, files or committee folders (at least one)")
    parser.add_argument("--molecule", default="ethanol")
    parser.add_argument("--data", type=Path, default=RMD17, help="folder with the rMD17 files")
    quick.add_options(parser, out=False)
    args = parser.parse_args()
    if args.quick:
        args.models = args.models or [f"rmd17-{args.molecule}-fast", f"rmd17-{args.molecule}-committee"]
        args.data = quick.rmd17([args.molecule])
    elif not args.models:
        parser.error("the following arguments are required: models")
    molecule, dft, e0_dft = dft_reference(args.molecule, args.data)
    rows = [model_row(name, molecule, dft, e0_dft) for name in args.models]
    species = sorted({s for r in rows for s in r["offsets"]})
    head = " | ".join(f"E({s} alone) - E0" for s in species)
    print(f"| model | exact limit | {head} | atomisation (eV) | DFT (eV) | ratio |")
    print("| --- | --- |" + " ---: |" * (len(species) + 3))
    for r in rows:
        offsets = " | ".join(f"{r['offsets'].get(s, float('nan')):+.4f}" for s in species)
        ratio = r["atomisation"] / r["dft_atomisation"]
        print(
            f"| {r['model']} | {'yes' if r['limit'] else 'no'} | {offsets} | {r['atomisation']:.3f} "
            f"| {r['dft_atomisation']:.3f} | {ratio:.3f} |"
        )


if __name__ == "__main__":
    main()
