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
from se3t_calc.pretrained import NO_MODELS_HINT, available_models, model_card, model_path, models_dir
from se3t_calc.safety import BlowUpError, MDSafetyCheck
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
    given = set(read_config_file(args.config)["train"]) if args.config else set()
    given |= {f.name for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    train(config, model_settings, resume=args.resume, given=given)


def _eval(args: argparse.Namespace) -> None:
    import torch

    from se3t_calc.calculator import resolve_device, resolve_dtype
    from se3t_calc.checkpoint import load_model
    from se3t_calc.train import GraphDataset, evaluate, format_table, read_structures
    from se3t_calc.train.metrics import energy_profile

    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = resolve_device(args.device), resolve_dtype(args.dtype)
    model = load_model(args.model, device=device, dtype=dtype)
    for p in model.parameters():
        p.requires_grad_(False)
    structures = read_structures(
        args.data,
        energy_key=args.energy_key,
        forces_key=args.forces_key,
        stress_key=args.stress_key,
        require_forces=False,
    )
    dataset = GraphDataset(structures, model.config.species, model.config.r_cut)
    errors = evaluate(model, dataset, batch_size=args.batch_size, device=device, dtype=dtype)
    summary = errors.summary()
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"{args.model} on {args.data} ({args.dtype}, {device}):")
        print(format_table(summary, model.config.species))
        if not errors.forces:
            print(f"no forces in {args.data}: energies only; energy profile, each relative to its minimum:")
            print(energy_profile(errors))
    if args.parity:
        from se3t_calc.train.plots import parity_plot

        parity_plot(errors, args.parity)


def _read_inputs(args: argparse.Namespace) -> Any:
    """Check that the model and structure files exist; return the structure's first frame."""
    from se3t_calc.train.data import read_structure

    model_path(args.model)
    return read_structure(args.structure)


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

    existing = [name for name in (args.out, args.path) if Path(name).exists()]
    if existing and not args.overwrite:
        raise ValueError(
            f"{' and '.join(existing)} already exist(s); pass --overwrite to replace, "
            "or choose other --out / --path files"
        )
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
    print(f"{status}: E = {atoms.get_potential_energy():.6f} eV, max force {fmax:.4f} eV/Å")
    print(f"wrote the relaxed structure to {Path(args.out).resolve()}, every step to {path.resolve()}")
    if not converged:
        sys.exit(1)


def _md(args: argparse.Namespace) -> None:
    if args.out:
        _check_trajectory_format(args.out)
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
    with contextlib.ExitStack() as stack:
        if args.out:
            stack.enter_context(_attach_trajectory(dyn, atoms, Path(args.out), args.log_every))
        log = stack.enter_context(open(args.log, "w")) if args.log else None
        streams = [sys.stdout] + ([log] if log else [])
        _run_md(dyn, atoms, args, streams)


def _safety_check(atoms: Any, args: argparse.Namespace) -> MDSafetyCheck:
    """The blow-up checks of ``se3t md`` with the limits of its flags."""
    max_temperature = args.max_temperature_K
    if max_temperature is None:
        max_temperature = max(5 * args.temperature_K, args.temperature_K + 1000)
    return MDSafetyCheck(
        atoms,
        cutoff=atoms.calc.model.config.r_cut,
        bond_factor=args.bond_factor or None,
        max_temperature_K=max_temperature or None,
        energy_tolerance_meV_per_atom=(args.energy_tolerance_meV_per_atom or None)
        if args.ensemble == "nve"
        else None,
    )


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
    dyn.attach(_safety_check(atoms, args), interval=1)
    dyn.attach(lambda: bar.update(dyn.nsteps, f"T {atoms.get_temperature():.0f} K"), interval=1)
    start = time.perf_counter()
    kept = f"; {args.out} holds the frames written so far" if args.out else ""
    with _stop_on_interrupt() as stop:
        try:
            for _ in dyn.irun(args.steps):  # observers (log, trajectory, checks) have run for this step
                if stop.is_set():
                    say(f"interrupted after {dyn.nsteps} steps{kept}")
                    break
        except (BlowUpError, ValueError) as err:
            if dyn.nsteps % args.log_every:  # the state it stopped in, unless just logged
                report()
            raise BlowUpError(f"MD stopped at step {dyn.nsteps}: {err}{kept}") from None
    bar.close()
    elapsed = time.perf_counter() - start
    print(f"{dyn.nsteps} steps in {elapsed:.1f} s ({1000 * elapsed / max(dyn.nsteps, 1):.2f} ms/step)")
    if args.out:
        print(f"wrote the trajectory to {args.out}")


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


def _check_trajectory_format(path: str) -> None:
    """Refuse a trajectory name whose extension names no multi-frame format ASE can write."""
    from ase.io.formats import filetype, ioformats

    try:
        kind = ioformats[filetype(path, read=False)]
    except Exception:  # ase raises KeyError or UnknownFileTypeError for unknown extensions
        kind = None
    if kind is None or not kind.can_write or kind.single:
        raise ValueError(
            f"--out {path}: the extension names no trajectory format ASE writes; use .extxyz, .xyz or .traj"
        )


@contextlib.contextmanager
def _attach_trajectory(dyn: Any, atoms: Any, path: Path, interval: int) -> Iterator[None]:
    """Frames every ``interval`` steps: ASE ``.traj``, else appended with ``ase.io.write``."""
    from ase.io import Trajectory, write

    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    if path.suffix == ".traj":
        with Trajectory(path, "w", atoms) as trajectory:
            dyn.attach(trajectory, interval=interval)
            yield
        return
    # whole frames appended one at a time: the file stays readable if the run is stopped
    dyn.attach(lambda: write(path, atoms, append=True), interval=interval)
    yield


MODEL_HELP = "model file (.pt) or the name of a shipped model (see se3t models)"
STRUCTURE_HELP = "rMD17 .npz or any file ase.io.read reads (extxyz, xyz, traj, cif, ...); first frame"


def _models(args: argparse.Namespace) -> None:
    """Print the shipped models with their measured test errors."""
    names = available_models()
    if not names:
        raise FileNotFoundError(f"no shipped models found in {models_dir()}; {NO_MODELS_HINT}")
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
    from se3t_calc import __version__

    parser = argparse.ArgumentParser(prog="se3t", description="se3t_calc command line")
    parser.add_argument("--version", action="version", version=f"se3t_calc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="write an untrained model file", formatter_class=_Defaults)
    init.add_argument("output", help="model file to write (.pt)")
    init.add_argument("--species", nargs="+", required=True, help="chemical symbols, e.g. H C O")
    init.add_argument("--r-cut", type=_positive(float), default=5.0, help="cutoff radius in Å")
    init.add_argument(
        "--invariant", choices=INVARIANTS, default="mixed", help="distance invariant of the heads"
    )
    init.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    init.set_defaults(func=_init)

    _add_train_parser(sub)
    _add_eval_parser(sub)
    sub.add_parser(
        "models",
        help="list the shipped models and their test errors",
        description="List the trained models shipped with se3t_calc, which MODEL arguments and "
        "SE3TCalculator accept by name, with their test errors and test data.",
    ).set_defaults(func=_models)
    _add_md_parser(sub)
    _add_relax_parser(sub)
    return parser


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Help texts that show each option's default."""


def _positive(kind: type, *, zero: bool = False) -> Any:
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


def _add_md_parser(sub: Any) -> None:
    md = sub.add_parser(
        "md",
        help="molecular dynamics of a structure with a model",
        formatter_class=_Defaults,
        description="Stops with an error, keeping the trajectory written so far, when the run leaves "
        "the model's domain: non-finite energy or forces, an atom losing all its neighbours, a bond "
        "stretched past --bond-factor, a temperature above --max-temperature-K, or (NVE) a total "
        "energy change beyond --energy-tolerance-meV-per-atom.",
    )
    md.add_argument("model", help=MODEL_HELP)
    md.add_argument("structure", help=STRUCTURE_HELP)
    md.add_argument("--ensemble", choices=ENSEMBLES, default="langevin", help="thermostat or NVE")
    md.add_argument(
        "--temperature-K", type=_positive(float, zero=True), default=300.0, help="target and start"
    )
    md.add_argument("--timestep-fs", type=_positive(float), default=0.5, help="time step, fs")
    md.add_argument("--friction", type=_positive(float, zero=True), default=0.01, help="Langevin, 1/fs")
    md.add_argument("--tdamp-fs", type=_positive(float), default=50.0, help="Nose-Hoover damping time, fs")
    md.add_argument("--steps", type=_positive(int, zero=True), default=1000, help="MD steps")
    md.add_argument("--log-every", type=_positive(int), default=20, help="print (and save) every N steps")
    md.add_argument("--out", help="trajectory: .traj, .extxyz, .xyz or another multi-frame ase.io format")
    md.add_argument("--log", help="also write the log lines to this file")
    md.add_argument("--device", default="auto", help="auto, cpu or cuda")
    md.add_argument(
        "--dtype", choices=["float32", "float64"], default="float32", help="float32 conserves energy as well"
    )
    md.add_argument("--skin", type=_positive(float, zero=True), default=0.0, help="Verlet skin, Å")
    md.add_argument(
        "--compile", action="store_true", help="torch.compile the model: faster steps after a slow first one"
    )
    md.add_argument("--threads", type=_positive(int), help="CPU threads of torch (default: torch's choice)")
    md.add_argument("--seed", type=int, default=0, help="seed of the velocities and the Langevin noise")
    checks = md.add_argument_group("blow-up checks (0 disables one)")
    checks.add_argument(
        "--bond-factor", type=_positive(float, zero=True), default=1.5, help="largest bond length / start"
    )
    checks.add_argument(
        "--max-temperature-K",
        type=_positive(float, zero=True),
        help="highest temperature (default: 5 x --temperature-K or --temperature-K + 1000, the higher)",
    )
    checks.add_argument(
        "--energy-tolerance-meV-per-atom",
        type=_positive(float, zero=True),
        default=10.0,
        help="NVE: largest change of the total energy from the start",
    )
    md.set_defaults(func=_md)


def _add_relax_parser(sub: Any) -> None:
    relax = sub.add_parser(
        "relax", help="relax positions (and with --cell the cell) with a model", formatter_class=_Defaults
    )
    relax.add_argument("model", help=MODEL_HELP)
    relax.add_argument("structure", help=STRUCTURE_HELP)
    relax.add_argument("--optimizer", choices=["bfgs", "fire", "lbfgs"], default="bfgs", help="ASE optimiser")
    relax.add_argument("--fmax", type=_positive(float), default=0.01, help="force threshold, eV/Å")
    relax.add_argument("--steps", type=_positive(int), default=1000, help="maximum optimiser steps")
    relax.add_argument("--cell", action="store_true", help="relax the cell too (FrechetCellFilter)")
    relax.add_argument("--out", default="relaxed.extxyz", help="relaxed structure (extxyz)")
    relax.add_argument("--path", default="relax_path.extxyz", help="every step (extxyz)")
    relax.add_argument("--overwrite", action="store_true", help="replace existing --out and --path files")
    relax.add_argument("--device", default="auto", help="auto, cpu or cuda")
    relax.add_argument("--dtype", choices=["float32", "float64"], default="float64", help="precision")
    relax.add_argument(
        "--threads", type=_positive(int), help="CPU threads of torch (default: torch's choice)"
    )
    relax.set_defaults(func=_relax)


def _add_train_parser(sub: Any) -> None:
    train = sub.add_parser(
        "train",
        help="fit a model to energies and forces",
        description="Settings come from the defaults, then the config file, then these flags.",
        argument_default=argparse.SUPPRESS,
    )
    train.add_argument("config", nargs="?", default=None, help="TOML or YAML file with [model] and [train]")
    train.add_argument(
        "--resume",
        action="store_true",
        default=False,
        help="continue from OUTPUT_DIR/last.pt if present, with its stored settings; a larger "
        "--epochs or --max-time extends a finished run; flags that cannot change are refused",
    )
    group = train.add_argument_group("training (TrainConfig)")
    for f in dataclasses.fields(TrainConfig):
        _add_field(group, f, f"{f.metadata['help']} (default: {f.default})")
    group = train.add_argument_group("model (ModelConfig)")
    for f in dataclasses.fields(ModelConfig):
        _add_field(group, f, f"(default: {f.default})" if f.name != "species" else "(default: the data's)")
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
    ev = sub.add_parser(
        "eval",
        help="errors of a model on labelled data",
        formatter_class=_Defaults,
        description="Scores energies, and forces and stress where the data have them. For data "
        "without forces (a torsion scan, a reaction path) it also prints the energy profile, "
        "model against reference, both relative to their minimum.",
    )
    ev.add_argument("model", help=MODEL_HELP)
    ev.add_argument("data", help="rMD17 .npz or any file ase.io.read reads, with energies (and forces)")
    ev.add_argument("--energy-key", default="energy", help="info key of the reference energies, eV")
    ev.add_argument("--forces-key", default="forces", help="array key of the reference forces, eV/Å")
    ev.add_argument("--stress-key", default="stress", help="info key of the reference stress, eV/Å^3")
    ev.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ev.add_argument("--dtype", choices=["float32", "float64"], default="float64", help="precision")
    ev.add_argument("--batch-size", type=_positive(int), default=50, help="structures per batch")
    ev.add_argument("--threads", type=_positive(int), help="CPU threads of torch (default: torch's choice)")
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ev.add_argument("--parity", metavar="PNG", help="write a parity plot")
    ev.set_defaults(func=_eval)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``se3t`` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, BlowUpError) as err:
        sys.exit(f"se3t {args.command}: error: {err}")
    except KeyboardInterrupt:
        hint = "; continue with the same command and --resume" if args.command == "train" else ""
        sys.exit(f"se3t {args.command}: interrupted{hint}")


if __name__ == "__main__":
    main()
