"""Training configuration: a frozen dataclass, read from TOML/YAML and command-line flags."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from se3t_calc.config import ModelConfig, check_fields

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_LOSSES = ("mse", "huber")
_SCHEDULES = ("cosine", "plateau", "constant")


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    """Everything about a training run except the model's hyper-parameters.

    Each field is also a ``se3t train`` flag (``batch_size`` -> ``--batch-size``).
    """

    train_file: str = _opt("", "training data: rMD17 .npz, mlearn .json or any file ase.io.read reads")
    valid_file: str | None = _opt(None, "validation data (default: a random part of train_file)")
    test_file: str | None = _opt(None, "test data, evaluated with the best model at the end")
    train_size: float | None = _opt(None, "structures to fit (count, or fraction < 1); default: the rest")
    valid_size: float = _opt(0.05, "structures held out for validation (count, or fraction < 1)")
    energy_key: str = _opt("energy", "info key (or calculator result) holding total energies, eV")
    forces_key: str = _opt("forces", "array key (or calculator result) holding forces, eV/Å")
    stress_key: str = _opt("stress", "info key (or calculator result) holding stress, eV/Å^3")
    atomic_energies: str = _opt("fit", "'fit' (least squares on training energies) or an isolated-atoms file")
    output_dir: str = _opt("runs/train", "folder for checkpoints, log and plots")
    seed: int = _opt(0, "seed of the split, the weights and the shuffling")
    split_seed: int | None = _opt(None, "seed of the train/validation split alone (default: seed)")
    init_from: str | None = _opt(
        None,
        "start from the weights of this trained model (file or shipped name) instead of random "
        "ones, keeping its model settings, scale and shift: fine-tuning (usually with a lower "
        "--lr), or a new schedule after a finished run",
    )
    device: str = _opt("auto", "auto, cpu or cuda")
    dtype: str = _opt("float32", "float32 or float64")
    threads: int | None = _opt(None, "CPU threads of torch (default: torch's choice)")
    compile: bool = _opt(
        False,
        "trace energy and forces into one graph and compile it with torch.compile: faster "
        "steps, after a first step (and one per new pattern of batch sizes 0 or 1) that "
        "compiles for minutes",
    )
    batch_size: int = _opt(5, "structures per optimiser step (per process)")
    valid_batch_size: int = _opt(50, "structures per batch in validation and test")
    epochs: int = _opt(1000, "maximum number of epochs")
    max_time: str | None = _opt(
        None,
        "wall-time budget of the epochs, training and validation (data loading and the final test "
        "are not counted), e.g. 3600, 90s, 10m or 2h; checked after each epoch",
    )
    patience: int | None = _opt(None, "stop after this many epochs without a better validation force MAE")
    lr: float = _opt(0.01, "peak learning rate of AdamW")
    weight_decay: float = _opt(0.0, "AdamW weight decay")
    amsgrad: bool = _opt(True, "AMSGrad variant of AdamW")
    schedule: str = _opt(
        "cosine", "cosine (over epochs or max_time, whichever ends first), plateau or constant"
    )
    warmup_epochs: float = _opt(1.0, "linear warm-up of the learning rate, epochs")
    min_lr_factor: float = _opt(0.01, "cosine: final lr as a fraction of lr")
    plateau_factor: float = _opt(0.8, "plateau: lr multiplier")
    plateau_patience: int = _opt(25, "plateau: epochs without improvement before lowering lr")
    ema_decay: float = _opt(0.99, "exponential moving average of the weights (0 disables)")
    clip_grad: float | None = _opt(10.0, "maximum gradient norm (None disables)")
    loss: str = _opt("mse", "mse or huber")
    huber_delta: float = _opt(0.01, "huber: transition point, in the units of each term")
    energy_weight: float = _opt(1.0, "weight of the per-atom energy term (eV/atom)^2")
    forces_weight: float = _opt(10.0, "weight of the force term (eV/Å)^2")
    stress_weight: float = _opt(1000.0, "weight of the stress term (eV/Å^3)^2")
    stage_two: float | None = _opt(
        None, "fraction of the budget (epochs or max_time) after which the energy weight is raised"
    )
    stage_two_energy_weight: float = _opt(1000.0, "energy weight of the second stage")

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def max_seconds(self) -> float | None:
        """``max_time`` in seconds."""
        return None if self.max_time is None else parse_duration(self.max_time)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, as stored in checkpoints."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown fields are an error."""
        check_fields(cls, data)
        return cls(**data)


def parse_duration(text: str | float) -> float:
    """``"90"``, ``"90s"``, ``"10m"``, ``"2h"`` -> seconds."""
    match = re.fullmatch(r"\s*([0-9]+\.?[0-9]*|\.[0-9]+)\s*([smh]?)\s*", str(text))
    if match is None:
        raise ValueError(f"max_time={text!r}: expected seconds or a number with s, m or h")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


_WEIGHTS = ("energy_weight", "forces_weight", "stress_weight", "stage_two_energy_weight")
_EXPECTED = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}


def _validate(cfg: TrainConfig) -> None:
    _check_types(cfg)
    _check_choices(cfg)
    _check_numbers(cfg)
    _check_budget(cfg)


def _fail(cfg: TrainConfig, name: str, why: str) -> None:
    raise ValueError(f"TrainConfig.{name}={getattr(cfg, name)!r}: {why}")


def _check_types(cfg: TrainConfig) -> None:
    """Every field of its annotated type (``max_time`` also a number of seconds), floats finite."""
    for f in dataclasses.fields(cfg):
        kind, optional = field_kind(f)
        value = getattr(cfg, f.name)
        if value is None and optional:
            continue
        if f.name == "max_time" and _is_number(value):
            continue
        if not _has_kind(value, kind):
            _fail(cfg, f.name, f"expected {_EXPECTED[kind]}, got a {type(value).__name__}")
        if kind == "float" and not math.isfinite(value):
            _fail(cfg, f.name, "must be a finite number")


def _check_choices(cfg: TrainConfig) -> None:
    if cfg.loss not in _LOSSES:
        _fail(cfg, "loss", f"choose one of {_LOSSES}")
    if cfg.schedule not in _SCHEDULES:
        _fail(cfg, "schedule", f"choose one of {_SCHEDULES}")
    if cfg.dtype not in ("float32", "float64"):
        _fail(cfg, "dtype", "choose float32 or float64")


def _check_numbers(cfg: TrainConfig) -> None:
    for name in ("batch_size", "valid_batch_size", "epochs", "plateau_patience"):
        if getattr(cfg, name) < 1:
            _fail(cfg, name, "must be a positive integer")
    if cfg.threads is not None and cfg.threads < 1:
        _fail(cfg, "threads", "must be a positive integer, or None for torch's choice")
    for name in _WEIGHTS:
        if getattr(cfg, name) < 0:
            _fail(cfg, name, "a loss weight must be >= 0 (0 leaves the term out)")
    for name in ("weight_decay", "warmup_epochs", "clip_grad"):
        if (getattr(cfg, name) or 0) < 0:
            _fail(cfg, name, "must be >= 0")
    if cfg.lr <= 0:
        _fail(cfg, "lr", "must be positive")
    if cfg.huber_delta <= 0:
        _fail(cfg, "huber_delta", "must be positive")
    if not 0 <= cfg.min_lr_factor <= 1:
        _fail(cfg, "min_lr_factor", "must lie in [0, 1]")
    if not 0 < cfg.plateau_factor <= 1:
        _fail(cfg, "plateau_factor", "must lie in (0, 1]")
    if not 0 <= cfg.ema_decay < 1:
        _fail(cfg, "ema_decay", "must lie in [0, 1)")
    if cfg.train_size is not None and cfg.train_size <= 0:
        _fail(cfg, "train_size", "must be positive (a count, or a fraction < 1), or None for the rest")
    if cfg.valid_size < 0:
        _fail(cfg, "valid_size", "must be >= 0 (a count, or a fraction < 1)")
    if cfg.valid_file is None and not cfg.valid_size > 0:
        _fail(cfg, "valid_size", "must be positive when no valid_file is given")


def _check_budget(cfg: TrainConfig) -> None:
    if cfg.max_time is not None and not parse_duration(cfg.max_time) > 0:
        _fail(cfg, "max_time", "must be a positive time, e.g. 90s, 10m or 2h (leave it unset for no limit)")
    if cfg.patience is not None and cfg.patience < 1:
        _fail(
            cfg,
            "patience",
            "must be a positive number of epochs (leave it unset to train without early stopping)",
        )
    if cfg.stage_two is not None and not 0 < cfg.stage_two < 1:
        _fail(cfg, "stage_two", "must lie in (0, 1): the fraction of the budget before the second stage")


def field_kind(f: dataclasses.Field) -> tuple[str, bool]:
    """``("int" | "float" | "bool" | "str" | other, optional)`` of a field annotated ``T`` or ``T | None``."""
    parts = [part.strip() for part in str(f.type).split("|")]
    return next(part for part in parts if part != "None"), "None" in parts


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _has_kind(value: object, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if kind == "float":
        return _is_number(value)
    return kind != "str" or isinstance(value, str)


def read_config_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a TOML or YAML file with optional ``[model]`` and ``[train]`` tables.

    Returns
    -------
    dict
        ``{"model": {...}, "train": {...}}``, values converted to the types of the fields
        (:func:`coerce_settings`); relative data, output and ``init_from`` paths are taken
        relative to the file's folder.

    Raises
    ------
    ValueError
        An unknown section, or a value of the wrong type, named with the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    if path.suffix == ".toml":
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    elif path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(path.read_text()) or {}
    else:
        raise ValueError(f"{path}: config files are .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected [model] and [train] tables of settings, got {data!r}")
    unknown = sorted(set(data) - {"model", "train"})
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {unknown}; use [model] and [train]")
    sections = {name: data.get(name) or {} for name in ("model", "train")}  # YAML: "train:" alone is None
    for name, section in sections.items():
        if not isinstance(section, dict):
            raise ValueError(f"{path}: [{name}] must be a table of settings, got {section!r}")
    model = coerce_settings(ModelConfig, sections["model"], f"{path}: [model]")
    train = coerce_settings(TrainConfig, sections["train"], f"{path}: [train]")
    for name in ("train_file", "valid_file", "test_file", "output_dir"):
        if train.get(name):
            train[name] = str((path.parent / train[name]).resolve())
    if train.get("atomic_energies", "fit") != "fit":
        train["atomic_energies"] = str((path.parent / train["atomic_energies"]).resolve())
    if train.get("init_from") and (path.parent / train["init_from"]).is_file():  # else a shipped name
        train["init_from"] = str((path.parent / train["init_from"]).resolve())
    return {"model": model, "train": train}


def coerce_settings(cls: type, values: dict[str, Any], where: str) -> dict[str, Any]:
    """Values read from a settings file, converted to the types of the fields of ``cls``.

    Numbers written as text (YAML reads ``1e-3`` as the string ``"1e-3"``) become numbers,
    whole floats of an integer field (TOML ``epochs = 1e3``) integers, numbers of a text field
    (``max_time = 3600``) text, and ``"true"``/``"false"`` booleans. Names that are not fields
    of ``cls`` are left for its ``from_dict`` to refuse.

    Parameters
    ----------
    cls : type
        :class:`TrainConfig` or :class:`~se3t_calc.config.ModelConfig`.
    values : dict
        Field name -> value as read.
    where : str
        The file and section, for messages.

    Raises
    ------
    ValueError
        A value that does not convert, naming ``where``, the field and the type expected.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = dict(values)
    for name, value in values.items():
        if name not in fields:
            continue
        kind, optional = field_kind(fields[name])
        if value is None and optional:
            continue
        out[name] = _CONVERTERS.get(kind, _symbols)(value)
        if out[name] is _REFUSED:
            expected = _EXPECTED.get(kind, "a list of chemical symbols")
            raise ValueError(f"{where} {name} = {value!r}: expected {expected}; correct it in the file")
    return out


_REFUSED = object()  # what a converter returns for a value it cannot convert


def _number(value: object) -> object:
    """A number written as text (``"10"``, ``"1e-3"``) as that number; anything else unchanged."""
    if isinstance(value, str):
        for parse in (int, float):
            with contextlib.suppress(ValueError):
                return parse(value.strip())
    return value


def _to_int(value: object) -> object:
    value = _number(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return _REFUSED


def _to_float(value: object) -> object:
    value = _number(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return _REFUSED


_BOOLEANS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def _to_bool(value: object) -> object:
    if isinstance(value, bool):
        return value
    return _BOOLEANS.get(value.strip().lower(), _REFUSED) if isinstance(value, str) else _REFUSED


def _to_str(value: object) -> object:
    if isinstance(value, str):
        return value
    return str(value) if _is_number(value) else _REFUSED


def _symbols(value: object) -> object:
    if isinstance(value, (list, tuple)) and all(isinstance(s, str) for s in value):
        return list(value)
    return _REFUSED


_CONVERTERS = {"int": _to_int, "float": _to_float, "bool": _to_bool, "str": _to_str}
