"""Settings of a resumed run: the stored ones, with the budget flags that may change applied."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from se3t_calc.train.config import TrainConfig

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
