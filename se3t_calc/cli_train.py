"""``se3t train`` and ``se3t eval``: their flags (generated from the configuration classes
for training) and what they run."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from se3t_calc.cli_common import (
    MODEL_HELP,
    ShowDefaults,
    add_runtime_flags,
    positive,
)
from se3t_calc.config import ModelConfig
from se3t_calc.paths import check_outputs, check_run_folder
from se3t_calc.pretrained import committee_files, model_location
from se3t_calc.train.config import TrainConfig, read_config_file


def train_settings(args: argparse.Namespace) -> tuple[TrainConfig, dict[str, Any]]:
    """Defaults, then the config file, then command-line flags -> (TrainConfig, model fields)."""
    settings: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    if args.config:
        settings = _read_config(args.config)
    for section, cls in (("model", ModelConfig), ("train", TrainConfig)):
        for f in dataclasses.fields(cls):
            if hasattr(args, f.name):
                settings[section][f.name] = getattr(args, f.name)
    ModelConfig.from_dict({"species": ["H"], **settings["model"]})  # reject bad model settings early
    return TrainConfig.from_dict(settings["train"]), settings["model"]


def _read_config(path: str) -> dict[str, dict[str, Any]]:
    """:func:`read_config_file`, with a syntax error named with the file (TOML's and YAML's own
    messages give only a line and column)."""
    try:
        return read_config_file(path)
    except Exception as err:
        if type(err).__module__.split(".")[0] not in ("tomllib", "tomli", "yaml"):
            raise
        kind = "YAML" if Path(path).suffix in (".yaml", ".yml") else "TOML"
        reason = " ".join(str(err).split())
        raise ValueError(f"{path} is not valid {kind}: {reason}; fix the file") from None


def _train(args: argparse.Namespace) -> None:
    from se3t_calc.train import train

    config, model_settings = train_settings(args)
    members = committee_files(config.init_from) if config.init_from else None
    if members is not None:
        raise ValueError(
            f"--init-from {config.init_from} is a committee; start from one model, e.g. "
            f"--init-from {members[0]} (and train a new committee with --committee)"
        )
    check_run_folder(config.output_dir, committee=args.committee, overwrite=args.overwrite)
    given = set(_read_config(args.config)["train"]) if args.config else set()
    given |= {f.name for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    if args.committee > 1:
        from se3t_calc.train.committee import train_committee

        train_committee(config, model_settings, members=args.committee, resume=args.resume, given=given)
    else:
        train(config, model_settings, resume=args.resume, given=given)


def _eval(args: argparse.Namespace) -> None:
    import torch

    from se3t_calc.runtime import load_for_inference, resolve_device, resolve_dtype
    from se3t_calc.train import GraphDataset, evaluate, format_table, read_structures
    from se3t_calc.train.metrics import energy_profile, format_worst, worst_structures

    if args.parity:
        _check_parity_file(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = resolve_device(args.device), resolve_dtype(args.dtype)
    model = load_for_inference(args.model, device=device, dtype=dtype)
    structures = read_structures(
        args.data,
        energy_key=args.energy_key,
        forces_key=args.forces_key,
        stress_key=args.stress_key,
        require_forces=False,
    )
    dataset = GraphDataset(structures, model.config.species, model.config.r_cut)
    errors = evaluate(model, dataset, batch_size=args.batch_size, device=device, dtype=dtype)
    summary: dict[str, Any] = errors.summary()
    worst = worst_structures(errors, args.worst) if args.worst and errors.forces else []
    if args.json:
        print(json.dumps(summary | ({"worst_structures": worst} if worst else {}), indent=1))
    else:
        print(f"{args.model} on {args.data} ({args.dtype}, {device}):")
        print(format_table(summary, model.config.species))
        if not errors.forces:
            print(f"no forces in {args.data}: energies only; energy profile, each relative to its minimum:")
            print(energy_profile(errors))
        if worst:
            print(f"the {len(worst)} structures with the largest force error on one atom:")
            print(format_worst(worst))
    if args.parity:
        from se3t_calc.train.plots import parity_plot

        parity_plot(errors, args.parity)


def _check_parity_file(args: argparse.Namespace) -> None:
    """Before anything is computed: ``--parity`` is a new .png file, neither the model nor the data."""
    if Path(args.parity).suffix.lower() != ".png":
        raise ValueError(f"--parity {args.parity}: the plot is a PNG image; give a file name ending in .png")
    inputs = {"the model": model_location(args.model), "the data": args.data}
    check_outputs({"--parity": args.parity}, inputs=inputs, overwrite=args.overwrite)


def add_train_parser(sub: Any) -> None:
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
    train.add_argument(
        "--overwrite",
        action="store_true",
        default=False,
        help="start a new run in an OUTPUT_DIR that holds best.pt or metrics.jsonl of a run without "
        "last.pt (which cannot be resumed), replacing them",
    )
    train.add_argument(
        "--committee",
        type=positive(int),
        default=1,
        metavar="N",
        help="train N members (seeds seed, seed+1, ...; one validation split) into "
        "OUTPUT_DIR/member_k/, gathered as OUTPUT_DIR/member_k.pt: a committee whose spread "
        "estimates the uncertainty (SE3TCalculator(OUTPUT_DIR) loads it); default 1, one model",
    )
    group = train.add_argument_group("training (TrainConfig)")
    for f in dataclasses.fields(TrainConfig):
        _add_field(group, f, _with_default(f.metadata["help"], f.default))
    group = train.add_argument_group("model (ModelConfig)")
    described = documented_parameters(ModelConfig)
    for f in dataclasses.fields(ModelConfig):
        default = f.default if f.name != "species" else "the data's"
        _add_field(group, f, _with_default(described[f.name], default))
    train.set_defaults(func=_train)


def _with_default(text: str, default: Any) -> str:
    return text if "default:" in text else f"{text} (default: {default})"


def documented_parameters(cls: type) -> dict[str, str]:
    """Map each entry of a numpydoc ``Parameters`` section to its description, one line."""
    section = (cls.__doc__ or "").split("Parameters\n    ----------\n", 1)[-1]
    described: dict[str, list[str]] = {}
    for line in section.splitlines():
        if line.startswith("        ") and described:
            described[next(reversed(described))].append(line.strip())
        elif " : " in line:
            described[line.split(" : ")[0].strip()] = []
    return {name: " ".join(words).replace("``", "") for name, words in described.items()}


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


def add_eval_parser(sub: Any) -> None:
    ev = sub.add_parser(
        "eval",
        help="errors of a model on labelled data",
        formatter_class=ShowDefaults,
        description="Scores energies, and forces and stress where the data have them. For data "
        "without forces (a torsion scan, a reaction path) it also prints the energy profile, "
        "model against reference, both relative to their minimum.",
    )
    ev.add_argument("model", help=MODEL_HELP)
    ev.add_argument(
        "data", help="rMD17 .npz, mlearn .json or any file ase.io.read reads, with energies (and forces)"
    )
    ev.add_argument("--energy-key", default="energy", help="info key of the reference energies, eV")
    ev.add_argument("--forces-key", default="forces", help="array key of the reference forces, eV/Å")
    ev.add_argument("--stress-key", default="stress", help="info key of the reference stress, eV/Å^3")
    ev.add_argument("--batch-size", type=positive(int), default=50, help="structures per batch")
    add_runtime_flags(ev, dtype="float64")
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ev.add_argument(
        "--worst",
        type=positive(int, zero=True),
        default=0,
        metavar="N",
        help="also list the N structures with the largest force error on one atom (index from 0)",
    )
    ev.add_argument("--parity", metavar="PNG", help="write a parity plot (a .png file)")
    ev.add_argument("--overwrite", action="store_true", help="replace an existing --parity file")
    ev.set_defaults(func=_eval)
