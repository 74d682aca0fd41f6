"""``se3t learn``: a committee potential learned on the fly from a reference calculator."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from se3t_calc.cli_common import STRUCTURE_HELP, ShowDefaults, positive
from se3t_calc.learn.references import REFERENCE_HELP
from se3t_calc.learn.settings import BUDGETS, LearnConfig, read_settings

# flags with a default here; on --resume only those given are applied
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(LearnConfig) if f.name not in ("model", "train")}


def run_learn_command(args: argparse.Namespace) -> None:
    """Run ``se3t learn`` (or continue one with ``--resume``)."""
    import torch

    from se3t_calc.learn.loop import LearningRun

    given = {name: getattr(args, name) for name in _DEFAULTS if getattr(args, name, None) is not None}
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.resume:
        changed = sorted(set(given) - set(BUDGETS) - {"output_dir"})
        if changed or args.structure or args.settings:
            what = ["STRUCTURE"] * bool(args.structure) + ["--settings"] * bool(args.settings)
            what += [f"--{n.replace('_', '-')}" for n in changed]
            raise ValueError(
                f"--resume keeps the run's settings; only budgets may change, not {', '.join(what)}"
            )
        run = LearningRun.resume(args.resume, {k: v for k, v in given.items() if k in BUDGETS})
    else:
        if not args.structure or not args.reference:
            raise ValueError("give a STRUCTURE and --reference (or --resume DIR to continue a run)")
        if args.settings:
            given.update(read_settings(args.settings))
        run = LearningRun.new(LearnConfig(**{**given, "structure": args.structure}))
    folder = run.run()
    print(f"committee in {folder}: SE3TCalculator({str(folder)!r}), se3t md {folder} STRUCTURE")


def add_learn_parser(sub: Any) -> None:
    """The ``learn`` subcommand."""
    parser = sub.add_parser(
        "learn",
        help="learn a committee potential on the fly from a reference calculator",
        formatter_class=ShowDefaults,
        description="Labels rattled copies of STRUCTURE with the reference, trains a committee, runs MD "
        "with it at --temperature-K and labels the frames where the committee disagrees most; repeats "
        "until an MD of --explore-ps stays below --threshold or a budget is spent, then scores the "
        "committee on an independent reference MD. Everything goes to --output-dir; a killed run "
        "continues with --resume DIR and loses no labelled frame.",
    )
    parser.add_argument("structure", nargs="?", help=STRUCTURE_HELP)
    parser.add_argument("--reference", help=REFERENCE_HELP)
    parser.add_argument(
        "--resume", metavar="DIR", help="continue the run in DIR (a larger budget extends it)"
    )
    number = {int: positive(int), float: positive(float)}
    for name, default in _DEFAULTS.items():
        if name in ("structure", "reference", "max_time", "threads"):
            continue
        kind = number.get(type(default), str)
        if name in ("ramp_rounds", "validation_frames", "seed", "steps", "final_steps"):
            kind = positive(int, zero=True)
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=kind, help=f"{_HELP[name]} (default: {default})"
        )
    parser.add_argument(
        "--settings",
        metavar="FILE",
        help="TOML or YAML with [model] and [train] tables (as for se3t train) replacing the small "
        "model and training settings of se3t learn",
    )
    parser.add_argument(
        "--max-time", help="wall-time budget of the learning (8m, 2h, seconds; default: none)"
    )
    parser.add_argument(
        "--threads", type=positive(int), help="CPU threads of torch (default: torch's choice)"
    )
    parser.set_defaults(func=run_learn_command)


_HELP = {
    "temperature_K": "temperature of the exploration MD and of the first validation set, K",
    "output_dir": "run folder",
    "max_calls": "budget of reference calls (E0 and training frames; the validation MD is extra)",
    "committee": "members of the committee",
    "initial_frames": "rattled copies of STRUCTURE labelled first",
    "frames_per_round": "largest number of frames added per round",
    "threshold": "force uncertainty above which a frame is labelled: largest per-atom norm of the "
    "committee's force standard deviation, eV/Å",
    "explore_ps": "exploration MD per round, ps; converged when every walker stays below --threshold "
    "that long",
    "walkers": "copies of a molecule explored side by side in one MD, out of each other's reach",
    "ramp_rounds": "raise the exploration temperature to --temperature-K over this many rounds (0: none)",
    "hot_factor": "every second exploration MD runs this many times hotter (1: never)",
    "timestep_fs": "MD time step, fs",
    "first_steps": "optimiser steps of each member in the first round",
    "steps": "optimiser steps of each member in every later round (warm-started)",
    "final_steps": "optimiser steps of a last, longer training on all frames once learning stops, "
    "outside --max-time (0: none)",
    "validation_frames": "frames of each independent reference MD scored at the end (0: no validation)",
    "validation_factor": "second validation temperature, as a multiple of --temperature-K",
    "seed": "seed of the rattling, the MD and the weights",
    "workers": "members trained side by side, one single-threaded process each, at most one per CPU "
    "core (1: one after another)",
}
