"""Where a committee's uncertainty rises: a bond pulled apart, a dihedral beyond the training data.

``stretch``: from frame 0 of an rMD17 test file, one bond (``--bond I J``) is stretched
by moving atom J and every atom bonded to it on J's side; energy, energy std and the
largest per-atom force std at each length.

``dihedral``: labelled structures with a ``dihedral_angle`` info key (acetylacetone),
binned by that angle: how many training structures fall in each bin, and the
committee's mean per-atom force std and actual force error there.

    python benchmarks/uncertainty_scan.py stretch rmd17-ethanol-committee --molecule ethanol --bond 1 2
    python benchmarks/uncertainty_scan.py dihedral runs/acac-fast-committee \\
        --train runs/acac/train_300K_fit.xyz --sets ../shared/data/acac/train_600K.xyz

``--quick`` (no scan named): both scans with the shipped ethanol committee, on stand-ins
(``quick.py``): the C-O bond of a stand-in of the rMD17 files stretched from 1.2 to 2.0 Å,
and EMT-labelled ethanol structures binned by their C-C-O-H dihedral, written to ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import quick
import torch
from ase import Atoms
from ase.io import read, write
from ase.neighborlist import natural_cutoffs, neighbor_list
from calibration import errors_and_stds, predict

from se3t_calc import SE3TCalculator
from se3t_calc.train.data import read_structures

RMD17 = quick.RMD17
QUICK_COMMITTEE = "rmd17-ethanol-committee"


def side_of(atoms: Atoms, i: int, j: int) -> list[int]:
    """Atoms reached from ``j`` through bonds without crossing the bond ``i``-``j``."""
    a, b = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=1.1))
    bonded = {k: set(b[a == k]) - {k} for k in range(len(atoms))}
    side, todo = {j}, [j]
    while todo:
        for k in bonded[todo.pop()] - side - {i}:
            side.add(k)
            todo.append(k)
    return sorted(int(k) for k in side)


def stretch(args: argparse.Namespace) -> None:
    atoms = read_structures(args.data / f"rmd17_{args.molecule}_test_01.npz")[0].atoms
    i, j = args.bond
    moving = side_of(atoms, i, j)
    axis = atoms.positions[j] - atoms.positions[i]
    start = float(np.linalg.norm(axis))
    axis /= start
    atoms.calc = SE3TCalculator(args.committee, device="cpu", dtype="float64")
    e_eq = atoms.get_potential_energy()
    symbols = atoms.get_chemical_symbols()
    print(f"bond {i}-{j} ({symbols[i]}-{symbols[j]}), {start:.3f} Å at the start; moving atoms {moving}")
    print("| length (Å) | E - E_start (eV) | energy std (eV) | largest atom force std (eV/Å) |")
    print("| ---: | ---: | ---: | ---: |")
    for length in np.arange(args.from_A, args.to_A + 1e-9, args.step_A):
        moved = atoms.copy()
        moved.calc = atoms.calc
        moved.positions[moving] += (length - start) * axis
        e = moved.get_potential_energy()
        sigma = np.linalg.norm(moved.calc.results["forces_std"], axis=1).max()
        print(f"| {length:.2f} | {e - e_eq:+.3f} | {moved.calc.results['energy_std']:.3f} | {sigma:.3f} |")


def dihedral(args: argparse.Namespace) -> None:
    from se3t_calc.runtime import load_for_inference

    committee = load_for_inference(args.committee, device=torch.device("cpu"), dtype=torch.float64)
    train_angles = _angles(args.train)
    edges = np.arange(-180, 181, args.bin_deg)
    seen = np.histogram(train_angles, edges)[0]
    print(
        "| set | dihedral (deg) | training structures | structures | mean σ_F atom (meV/Å) | mean |ΔF| atom |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for path in args.sets:
        q = errors_and_stds(predict(committee, path))
        frames = read(path, ":")
        per_frame = np.repeat(_angles(path), [len(a) for a in frames])
        for k in range(len(edges) - 1):
            inside = (per_frame >= edges[k]) & (per_frame < edges[k + 1])
            if inside.any():
                count = int(np.sum((_angles(path) >= edges[k]) & (_angles(path) < edges[k + 1])))
                print(
                    f"| {Path(path).name} | {edges[k]}-{edges[k + 1]} | {seen[k]} | {count} | "
                    f"{1000 * q['atom_std'][inside].mean():.1f} | {1000 * q['atom_err'][inside].mean():.1f} |"
                )


def _angles(path: str) -> np.ndarray:
    """Signed dihedral angles in [-180, 180) degrees."""
    return np.array([(a.info["dihedral_angle"] + 180) % 360 - 180 for a in read(path, ":")])


def quick_scans(out: Path) -> None:
    """``--quick``: both scans on stand-ins, the dihedral's labelled sets written to ``out``."""
    data = quick.rmd17(["ethanol"])
    stretch(argparse.Namespace(committee=QUICK_COMMITTEE, molecule="ethanol", data=data, bond=(0, 2),
                               from_A=1.2, to_A=2.0, step_A=0.4))  # fmt: skip
    for name, seed in (("train", 1), ("test", 2)):
        frames = quick.labelled("ethanol", 6, seed=seed, rattle_A=0.1)
        for atoms in frames:
            atoms.info["dihedral_angle"] = atoms.get_dihedral(1, 0, 2, 8)  # C-C-O-H of ethanol.xyz
        write(out / f"dihedral_{name}.xyz", frames, format="extxyz")
    train, test = str(out / "dihedral_train.xyz"), str(out / "dihedral_test.xyz")
    dihedral(argparse.Namespace(committee=QUICK_COMMITTEE, train=train, sets=[test], bin_deg=15))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    quick.add_options(parser)
    sub = parser.add_subparsers(dest="scan")
    s = sub.add_parser("stretch")
    s.add_argument("committee")
    s.add_argument("--molecule", default="ethanol")
    s.add_argument("--data", type=Path, default=RMD17, help="folder with the rMD17 npz files")
    s.add_argument("--bond", type=int, nargs=2, default=(1, 2), metavar=("I", "J"))
    s.add_argument("--from-A", type=float, default=1.0)
    s.add_argument("--to-A", type=float, default=4.0)
    s.add_argument("--step-A", type=float, default=0.2)
    s.set_defaults(run=stretch)
    d = sub.add_parser("dihedral")
    d.add_argument("committee")
    d.add_argument("--train", required=True)
    d.add_argument("--sets", nargs="+", required=True)
    d.add_argument("--bin-deg", type=int, default=15)
    d.set_defaults(run=dihedral)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.quick and args.scan is not None:
        parser.error("--quick runs both scans on stand-ins: name no scan")
    if args.quick:
        quick_scans(quick.folder(args.out))
    elif args.scan is None:
        parser.error("the following arguments are required: scan")
    else:
        args.run(args)


if __name__ == "__main__":
    main()
