"""Helpers shared by the ``se3t`` subcommands: argument types, help texts, inputs, calculator."""

from __future__ import annotations

import argparse
from typing import Any

from se3t_calc.pretrained import model_path


def read_inputs(args: argparse.Namespace) -> Any:
    """Check that the model and structure files exist; return the structure's first frame."""
    from se3t_calc.train.data import read_structure

    model_path(args.model)
    return read_structure(args.structure)


def make_calculator(args: argparse.Namespace, **kwargs: Any) -> Any:
    """SE3TCalculator from ``--model``, ``--device`` and ``--dtype``, after ``--threads``."""
    import torch

    from se3t_calc import SE3TCalculator

    if args.threads:
        torch.set_num_threads(args.threads)
    return SE3TCalculator(args.model, device=args.device, dtype=args.dtype, **kwargs)


MODEL_HELP = "model file (.pt) or the name of a shipped model (see se3t models)"
STRUCTURE_HELP = "rMD17 .npz, mlearn .json or any file ase.io.read reads (extxyz, traj, cif, ...); first one"


class ShowDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Help texts that show each option's default, unless the text already names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        return text if "default:" in text else super()._get_help_string(action)


def positive(kind: type, *, zero: bool = False) -> Any:
    """argparse type: a number > 0 (>= 0 with ``zero``), refused with a message otherwise."""

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (value >= 0 if zero else value > 0) or value != value:
            raise argparse.ArgumentTypeError(f"must be {'>= 0' if zero else '> 0'}, got {text}")
        return value

    convert.__name__ = kind.__name__
    return convert
