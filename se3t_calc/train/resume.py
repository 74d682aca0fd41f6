"""Resuming a run: the stored settings with the budget flags that may change applied, and the
checks that ``last.pt`` is intact, finite and was written for the same data."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch

from se3t_calc.checksums import run_checksum
from se3t_calc.train.config import TrainConfig
from se3t_calc.train.data import file_sha256

# fields a resumed run may change: budgets (with the second stage, which is placed in the
# budget), where and how fast it runs, what it is tested on
MUTABLE = (
    "epochs",
    "max_time",
    "patience",
    "stage_two",
    "stage_two_energy_weight",
    "threads",
    "compile",
    "device",
    "valid_batch_size",
    "test_file",
    "output_dir",
)
_PATHS = ("train_file", "valid_file", "test_file", "atomic_energies", "output_dir", "init_from")


def resumed_settings(
    stored: dict[str, Any],
    given: TrainConfig,
    given_model: dict[str, Any],
    names: Collection[str] | None = None,
) -> tuple[TrainConfig, dict[str, Any], list[str]]:
    """Merge the settings of a checkpoint with those given for its resumption.

    Parameters
    ----------
    stored : dict
        The checkpoint (``last.pt``) as read by :func:`se3t_calc.checkpoint.read_checkpoint`.
    given : TrainConfig
        The settings of the new invocation.
    given_model : dict
        :class:`ModelConfig` fields given for the new invocation.
    names : collection of str, optional
        The :class:`TrainConfig` fields set explicitly (a settings file or flags); default all.

    Returns
    -------
    config : TrainConfig
        Stored settings with the given values of :data:`MUTABLE` fields applied.
    model : dict
        The stored model configuration.
    changes : list of str
        ``"field: old -> new"`` for every applied change.

    Raises
    ------
    ValueError
        Naming every given setting that differs from the stored one and cannot change.
    """
    old = stored["metadata"]["training"]["train_config"]
    names = set(old) if names is None else set(names)
    changed = [n for n in sorted(names) if not _same(n, old.get(n), getattr(given, n))]
    model_changed = [n for n in sorted(given_model) if given_model[n] != stored["config"].get(n)]
    frozen = [n for n in changed if n not in MUTABLE] + model_changed
    if frozen:
        described = ", ".join(_describe(n, old, stored["config"], given, given_model) for n in frozen)
        raise ValueError(
            f"cannot resume with changed {described}: only {', '.join(MUTABLE)} may change; "
            "start a new run in another --output-dir to change the others"
        )
    updates = {n: getattr(given, n) for n in changed}
    config = TrainConfig.from_dict({**old, **updates})
    return config, dict(stored["config"]), [f"{n}: {old.get(n)!r} -> {updates[n]!r}" for n in changed]


def describe_changes(changes: list[str], config: TrainConfig, *, new_rate: float, old_rate: float) -> str:
    """What a resumed run kept and changed, and where its learning rate goes on (cosine)."""
    if not changes:
        return "all stored settings kept"
    lines = ["stored settings kept, except: " + "; ".join(changes)]
    if config.schedule == "cosine":
        lines.append(
            f"cosine schedule stretched over the new budget: the learning rate goes on from {new_rate:.3g} "
            f"(it was {old_rate:.3g}) down to {config.min_lr_factor * config.lr:.3g}"
        )
    return "\n".join(lines)


def _same(name: str, old: Any, new: Any) -> bool:
    if name in _PATHS and isinstance(old, str) and isinstance(new, str) and old != "fit" != new:
        return Path(old).resolve() == Path(new).resolve()
    return old == new


def _describe(
    name: str, old: dict[str, Any], old_model: dict[str, Any], given: TrainConfig, model: dict[str, Any]
) -> str:
    if name in model:
        return f"{name} ({old_model.get(name)!r} -> {model[name]!r})"
    return f"{name} ({old.get(name)!r} -> {getattr(given, name)!r})"


# the files a run's labels come from, by TrainConfig field
_DATA_FILES = ("train_file", "valid_file", "atomic_energies")
_START_AGAIN = "start a new run in another --output-dir"


def data_fingerprint(config: TrainConfig) -> dict[str, str]:
    """sha256 of each file the labels of a run come from, by field name.

    ``train_file``, ``valid_file`` and, unless E0 is fitted, the isolated-atoms file
    ``atomic_energies``; the test file may change on resume and is left out.
    """
    paths = {name: getattr(config, name) for name in _DATA_FILES}
    if config.atomic_energies == "fit":
        del paths["atomic_energies"]
    return {name: file_sha256(path) for name, path in paths.items() if path}


def sign(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """``checkpoint`` with its :func:`run_checksum` stored under ``"run_checksum"``."""
    return {**checkpoint, "run_checksum": run_checksum(checkpoint)}


def verify_run_state(path: Path, stored: dict[str, Any]) -> list[str]:
    """Refuse a ``last.pt`` that is not a training checkpoint, was edited, or holds NaN or inf.

    Returns
    -------
    list of str
        Notes to print: a checkpoint of an older se3t_calc, without a run checksum, is
        resumed unverified.

    Raises
    ------
    ValueError
        Naming the file, the problem and the way out.
    """
    missing = [key for key in ("training_state", "split") if key not in stored]
    if missing:
        raise ValueError(
            f"{path} is a model file, not a training checkpoint (it lacks {missing}): it cannot be "
            f"resumed; {_START_AGAIN} (--init-from {path} starts from its weights)"
        )
    notes = []
    if "run_checksum" not in stored:
        notes.append(
            f"note: {path} was written by an older se3t_calc, without a checksum of its training state "
            "or a fingerprint of its data: both are resumed unverified"
        )
    elif stored["run_checksum"] != run_checksum(stored):
        raise ValueError(
            f"{path}: training settings, split or training state do not match the checksum stored in "
            f"the file (edited or corrupted); restore an intact copy or {_START_AGAIN}"
        )
    bad = _nonfinite({"state_dict": stored["state_dict"], "training_state": stored["training_state"]}, "")
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise ValueError(
            f"{path} holds non-finite weights (NaN or inf, in {bad[0]}{more}): the run diverged before "
            f"it was saved, or the file is damaged, and would go on training NaN; {_START_AGAIN} (with "
            "a lower --lr if it diverged) or restore an intact copy"
        )
    return notes


def _nonfinite(value: Any, where: str) -> list[str]:
    """Names of the floating-point tensors in nested dicts and lists that hold NaN or inf."""
    if isinstance(value, torch.Tensor):
        return [where] if value.is_floating_point() and not bool(torch.isfinite(value).all()) else []
    if isinstance(value, dict):
        return [bad for key, item in value.items() for bad in _nonfinite(item, f"{where}/{key}".lstrip("/"))]
    if isinstance(value, (list, tuple)):
        return [bad for k, item in enumerate(value) for bad in _nonfinite(item, f"{where}[{k}]")]
    return []


def check_same_data(path: Path, stored: dict[str, Any], config: TrainConfig, current: dict[str, str]) -> None:
    """Refuse to resume ``path`` on data files that changed since it was written.

    Parameters
    ----------
    path : Path
        The checkpoint, for messages.
    stored : dict
        The checkpoint; one without ``data_fingerprint`` (an older se3t_calc) passes.
    config : TrainConfig
        The resumed settings, for the file names.
    current : dict
        :func:`data_fingerprint` of the files now.
    """
    old = stored.get("data_fingerprint")
    if old is None:
        return
    changed = [name for name in sorted(set(old) | set(current)) if old.get(name) != current.get(name)]
    if changed:
        files = ", ".join(f"{getattr(config, name)} ({name})" for name in changed)
        raise ValueError(
            f"{path} was trained on other data: {files} changed since (its sha256 differs), so the "
            f"stored split and statistics do not fit it; restore the file as it was, or {_START_AGAIN}"
        )
