"""Command line: ``se3t init | train | eval | md | relax | export-lammps``, thin over the library."""

from __future__ import annotations

import argparse
import errno
import io
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from se3t_calc.allocator import retain_freed_memory
from se3t_calc.cli_common import (
    MODEL_HELP,
    STRUCTURE_HELP,
    ShowDefaults,
    add_runtime_flags,
    attach_trajectory,
    check_files,
    make_calculator,
    positive,
    read_inputs,
)
from se3t_calc.cli_learn import add_learn_parser
from se3t_calc.cli_md import add_md_parser
from se3t_calc.cli_train import add_eval_parser, add_train_parser
from se3t_calc.config import INVARIANTS, ModelConfig
from se3t_calc.learn.references import ReferenceFailure
from se3t_calc.paths import check_format, check_outputs, check_writable, write_structure
from se3t_calc.pretrained import (
    NO_MODELS_HINT,
    available_models,
    committee_files,
    model_card,
    model_location,
    models_dir,
)
from se3t_calc.safety import BlowUpError


def _init(args: argparse.Namespace) -> None:
    import torch

    from se3t_calc import SE3TModel, save_model

    check_outputs({"model file": args.output}, overwrite=args.overwrite)
    torch.manual_seed(args.seed)
    config = ModelConfig(species=args.species, r_cut=args.r_cut, invariant=args.invariant)
    model = SE3TModel(config)
    save_model(model, args.output, metadata={"training": "untrained (random weights)"})
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote untrained model {args.output} ({params} parameters, species {list(config.species)})")


def _relax(args: argparse.Namespace) -> None:
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS, FIRE, LBFGS

    check_format(args.out, "--out")
    check_format(args.path, "--path", trajectory=True)
    check_files(args, {"--out": args.out, "--path": args.path})
    atoms = read_inputs(args)
    if args.cell and not atoms.pbc.all():
        raise ValueError(
            f"--cell needs a 3-D periodic structure; {args.structure} has pbc={atoms.pbc.tolist()}"
        )
    check_writable(atoms, args.out, "--out")
    atoms.calc = make_calculator(args)
    target: Any = FrechetCellFilter(atoms) if args.cell else atoms
    optimizer = {"bfgs": BFGS, "fire": FIRE, "lbfgs": LBFGS}[args.optimizer](target, logfile="-")
    path = Path(args.path)
    # one frame per step: the file stays readable if the run is interrupted
    with attach_trajectory(optimizer, atoms, path, interval=1):
        converged = optimizer.run(fmax=args.fmax, steps=args.steps)
    write_structure(atoms, args.out, "--out")
    fmax = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
    status = "converged" if converged else f"NOT converged in {args.steps} steps"
    print(f"{status}: E = {atoms.get_potential_energy():.6f} eV, max force {fmax:.4f} eV/Å")
    collapsed = _report_trust(atoms)
    print(f"wrote the relaxed structure to {Path(args.out).resolve()}, every step to {path.resolve()}")
    if not converged or collapsed:
        sys.exit(1)


def _report_trust(atoms: Any) -> bool:
    """After a relaxation: collapsed atoms, and a committee's uncertainty, said plainly.

    Returns whether two atoms collapsed onto each other.
    """
    from se3t_calc.safety import closest_overlap, force_uncertainty

    overlap = closest_overlap(atoms, 0.6)
    if overlap:
        print(f"WARNING: {overlap}: the structure collapsed; the result is not physical", file=sys.stderr)
    if atoms.calc.num_members:
        sigma = force_uncertainty(atoms)
        print(
            f"committee uncertainty: energy ± {atoms.calc.results['energy_std']:.4f} eV, "
            f"largest force ± {sigma.max():.4f} eV/Å (atom {int(sigma.argmax())})"
        )
    return overlap is not None


def _models(args: argparse.Namespace) -> None:
    """Print the shipped models with their measured test errors."""
    names = available_models()
    if not names:
        raise FileNotFoundError(f"no shipped models found in {models_dir()}; {NO_MODELS_HINT}")
    width = max(len("name"), *map(len, names)) + 2
    columns = f"{'test E MAE meV':>15}{'meV/atom':>10}{'test F MAE meV/Å':>18}"
    print(f"{'name':<{width}}{'species':<14}{columns}  data")
    for name in names:
        print(_model_line(name, width))


def _model_line(name: str, width: int) -> str:
    """One row of ``se3t models``; a model whose card is missing or incomplete is listed as such."""
    try:
        card = model_card(name)
        test = card["test_metrics"]
        return (
            f"{name:<{width}}{' '.join(card['species']):<14}{test['energy_mae_meV']:>15.2f}"
            f"{test['energy_mae_meV_per_atom']:>10.2f}{test['forces_mae_meV_per_A']:>18.2f}  "
            f"{card['data']['test_file']['path']}"
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        why = f"lacks {err}" if isinstance(err, KeyError) else str(err)
        unknown = f"{'?':<14}{'-':>15}{'-':>10}{'-':>18}"
        return f"{name:<{width}}{unknown}  (no usable model card {name}.json: {why})"


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the ``se3t`` command."""
    from se3t_calc import __version__

    parser = argparse.ArgumentParser(prog="se3t", description="se3t_calc command line")
    parser.add_argument("--version", action="version", version=f"se3t_calc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="write an untrained model file", formatter_class=ShowDefaults)
    init.add_argument("output", help="model file to write (.pt)")
    init.add_argument("--species", nargs="+", required=True, help="chemical symbols, e.g. H C O")
    init.add_argument("--r-cut", type=positive(float), default=5.0, help="cutoff radius in Å")
    init.add_argument(
        "--invariant", choices=INVARIANTS, default="mixed", help="distance invariant of the heads"
    )
    init.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    init.add_argument("--overwrite", action="store_true", help="replace an existing model file")
    init.set_defaults(func=_init)

    add_train_parser(sub)
    add_eval_parser(sub)
    sub.add_parser(
        "models",
        help="list the shipped models and their test errors",
        description="List the trained models shipped with se3t_calc, which MODEL arguments and "
        "SE3TCalculator accept by name, with their test errors and test data.",
    ).set_defaults(func=_models)
    add_md_parser(sub)
    add_learn_parser(sub)
    _add_relax_parser(sub)
    _add_export_lammps_parser(sub)
    return parser


def _add_export_lammps_parser(sub: Any) -> None:
    export = sub.add_parser(
        "export-lammps",
        help="write a model file for LAMMPS' pair_style mliap unified",
        description="Writes the file LAMMPS loads (a pickle; it needs se3t_calc in LAMMPS' Python) "
        "and prints the LAMMPS commands that use it.",
    )
    export.add_argument("model", help=MODEL_HELP)
    export.add_argument(
        "output", help="file to write, e.g. model.pkl (not .pt: LAMMPS reads those with torch.load)"
    )
    export.add_argument(
        "--no-ghost-check",
        action="store_true",
        help="do not refuse a ghost shell thinner than num_layers * r_cut (e.g. a free surface "
        "between r_cut and that depth beyond a rank's atoms)",
    )
    export.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="precision of the model in LAMMPS (float32: about half the memory and time)",
    )
    export.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    export.set_defaults(func=_export_lammps)


def _export_lammps(args: argparse.Namespace) -> None:
    from se3t_calc.integrations.lammps import export_lammps

    members = committee_files(args.model)
    if members is not None:
        raise ValueError(
            f"{args.model} is a committee of {len(members)} models; LAMMPS' pair_style takes one "
            f"model: export a member, e.g. se3t export-lammps {members[0]} {args.output}"
        )
    check_outputs(
        {"output": args.output}, inputs={"the model": model_location(args.model)}, overwrite=args.overwrite
    )
    adapter = export_lammps(args.model, args.output, check_ghosts=not args.no_ghost_check, dtype=args.dtype)
    config = adapter.model.config
    print(f"wrote {args.output}; in LAMMPS (units metal, one type per element):")
    print(f"  pair_style   mliap unified {args.output} 1")
    print(f"  pair_coeff   * * {' '.join(config.species)}   # the elements of types 1, 2, ...")
    cutoff = config.num_layers * config.r_cut + 2.0
    print(f"  comm_modify  cutoff {cutoff:g}   # num_layers * r_cut + skin (2 Å)")


def _add_relax_parser(sub: Any) -> None:
    relax = sub.add_parser(
        "relax", help="relax positions (and with --cell the cell) with a model", formatter_class=ShowDefaults
    )
    relax.add_argument("model", help=MODEL_HELP)
    relax.add_argument("structure", help=STRUCTURE_HELP)
    relax.add_argument("--optimizer", choices=["bfgs", "fire", "lbfgs"], default="bfgs", help="ASE optimiser")
    relax.add_argument("--fmax", type=positive(float), default=0.01, help="force threshold, eV/Å")
    relax.add_argument("--steps", type=positive(int), default=1000, help="maximum optimiser steps")
    relax.add_argument("--cell", action="store_true", help="relax the cell too (FrechetCellFilter)")
    relax.add_argument(
        "--out", default="relaxed.extxyz", help="relaxed structure, in the format of the extension (ase.io)"
    )
    relax.add_argument(
        "--path",
        default="relax_path.extxyz",
        help="every step: .extxyz, .xyz, .traj or another multi-frame format",
    )
    relax.add_argument("--overwrite", action="store_true", help="replace existing --out and --path files")
    add_runtime_flags(relax, dtype="float64")
    relax.set_defaults(func=_relax)


# errors that only writing raises, and what to do about each error
_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}
_HINTS = {
    errno.ENOSPC: "free some disk space or write elsewhere",
    errno.EDQUOT: "free some space (disk quota) or write elsewhere",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.EFBIG: "the file outgrew the size the file system or a limit (ulimit -f) allows",
    errno.EACCES: "check its permissions, or write to a folder of yours",
    errno.EPERM: "check its permissions, or write to a folder of yours",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder: name a file",
}


def _os_error_message(command: str, err: OSError) -> str:
    """One line for an ``OSError``: the file, the system's reason and, where known, the fix.

    Parameters
    ----------
    command : str
        The subcommand, e.g. ``"train"``.
    err : OSError
    """
    name = _failed_file(err)
    verb = "cannot write" if err.errno in _WRITE_ERRORS else "cannot read or write"
    reason = f"[Errno {err.errno}] {err.strerror}" if err.errno is not None else str(err)
    hint = _HINTS.get(err.errno) if err.errno is not None else None
    if err.errno == errno.EEXIST and name and os.path.isfile(name):  # mkdir where a file is
        hint = "it is a file, where a folder is needed"
    if command == "train" and err.errno in (errno.ENOSPC, errno.EDQUOT):
        saved = name is not None and (Path(name).parent / "last.pt").is_file()
        then = (
            "continue with the same command and --resume"
            if saved
            else ("start again with the same command and --overwrite (no checkpoint was saved yet)")
        )
        hint = f"{hint}, then {then}"
    line = f"se3t {command}: {verb} {name or 'a file'}: {reason}"
    return line + (f"; {hint}" if hint else "")


def _failed_file(err: OSError) -> str | None:
    """The file ``err`` is about: its own file name, else (a write to an open file, as by
    ``torch.save`` or ``print``) the nearest open file or ``path`` where it was raised."""
    name = err.filename2 or err.filename
    if name is not None:
        return os.fsdecode(name) if isinstance(name, str | bytes | os.PathLike) else str(name)
    frames = []
    tb = err.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):  # innermost first
        for value in frame.f_locals.values():
            if isinstance(value, io.IOBase) and isinstance(getattr(value, "name", None), str):
                return value.name  # type: ignore[attr-defined]
        path = frame.f_locals.get("path")
        if isinstance(path, str | os.PathLike):
            return os.fspath(path)
    return None


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``se3t`` console script."""
    args = build_parser().parse_args(argv)
    # the command is the whole process, so its allocator is ours to set: training and
    # force calls free and reallocate the same large buffers at every step
    retain_freed_memory()
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, BlowUpError, ReferenceFailure) as err:
        sys.exit(f"se3t {args.command}: error: {err}")
    except OSError as err:  # a full or read-only disk, a folder below a file, no permission
        sys.exit(_os_error_message(args.command, err))
    except KeyboardInterrupt:
        hints = {
            "train": "; continue with the same command and --resume",
            "learn": f"; continue with se3t learn --resume {args.resume or args.output_dir or 'runs/learn'}",
        }
        hint = hints.get(args.command, "")
        sys.exit(f"se3t {args.command}: interrupted{hint}")


if __name__ == "__main__":
    main()
