"""Command line: ``se3t init | train | eval | md | relax``, thin over the library."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from se3t_calc.allocator import retain_freed_memory
from se3t_calc.config import INVARIANTS, ModelConfig
from se3t_calc.dynamics import ENSEMBLES, make_dynamics
from se3t_calc.pretrained import available_models, model_card, model_path
from se3t_calc.train.config import TrainConfig, read_config_file


def _init(args: argparse.Namespace) -> None:
    import torch

    from se3t_calc import SE3TModel, save_model

    torch.manual_seed(args.seed)
    config = ModelConfig(species=args.species, r_cut=args.r_cut, invariant=args.invariant)
    model = SE3TModel(config)
    save_model(model, args.output, metadata={"training": "untrained (random weights)"})
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote untrained model {args.output} ({params} parameters, species {list(config.species)})")


def train_settings(args: argparse.Namespace) -> tuple[TrainConfig, dict[str, Any]]:
    """Defaults, then the config file, then command-line flags -> (TrainConfig, model fields)."""
    settings: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    if args.config:
        settings = read_config_file(args.config)
    for section, cls in (("model", ModelConfig), ("train", TrainConfig)):
        for f in dataclasses.fields(cls):
            if hasattr(args, f.name):
                settings[section][f.name] = getattr(args, f.name)
    ModelConfig.from_dict({"species": ["H"], **settings["model"]})  # reject bad model settings early
    return TrainConfig.from_dict(settings["train"]), settings["model"]


def _train(args: argparse.Namespace) -> None:
    from se3t_calc.train import train

    config, model_settings = train_settings(args)
    train(config, model_settings, resume=args.resume)


def _eval(args: argparse.Namespace) -> None:
    from se3t_calc.calculator import resolve_device, resolve_dtype
    from se3t_calc.checkpoint import load_model
    from se3t_calc.train import GraphDataset, evaluate, format_table, read_structures

    device, dtype = resolve_device(args.device), resolve_dtype(args.dtype)
    model = load_model(args.model, device=device, dtype=dtype)
    for p in model.parameters():
        p.requires_grad_(False)
    structures = read_structures(
        args.data, energy_key=args.energy_key, forces_key=args.forces_key, stress_key=args.stress_key
    )
    dataset = GraphDataset(structures, model.config.species, model.config.r_cut)
    errors = evaluate(model, dataset, batch_size=args.batch_size, device=device, dtype=dtype)
    summary = errors.summary()
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"{args.model} on {args.data} ({args.dtype}, {device}):")
        print(format_table(summary, model.config.species))
    if args.parity:
        from se3t_calc.train.plots import parity_plot

        parity_plot(errors, args.parity)


def _read_inputs(args: argparse.Namespace) -> Any:
    """Check that the model and structure files exist; return the structure's first frame."""
    from ase.io import read

    model_path(args.model)
    if not Path(args.structure).is_file():
        raise FileNotFoundError(f"structure file not found: {args.structure}")
    return read(args.structure, index=0)


def _calculator(args: argparse.Namespace, **kwargs: Any) -> Any:
    """SE3TCalculator from ``--model``, ``--device`` and ``--dtype``, after ``--threads``."""
    import torch

    from se3t_calc import SE3TCalculator

    if args.threads:
        torch.set_num_threads(args.threads)
    retain_freed_memory()  # the command is the whole process: its allocator is ours to set
    return SE3TCalculator(args.model, device=args.device, dtype=args.dtype, **kwargs)


def _relax(args: argparse.Namespace) -> None:
    from ase.filters import FrechetCellFilter
    from ase.io import write
    from ase.optimize import BFGS, FIRE, LBFGS

    atoms = _read_inputs(args)
    if args.cell and not atoms.pbc.all():
        raise ValueError(
            f"--cell needs a 3-D periodic structure; {args.structure} has pbc={atoms.pbc.tolist()}"
        )
    atoms.calc = _calculator(args)
    target: Any = FrechetCellFilter(atoms) if args.cell else atoms
    optimizer = {"bfgs": BFGS, "fire": FIRE, "lbfgs": LBFGS}[args.optimizer](target, logfile="-")
    path = Path(args.path)
    path.unlink(missing_ok=True)
    # one frame appended per step: the file stays readable if the run is interrupted
    optimizer.attach(lambda: write(path, atoms, format="extxyz", append=True), interval=1)
    converged = optimizer.run(fmax=args.fmax, steps=args.steps)
    write(args.out, atoms, format="extxyz")
    fmax = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
    status = "converged" if converged else f"NOT converged in {args.steps} steps"
    print(f"{status}: E = {atoms.get_potential_energy():.6f} eV, max force {fmax:.4f} eV/Å; wrote {args.out}")
    if not converged:
        sys.exit(1)


def _md(args: argparse.Namespace) -> None:
    atoms = _read_inputs(args)
    atoms.calc = _calculator(args, skin=args.skin, compile=args.compile)
    dyn = make_dynamics(
        atoms,
        args.ensemble,
        timestep_fs=args.timestep_fs,
        temperature_K=args.temperature_K,
        friction_per_fs=args.friction,
        tdamp_fs=args.tdamp_fs,
        seed=args.seed,
    )
    if args.out:
        _attach_trajectory(dyn, atoms, Path(args.out), args.log_every)
    with open(args.log, "w") if args.log else contextlib.nullcontext() as log:
        streams = [sys.stdout] + ([log] if log else [])
        _run_md(dyn, atoms, args, streams)


def _run_md(dyn: Any, atoms: Any, args: argparse.Namespace, streams: list) -> None:
    """Run, printing step, time, energies and temperature every ``--log-every`` steps."""
    from se3t_calc.progress import ProgressBar

    bar = ProgressBar(args.steps, "md")

    def say(line: str) -> None:
        bar.close()
        for stream in streams:
            print(line, file=stream, flush=True)

    def report() -> None:
        epot, ekin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
        t_ps, temp = dyn.nsteps * args.timestep_fs / 1000, atoms.get_temperature()
        say(f"{dyn.nsteps:8d} {t_ps:9.4f} {epot:14.5f} {ekin:10.5f} {epot + ekin:14.5f} {temp:8.1f}")

    say(f"{'step':>8} {'time/ps':>9} {'Epot/eV':>14} {'Ekin/eV':>10} {'Etot/eV':>14} {'T/K':>8}")
    dyn.attach(report, interval=args.log_every)
    dyn.attach(lambda: bar.update(dyn.nsteps, f"T {atoms.get_temperature():.0f} K"), interval=1)
    start = time.perf_counter()
    with _stop_on_interrupt() as stop:
        for _ in dyn.irun(args.steps):  # observers (log, trajectory) have run for this step
            if stop.is_set():
                say(f"interrupted after {dyn.nsteps} steps; the trajectory holds every frame written so far")
                break
    bar.close()
    elapsed = time.perf_counter() - start
    print(f"{dyn.nsteps} steps in {elapsed:.1f} s ({1000 * elapsed / max(dyn.nsteps, 1):.2f} ms/step)")


@contextlib.contextmanager
def _stop_on_interrupt() -> Iterator[threading.Event]:
    """The first Ctrl-C sets the event (the caller stops at a step boundary); a second one raises."""
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _attach_trajectory(dyn: Any, atoms: Any, path: Path, interval: int) -> None:
    """Frames every ``interval`` steps: ASE ``.traj``, else appended with ``ase.io.write``."""
    from ase.io import Trajectory, write

    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    if path.suffix == ".traj":
        dyn.attach(Trajectory(path, "w", atoms), interval=interval)
        return
    # whole frames appended one at a time: the file stays readable if the run is stopped
    dyn.attach(lambda: write(path, atoms, append=True), interval=interval)


MODEL_HELP = "model file (.pt) or the name of a shipped model (see se3t models)"


def _models(args: argparse.Namespace) -> None:
    """Print the shipped models with their measured test errors."""
    names = available_models()
    if not names:
        print("no shipped models found")
        return
    print(f"{'name':<18}{'species':<14}{'test E MAE meV':>15}{'test F MAE meV/Å':>18}  data")
    for name in names:
        card = model_card(name)
        test = card["test_metrics"]
        print(
            f"{name:<18}{' '.join(card['species']):<14}{test['energy_mae_meV']:>15.2f}"
            f"{test['forces_mae_meV_per_A']:>18.2f}  {card['data']['test_file']['path']}"
        )


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the ``se3t`` command."""
    parser = argparse.ArgumentParser(prog="se3t", description="se3t_calc command line")
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="write an untrained model file")
    init.add_argument("output", help="model file to write (.pt)")
    init.add_argument("--species", nargs="+", required=True, help="chemical symbols, e.g. H C O")
    init.add_argument("--r-cut", type=float, default=5.0, help="cutoff radius in Å")
    init.add_argument("--invariant", choices=INVARIANTS, default="mixed")
    init.add_argument("--seed", type=int, default=0)
    init.set_defaults(func=_init)

    _add_train_parser(sub)
    _add_eval_parser(sub)
    sub.add_parser("models", help="list the shipped models and their test errors").set_defaults(func=_models)

    md = sub.add_parser("md", help="molecular dynamics of a structure with a model")
    md.add_argument("model", help=MODEL_HELP)
    md.add_argument("structure", help="any file ase.io.read understands; the first frame is used")
    md.add_argument("--ensemble", choices=ENSEMBLES, default="langevin")
    md.add_argument("--temperature-K", type=float, default=300.0)
    md.add_argument("--timestep-fs", type=float, default=0.5)
    md.add_argument("--friction", type=float, default=0.01, help="Langevin friction in 1/fs")
    md.add_argument("--tdamp-fs", type=float, default=50.0, help="Nose-Hoover damping time in fs")
    md.add_argument("--steps", type=int, default=1000)
    md.add_argument("--log-every", type=int, default=20, help="print (and save) every N steps")
    md.add_argument("--out", help="trajectory to write: .traj, or any ase.io format (e.g. .extxyz)")
    md.add_argument("--log", help="also write the log lines to this file")
    md.add_argument("--device", default="auto", help="auto, cpu or cuda")
    md.add_argument(
        "--dtype", choices=["float32", "float64"], default="float32", help="float32 conserves energy as well"
    )
    md.add_argument(
        "--skin", type=float, help="Verlet skin of the neighbour list, Å (default: 0 on CPU, 0.5 on CUDA)"
    )
    md.add_argument(
        "--compile",
        nargs="?",
        const="default",
        default=False,
        choices=["default", "reduce-overhead", "max-autotune"],
        help="torch.compile the model (optionally with a mode): faster steps after a slow first one",
    )
    md.add_argument("--threads", type=int, help="CPU threads of torch (default: torch's choice)")
    md.add_argument("--seed", type=int, default=0)
    md.set_defaults(func=_md)

    relax = sub.add_parser("relax", help="relax positions (and with --cell the cell) with a model")
    relax.add_argument("model", help=MODEL_HELP)
    relax.add_argument("structure", help="any file ase.io.read understands; the first frame is used")
    relax.add_argument("--optimizer", choices=["bfgs", "fire", "lbfgs"], default="bfgs")
    relax.add_argument("--fmax", type=float, default=0.01, help="force threshold, eV/Å")
    relax.add_argument("--steps", type=int, default=1000, help="maximum optimiser steps")
    relax.add_argument("--cell", action="store_true", help="relax the cell too (FrechetCellFilter)")
    relax.add_argument("--out", default="relaxed.extxyz", help="relaxed structure (extxyz)")
    relax.add_argument("--path", default="relax_path.extxyz", help="every step (extxyz)")
    relax.add_argument("--device", default="auto", help="auto, cpu or cuda")
    relax.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    relax.add_argument("--threads", type=int, help="CPU threads of torch (default: torch's choice)")
    relax.set_defaults(func=_relax)
    return parser


def _add_train_parser(sub: Any) -> None:
    train = sub.add_parser(
        "train",
        help="fit a model to energies and forces",
        description="Settings come from the defaults, then the config file, then these flags.",
        argument_default=argparse.SUPPRESS,
    )
    train.add_argument("config", nargs="?", default=None, help="TOML or YAML file with [model] and [train]")
    train.add_argument(
        "--resume", action="store_true", default=False, help="continue from OUTPUT_DIR/last.pt if present"
    )
    group = train.add_argument_group("training (TrainConfig)")
    for f in dataclasses.fields(TrainConfig):
        _add_field(group, f, f.metadata["help"])
    group = train.add_argument_group("model (ModelConfig)")
    for f in dataclasses.fields(ModelConfig):
        _add_field(group, f, f"default {f.default!r}" if f.name != "species" else "default: the data's")
    train.set_defaults(func=_train)


def _add_field(group: Any, f: dataclasses.Field, help: str) -> None:
    flag = "--" + f.name.replace("_", "-")
    kind = str(f.type)
    if f.name == "species":
        group.add_argument(flag, nargs="+", help=help)
        return
    parse: Any = str
    for name, func in (("bool", _boolean), ("int", int), ("float", float)):
        if kind.startswith(name):
            parse = func
            break
    if "None" in kind:
        parse = _optional(parse)
    group.add_argument(flag, type=parse, metavar=f.name.upper(), help=help)


def _boolean(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _optional(parse: Any) -> Any:
    def convert(text: str) -> Any:
        return None if text.lower() in ("none", "null") else parse(text)

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def _add_eval_parser(sub: Any) -> None:
    ev = sub.add_parser("eval", help="errors of a model on labelled data")
    ev.add_argument("model", help=MODEL_HELP)
    ev.add_argument("data", help="rMD17 .npz or any file ase.io.read reads, with energies and forces")
    ev.add_argument("--energy-key", default="energy")
    ev.add_argument("--forces-key", default="forces")
    ev.add_argument("--stress-key", default="stress")
    ev.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ev.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    ev.add_argument("--batch-size", type=int, default=50)
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ev.add_argument("--parity", metavar="PNG", help="write a parity plot")
    ev.set_defaults(func=_eval)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``se3t`` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"se3t {args.command}: error: {err}")
    except KeyboardInterrupt:
        hint = "; continue with the same command and --resume" if args.command == "train" else ""
        sys.exit(f"se3t {args.command}: interrupted{hint}")


if __name__ == "__main__":
    main()
