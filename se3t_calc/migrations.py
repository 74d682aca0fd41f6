"""Older model file formats read into the current one, by named functions (one per version step).

Each migration takes the plain-data dict of a file of its format (checksum verified) and
returns the next format's; :data:`MIGRATIONS` maps a format version to its function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from se3t_calc.checksums import run_checksum, weights_checksum
from se3t_calc.config import ModelConfig
from se3t_calc.model import SE3TModel
from se3t_calc.nn.attention import EquivariantAttention


def migrate_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Format 1 -> 2: add the checksum of the configuration and weights (unchanged)."""
    return {**data, "format_version": 2, "checksum": weights_checksum(data["config"], data["state_dict"])}


def migrate_v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """Format 2 -> 3: the model options that format 2 predates, off (the same energies).

    ``isolated_atom_limit`` and ``zbl`` are set to False, which is how every format-2
    model computes, and the checksum (verified before migrating) is recomputed.
    """
    config = {**data["config"], "isolated_atom_limit": False, "zbl": False}
    return {
        **data,
        "format_version": 3,
        "config": config,
        "checksum": weights_checksum(config, data["state_dict"]),
    }


def migrate_v3_to_v4(data: dict[str, Any]) -> dict[str, Any]:
    """Format 3 -> 4: the radial MLPs lose the key weights that no key read (the same energies).

    In format 3 the last layer of each radial MLP emitted, per channel, a key and a value
    weight for every tensor-product path, ordered (path, key/value, channel); keys read
    only the key paths (those whose output irrep a query has). Format 4 emits the value
    weights of every path, then the key weights of the key paths. The columns are
    selected from the stored matrices, so the model computes what it did; a training
    checkpoint's model, averaged model and optimiser moments are selected alike, so a run
    resumes where it stopped.
    """
    model = SE3TModel(ModelConfig.from_dict(data["config"]))
    select = _used_radial_columns(model)
    # a training checkpoint's own checksum is renewed only if it held: an edit stays refused
    intact = "run_checksum" in data and data["run_checksum"] == run_checksum(data)
    state = {name: select[name](w) if name in select else w for name, w in data["state_dict"].items()}
    out = {
        **data,
        "format_version": 4,
        "state_dict": state,
        "checksum": weights_checksum(data["config"], state),
    }
    if "training_state" in data:
        names = [name for name, _ in model.named_parameters()]
        out["training_state"] = _migrate_training_state(data["training_state"], select, names)
    if intact:
        out["run_checksum"] = run_checksum(out)
    return out


def _used_radial_columns(model: SE3TModel) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """For the last weight matrix (hidden, outputs) of every radial MLP, by state-dict name: the
    map from its format-3 columns to its format-4 columns."""
    select: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    for name, layer in model.named_modules():
        if not isinstance(layer, EquivariantAttention):
            continue
        for g, ((_, heads), mlp) in enumerate(zip(layer.groups, layer.radial, strict=True)):
            shape = (layer.tp.num_paths, 2, heads * layer.head_channels)  # (path, key/value, channel)
            last = len(list(mlp.children())) - 1
            select[f"{name}.radial.{g}.layer{last}.weight"] = functools.partial(
                _format_4_columns, shape=shape, key_paths=layer.pairing.key_blocks
            )
    return select


def _format_4_columns(
    old: torch.Tensor, *, shape: tuple[int, int, int], key_paths: list[int]
) -> torch.Tensor:
    """(hidden, paths * 2 * channels) ordered (path, key/value, channel) -> the value columns of
    every path, then the key columns of ``key_paths``."""
    per_path = old.reshape(old.shape[0], *shape)
    return torch.cat([per_path[:, :, 1].flatten(1), per_path[:, key_paths, 0].flatten(1)], dim=1)


def _selected(
    state: dict[str, torch.Tensor], select: dict[str, Callable[[torch.Tensor], torch.Tensor]]
) -> dict[str, torch.Tensor]:
    return {name: select[name](w) if name in select else w for name, w in state.items()}


def _migrate_training_state(
    training: dict[str, Any], select: dict[str, Callable[[torch.Tensor], torch.Tensor]], names: list[str]
) -> dict[str, Any]:
    """The model, averaged model and AdamW moments of a training checkpoint, columns selected."""
    optimizer = training["optimizer"]
    moments = dict(optimizer["state"])
    for index, name in enumerate(names):
        if name in select and index in moments:
            moments[index] = {
                key: select[name](value) if torch.is_tensor(value) and value.dim() == 2 else value
                for key, value in moments[index].items()
            }
    return {
        **training,
        "model": _selected(training["model"], select),
        "ema": {**training["ema"], "model": _selected(training["ema"]["model"], select)},
        "optimizer": {**optimizer, "state": moments},
    }


# format version -> function upgrading a dict of that version to the next one
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: migrate_v1_to_v2,
    2: migrate_v2_to_v3,
    3: migrate_v3_to_v4,
}
