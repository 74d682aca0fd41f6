"""Checks of the files a command will write, made before anything is written or deleted.

Nothing a user made (an input, a model, a run) is replaced without ``--overwrite``, and an
output that cannot be written is reported before any other file is touched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ase import Atoms

PathLike = str | os.PathLike


def check_outputs(
    outputs: Mapping[str, PathLike | None],
    *,
    inputs: Mapping[str, PathLike] | None = None,
    overwrite: bool = False,
) -> None:
    """Refuse output files that name an input or each other, lie in a missing folder, or exist.

    Paths are compared resolved (``Path.resolve``), so ``./a.xyz`` and ``a.xyz`` are one file.

    Parameters
    ----------
    outputs : mapping of str to path or None
        The flag (or argument name) of each output file to its path, e.g.
        ``{"--out": "md.extxyz", "--log": None}``; ``None`` (not given) is skipped.
    inputs : mapping of str to path, optional
        What each input file is to its path, e.g. ``{"the input structure": "ethanol.xyz"}``;
        never replaced, even with ``overwrite``.
    overwrite : bool
        Allow replacing existing output files.

    Raises
    ------
    ValueError
        Naming the file and the fix: an output that is an input or another output, whose
        folder does not exist or that is a folder, or that exists without ``overwrite``.
    """
    given = {flag: Path(path) for flag, path in outputs.items() if path is not None}
    for flag, path in given.items():
        _refuse_input(flag, path, inputs or {})
    _refuse_shared(given)
    for flag, path in given.items():
        _refuse_unwritable(flag, path)
    existing = {flag: path for flag, path in given.items() if path.exists()}
    if existing and not overwrite:
        raise ValueError(_existing(existing))


def check_run_folder(folder: PathLike, *, committee: int = 1, overwrite: bool = False) -> None:
    """Refuse a training output folder that holds results of a run but nothing to resume it
    from, or a run of the other kind (one model against a committee).

    A folder with ``last.pt`` is left to the trainer (resumed with ``--resume``, refused
    without); one with ``best.pt`` or ``metrics.jsonl`` but no ``last.pt`` would have them
    replaced by a new run. A committee's members live in ``member_k/`` (gathered as
    ``member_k.pt``): a single-model run there, or a committee in a single model's folder,
    would leave two kinds of model in one folder.

    Parameters
    ----------
    folder : path
        The ``--output-dir`` of ``se3t train``.
    committee : int
        Members of the new or resumed run (1: a single model).
    overwrite : bool
        Allow a new run to replace those results.

    Raises
    ------
    ValueError
        Naming the folder, the files and the fix.
    """
    from se3t_calc.train.trainer import BEST, LAST, LOG

    folder = Path(folder)
    single = [name for name in (LAST, BEST, LOG) if (folder / name).exists()]
    members = sorted(p.name for p in folder.glob("member_*") if p.is_dir() or p.suffix == ".pt")
    if committee > 1 and single:
        raise ValueError(
            f"{folder} holds a single-model run ({', '.join(single)}), not a committee: train the "
            "committee into another --output-dir"
        )
    if committee == 1 and members:
        raise ValueError(
            f"{folder} holds a committee ({', '.join(members[:3])}{', ...' if len(members) > 3 else ''}): "
            "resume it with its --committee N, or train a single model into another --output-dir"
        )
    results = [name for name in (BEST, LOG) if name in single]
    if results and LAST not in single and not overwrite:
        raise ValueError(
            f"{folder} holds {' and '.join(results)} of an earlier run but no {LAST} to resume it from; "
            "choose another --output-dir, or pass --overwrite to start a new run that replaces them"
        )


def check_format(path: PathLike, flag: str, *, trajectory: bool = False) -> None:
    """Refuse a file name whose extension names no format ``ase.io.write`` writes.

    Parameters
    ----------
    path : path
        The output file.
    flag : str
        Its flag, named in the message.
    trajectory : bool
        The file holds many frames: refuse single-frame formats too.

    Raises
    ------
    ValueError
        Naming the flag, the file and formats that work.
    """
    from ase.io.formats import filetype, ioformats

    try:
        kind = ioformats[filetype(Path(path), read=False)]
    except Exception:  # ase raises KeyError or UnknownFileTypeError for unknown extensions
        kind = None
    if kind is None or not kind.can_write or (trajectory and kind.single):
        what, use = ("trajectory", ".extxyz, .xyz or .traj") if trajectory else ("structure", "")
        use = use or ".extxyz, .xyz, .traj, .cif, .pdb, .vasp or another format ase.io.write knows"
        raise ValueError(f"{flag} {path}: the extension names no {what} format ASE writes; use {use}")


def write_structure(atoms: Atoms, path: PathLike, flag: str) -> None:
    """Write ``atoms`` in the format of the extension of ``path``, atomically: a structure the
    format cannot hold (a molecule without a cell as POSCAR) leaves any file there as it was.

    Raises
    ------
    ValueError
        Naming the flag, the file, the format and ASE's reason.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    _write_or_explain(atoms, tmp, path, flag)
    os.replace(tmp, path)


def check_writable(atoms: Atoms, path: PathLike, flag: str) -> None:
    """Before a run: refuse a format that cannot hold ``atoms`` (a trial write to a scratch
    folder), so that the run's result is not lost at its end.

    Raises
    ------
    ValueError
        As :func:`write_structure`.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        _write_or_explain(atoms, Path(scratch) / "trial", Path(path), flag)


def _write_or_explain(atoms: Atoms, target: Path, path: Path, flag: str) -> None:
    """``ase.io.write`` to ``target`` in the format of ``path``'s extension; a failure removes
    ``target`` and becomes a ValueError naming ``flag`` and ``path``."""
    from ase.io import write
    from ase.io.formats import filetype

    kind = filetype(path, read=False)
    try:
        write(target, atoms, format=kind)
    except Exception as err:  # ase raises many types for structures a format cannot hold
        target.unlink(missing_ok=True)
        raise ValueError(
            f"{flag} {path}: ASE cannot write this structure as {kind} ({type(err).__name__}: {err}); "
            "choose a format that holds it, e.g. .extxyz"
        ) from None


def _same_file(a: Path, b: Path) -> bool:
    if _resolved(a) == _resolved(b):
        return True
    return a.exists() and b.exists() and os.path.samefile(a, b)  # hard links


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (RuntimeError, OSError) as err:  # a symlink loop (RuntimeError before Python 3.13)
        raise ValueError(
            f"{path} cannot be resolved ({err}): a symbolic link loop? choose another path"
        ) from None


def _refuse_input(flag: str, path: Path, inputs: Mapping[str, PathLike]) -> None:
    for role, source in inputs.items():
        if _same_file(path, Path(source)):
            raise ValueError(f"{path} is {role}; choose another {flag}")


def _refuse_shared(given: dict[str, Path]) -> None:
    flags = list(given)
    for n, first in enumerate(flags):
        for second in flags[n + 1 :]:
            if _same_file(given[first], given[second]):
                raise ValueError(
                    f"{given[second]} is named by both {first} and {second}; choose different files"
                )


def _refuse_unwritable(flag: str, path: Path) -> None:
    if path.parent.exists() and not path.parent.is_dir():
        raise ValueError(f"{flag} {path}: {path.parent} is a file, not a folder; choose another {flag}")
    if not path.parent.is_dir():
        raise ValueError(
            f"{flag} {path}: the folder {path.parent} does not exist; create it or choose another {flag}"
        )
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; give a file name")


def _existing(existing: dict[str, Path]) -> str:
    names = " and ".join(str(path) for path in existing.values())
    if len(existing) == 1:
        flag = next(iter(existing))
        return f"{names} already exists; pass --overwrite to replace it, or choose another {flag}"
    flags = " / ".join(existing)
    return f"{names} already exist; pass --overwrite to replace them, or choose other {flags} files"
