"""Model files: plain-data checkpoints loadable with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import pickle
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import e3nn
import torch

from se3t_calc.config import ModelConfig
from se3t_calc.model import SE3TModel
from se3t_calc.nn.attention import EquivariantAttention
from se3t_calc.pretrained import model_path
from se3t_calc.version import __version__

# 2: sha256 checksum of config and weights; 3: isolated-atom limit and ZBL options; 4: radial
# MLPs emit key weights only for the key paths
FORMAT_VERSION = 4
UNITS = {"energy": "eV", "length": "Å", "forces": "eV/Å", "stress": "eV/Å^3"}


def model_to_dict(model: SE3TModel, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plain-data form of a model: format version, versions, config, weights, metadata."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    config = model.config.to_dict()
    return {
        "format_version": FORMAT_VERSION,
        "checksum": weights_checksum(config, state),
        "versions": {
            "se3t_calc": __version__,
            "torch": str(torch.__version__),
            "e3nn": str(e3nn.__version__),
        },
        "config": config,
        "state_dict": state,
        "metadata": {
            "species": list(model.config.species),
            "atomic_energies_eV": model.readout.atomic_energies.tolist(),
            "units": dict(UNITS),
            **(metadata or {}),
        },
    }


def save_model(model: SE3TModel, path: str | os.PathLike, *, metadata: dict[str, Any] | None = None) -> None:
    """Write ``model`` to ``path`` atomically (temporary file, then rename).

    Parameters
    ----------
    model : SE3TModel
    path : str or path-like
    metadata : dict, optional
        Free-form plain data (numbers, strings, lists, dicts) stored with the model,
        e.g. a training summary.
    """
    atomic_save(model_to_dict(model, metadata), path)


def atomic_save(obj: Any, path: str | os.PathLike, dump: Callable[[Any, Any], None] = torch.save) -> None:
    """``dump(obj, file)`` (default ``torch.save``) to a temporary file in the same folder, then
    rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    serialised = io.BytesIO()  # in memory first: a full disk then raises OSError, not torch's own
    dump(obj, serialised)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(serialised.getbuffer())
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a model file is not
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


class ModelFileError(ValueError):
    """A model file that cannot be read, is corrupted, or is not an se3t_calc model file."""


def weights_checksum(config: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 (hex) of the model configuration and every weight: name, dtype, shape and bytes.

    Parameters
    ----------
    config : dict
        :meth:`ModelConfig.to_dict` output.
    state_dict : dict of str to torch.Tensor
        The model's weights and buffers.
    """
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def run_checksum(checkpoint: dict[str, Any]) -> str:
    """sha256 (hex) of what a resumed run takes from ``last.pt`` besides the model.

    Covers the training settings, the split, the data fingerprint and the whole training
    state (weights, optimiser, schedule, EMA, counters, random generators); the model's
    configuration and exported weights have their own checksum.
    """
    digest = hashlib.sha256()
    covered = {
        "train_config": checkpoint["metadata"]["training"]["train_config"],
        "split": checkpoint["split"],
        "data_fingerprint": checkpoint.get("data_fingerprint"),
        "training_state": checkpoint["training_state"],
    }
    _update(digest, covered)
    return digest.hexdigest()


def _update(digest: Any, value: Any) -> None:
    """Feed plain data and tensors into ``digest``, with their structure, types and shapes."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"tensor:{tensor.dtype}:{tuple(tensor.shape)}:".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    elif isinstance(value, dict):
        digest.update(f"dict:{len(value)}:".encode())
        for key in sorted(value, key=repr):
            digest.update(f"{key!r}=".encode())
            _update(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"list:{len(value)}:".encode())
        for item in value:
            _update(digest, item)
    else:
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint dict (a file, or a shipped model's name) safely, in the current format.

    Raises
    ------
    FileNotFoundError
        Neither a file nor a shipped model.
    ModelFileError
        Empty, truncated or corrupted file, a payload that is not plain data, an
        unknown or newer format, missing fields, or weights that do not match the
        stored checksum; the message names the file and the problem.
    """
    path = model_path(path)
    data = _torch_load(path)
    if not isinstance(data, dict) or "format_version" not in data:
        raise ModelFileError(f"{path} is not an se3t_calc model file (no format_version)")
    version = data["format_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(f"{path}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format {version}, newer than this se3t_calc reads "
            f"({FORMAT_VERSION}); upgrade se3t_calc"
        )
    if version not in _MIGRATIONS and version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format {version}, which no se3t_calc release wrote; "
            f"readable formats are {sorted([*_MIGRATIONS, FORMAT_VERSION])}"
        )
    _check_fields(path, data)
    if version >= 2:  # a migration recomputes the checksum: verify the stored one first
        _verify_checksum(path, data)
    while data["format_version"] != FORMAT_VERSION:
        data = _MIGRATIONS[data["format_version"]](data)
    _verify_checksum(path, data)
    return data


def _torch_load(path: Path) -> Any:
    """``torch.load(weights_only=True)`` with every failure turned into a :class:`ModelFileError`."""
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path} is empty (0 bytes): not a model file; write or copy it again")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic[:2] != b"PK" and magic[:1] != b"\x80":  # neither torch's zip nor a pickle
        raise ModelFileError(
            f"{path} is not a model file (not a file written by torch.save; it starts with {magic!r}); "
            "give a .pt file written by se3t_calc, or a shipped model's name"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ModelFileError(
            f"{path} holds Python objects other than tensors and plain data, so it is not an "
            "se3t_calc model file; do not load it with weights_only=False (that runs code from the file)"
        ) from None
    except Exception as err:  # torch raises OSError, RuntimeError, EOFError, KeyError, ... on bad bytes
        raise ModelFileError(
            f"{path} cannot be read as a model file: truncated or corrupted "
            f"({type(err).__name__}: {err}); write or copy it again"
        ) from None


_REQUIRED = {"config": dict, "state_dict": dict, "metadata": dict, "versions": dict}


def _check_fields(path: Path, data: dict[str, Any]) -> None:
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise ModelFileError(f"{path}: model file lacks {missing}; it is incomplete or not a model file")
    for key, kind in _REQUIRED.items():
        if not isinstance(data[key], kind):
            raise ModelFileError(
                f"{path}: {key!r} is a {type(data[key]).__name__}, expected a {kind.__name__}"
            )
    species = data["metadata"].get("species")
    if species is not None and list(species) != list(data["config"].get("species", [])):
        raise ModelFileError(
            f"{path}: metadata species {list(species)} differ from the configuration's "
            f"{data['config'].get('species')}; the file is inconsistent"
        )


def _verify_checksum(path: Path, data: dict[str, Any]) -> None:
    stored = data.get("checksum")
    if stored != weights_checksum(data["config"], data["state_dict"]):
        raise ModelFileError(
            f"{path}: configuration or weights do not match the checksum stored in the file "
            "(corrupted or edited); use an intact copy"
        )


def model_from_dict(data: dict[str, Any]) -> SE3TModel:
    """Rebuild a model from :func:`model_to_dict` output."""
    model = SE3TModel(ModelConfig.from_dict(data["config"]))
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as err:  # missing, unexpected or mis-shaped weights
        raise ModelFileError(
            f"weights do not fit the model configuration (species {data['config']['species']}): {err}"
        ) from None
    return model


def load_model(
    path: str | os.PathLike, *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> SE3TModel:
    """Load a model file written by :func:`save_model`, in eval mode.

    Parameters
    ----------
    path : str or path-like
        Model file, or the name of a shipped model (``se3t models`` lists them).
    device : str or torch.device
    dtype : torch.dtype, optional
        Cast parameters (e.g. ``torch.float64``); default keeps the stored dtype.
    """
    data = read_checkpoint(path)
    try:
        model = model_from_dict(data)
    except ValueError as err:
        raise ModelFileError(f"{model_path(path)}: {err}") from None
    model.metadata = data["metadata"]
    if not model.config.isolated_atom_limit:
        warnings.warn(
            f"{model_path(path)} was trained without the exact isolated-atom limit: an atom with "
            "no neighbour within the cutoff does not get its isolated-atom energy E0, so atomisation "
            "and dissociation energies are off; retrain it with this version for the limit",
            LegacyModelWarning,
            stacklevel=2,
        )
    return model.to(device=device, dtype=dtype).eval()


class LegacyModelWarning(UserWarning):
    """A model file that predates a physical constraint of the current model."""


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
                _format_4_columns, shape=shape, key_paths=layer.pairing.key_paths
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
_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: migrate_v1_to_v2,
    2: migrate_v2_to_v3,
    3: migrate_v3_to_v4,
}
