"""Helpers shared by the ``se3t`` subcommands: argument types, help texts, inputs, calculator."""

from __future__ import annotations

import argparse
import contextlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from se3t_calc.paths import check_outputs
from se3t_calc.pretrained import model_location


def read_inputs(args: argparse.Namespace) -> Any:
    """Check that the model and structure files exist; return the structure's first frame."""
    from se3t_calc.structures import read_structure

    model_location(args.model)
    return read_structure(args.structure)


def check_files(args: argparse.Namespace, outputs: dict[str, str | None]) -> None:
    """Check, before anything is written, that ``outputs`` (flag -> path) spare the model,
    the structure and each other, and replace nothing without ``--overwrite``."""
    inputs = {"the model": model_location(args.model), "the input structure": args.structure}
    check_outputs(outputs, inputs=inputs, overwrite=args.overwrite)


@contextlib.contextmanager
def attach_trajectory(dyn: Any, atoms: Any, path: Path, interval: int) -> Iterator[Callable[[], None]]:
    """Frames every ``interval`` steps of a dynamics or optimizer: ASE ``.traj``, else appended
    with ``ase.io.write`` in the format of the extension. Replaces ``path``: check it first.

    Yields the function that writes the current frame, for a last one between the intervals."""
    from ase.io import Trajectory, write

    path.unlink(missing_ok=True)
    if path.suffix == ".traj":
        with Trajectory(path, "w", atoms) as trajectory:
            dyn.attach(trajectory, interval=interval)
            yield trajectory.write
        return

    def write_frame() -> None:
        # whole frames appended one at a time: the file stays readable if the run is stopped
        write(path, atoms, append=True)

    dyn.attach(write_frame, interval=interval)
    yield write_frame


def make_calculator(args: argparse.Namespace, **kwargs: Any) -> Any:
    """SE3TCalculator from ``--model``, ``--device`` and ``--dtype``, after ``--threads``."""
    import torch

    from se3t_calc import SE3TCalculator

    if args.threads:
        torch.set_num_threads(args.threads)
    return SE3TCalculator(args.model, device=args.device, dtype=args.dtype, **kwargs)


def add_runtime_flags(parser: argparse.ArgumentParser, *, dtype: str, dtype_help: str = "precision") -> None:
    """``--device``, ``--dtype`` (default ``dtype``) and ``--threads``, as every model-running command has."""
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--dtype", choices=["float32", "float64"], default=dtype, help=dtype_help)
    threads = "CPU threads of torch (default: torch's choice)"
    parser.add_argument("--threads", type=positive(int), help=threads)


MODEL_HELP = "model file (.pt) or the name of a shipped model (see se3t models)"
STRUCTURE_HELP = "rMD17 .npz, mlearn .json or any file ase.io.read reads (extxyz, traj, cif, ...); first one"


class ShowDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Help texts that show each option's default, unless the text already names it or there is
    none (None, an empty string, a flag that is off)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default == ""
        if "default:" in text or action.required or unset:
            return text
        return super()._get_help_string(action)


def positive(kind: type, *, zero: bool = False) -> Any:
    """argparse type: a finite number > 0 (>= 0 with ``zero``), refused with a message otherwise."""

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if not (value >= 0 if zero else value > 0):
            raise argparse.ArgumentTypeError(f"must be {'>= 0' if zero else '> 0'}, got {text}")
        return value

    convert.__name__ = kind.__name__
    return convert
