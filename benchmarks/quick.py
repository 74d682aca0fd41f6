"""Quick mode of the benchmarks: their own code path on tiny sizes, for CI.

``python benchmarks/NAME.py --quick`` runs a benchmark on a few structures, steps or
epochs (about 30 s on one thread) and writes its files only to ``--out`` (or its own
output option, or a temporary folder), never to ``benchmarks/figures``, ``models/`` or
``runs/``. Labelled data that the benchmark reads from ``../shared/data`` is replaced
by stand-ins made here: rattled copies of ``examples/structures/*.xyz`` labelled with
ASE's EMT calculator (it knows H, C, N and O), small and deterministic; :func:`rmd17`
writes them as a stand-in of the rMD17 folder, in its file format, so that a benchmark
reads them as it reads the real files. The numbers a quick run prints say nothing about
the model; that it runs is the point.

Imported as ``quick`` (``python benchmarks/NAME.py`` puts ``benchmarks/`` on ``sys.path``).
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT
from ase.io import read, write

ROOT = Path(__file__).resolve().parents[1]
STRUCTURES = ROOT / "examples" / "structures"
RMD17 = ROOT.parent / "shared" / "data" / "rmd17"  # the real data, beside the repository
QUICK_HELP = "tiny sizes and stand-in data (EMT labels): checks that the benchmark runs, in about 30 s"


def add_options(parser: argparse.ArgumentParser, *, out: bool = True) -> None:
    """Add ``--quick`` and, for a benchmark that writes files in quick mode, ``--out``."""
    parser.add_argument("--quick", action="store_true", help=QUICK_HELP)
    if out:
        parser.add_argument(
            "--out", type=Path, help="folder for the files of --quick (default: a temporary folder)"
        )


def png_path(text: str) -> Path:
    """``--png`` argument type: a name ending in ``.png`` (the plot is written as PNG, so any
    other name, a benchmark's own JSON input say, is refused rather than overwritten)."""
    if Path(text).suffix != ".png":
        raise argparse.ArgumentTypeError(f"{text}: the plot is written as PNG, to a name ending in .png")
    return Path(text)


def folder(path: Path | None) -> Path:
    """``path`` (created if needed), or a new temporary folder when it is None."""
    if path is None:
        return Path(tempfile.mkdtemp(prefix="se3t-quick-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def scratch() -> Path:
    """A temporary folder for stand-in data, removed when the process exits."""
    path = Path(tempfile.mkdtemp(prefix="se3t-quick-data-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def skip(reason: str) -> None:
    """Print why the quick run is skipped and exit with status 0."""
    print(f"skipped: {reason}")
    raise SystemExit(0)


def structure(molecule: str) -> Atoms:
    """``examples/structures/<molecule>.xyz`` (ethanol, aspirin, glycine), unlabelled."""
    return read(STRUCTURES / f"{molecule}.xyz")


def labelled(molecule: str, count: int, *, seed: int = 0, rattle_A: float = 0.05) -> list[Atoms]:
    """``count`` copies of ``molecule`` rattled by ``rattle_A`` (Å, normal), with EMT energy and forces."""
    from se3t_calc.learn.validate import labelled_copy  # imports torch: only when labels are made

    start, rng = structure(molecule), np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        atoms = start.copy()
        atoms.positions += rng.normal(scale=rattle_A, size=atoms.positions.shape)
        atoms.calc = EMT()
        frames.append(labelled_copy(atoms, atoms.get_potential_energy(), atoms.get_forces()))
    return frames


def isolated_atoms(species: list[str] | tuple[str, ...]) -> list[Atoms]:
    """One lone atom of each element with its EMT energy (and zero forces)."""
    from se3t_calc.learn.validate import labelled_copy

    lone = []
    for symbol in species:
        atoms = Atoms(symbol)
        atoms.calc = EMT()
        lone.append(labelled_copy(atoms, atoms.get_potential_energy(), np.zeros((1, 3))))
    return lone


def write_labelled(path: Path, molecule: str, count: int, *, seed: int = 0) -> Path:
    """:func:`labelled` frames written to ``path`` (extxyz); returns ``path``."""
    write(path, labelled(molecule, count, seed=seed), format="extxyz")
    return path


def write_rmd17(path: Path, frames: list[Atoms]) -> Path:
    """Labelled ``frames`` of one molecule as an rMD17 npz (coords Å, energies and forces kcal/mol)."""
    from se3t_calc.train.data import KCAL_MOL

    np.savez(
        path,
        nuclear_charges=frames[0].numbers.astype(np.uint8),
        coords=np.array([a.positions for a in frames]),
        energies=np.array([a.get_potential_energy() for a in frames]) / KCAL_MOL,
        forces=np.array([a.get_forces() for a in frames]) / KCAL_MOL,
    )
    return path


def rmd17(molecules: Iterable[str], *, train: int = 10, test: int = 4) -> Path:
    """A stand-in for ``../shared/data/rmd17`` in a :func:`scratch` folder.

    ``rmd17_<molecule>_train_01.npz`` and ``..._test_01.npz`` with ``train`` and ``test``
    EMT-labelled rattled copies of each molecule's example structure, and
    ``isolated_atoms_pbe_def2svp.xyz`` with the EMT energies of H, C, N and O alone.
    """
    folder = scratch()
    for molecule in molecules:
        write_rmd17(folder / f"rmd17_{molecule}_train_01.npz", labelled(molecule, train, seed=1))
        write_rmd17(folder / f"rmd17_{molecule}_test_01.npz", labelled(molecule, test, seed=2))
    write(folder / "isolated_atoms_pbe_def2svp.xyz", isolated_atoms(["H", "C", "N", "O"]), format="extxyz")
    return folder
