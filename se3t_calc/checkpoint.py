"""Model files: plain-data checkpoints loadable with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import io
import os
import pickle
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import e3nn
import torch

from se3t_calc.checksums import weights_checksum
from se3t_calc.config import ModelConfig
from se3t_calc.migrations import MIGRATIONS
from se3t_calc.model import SE3TModel
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
    if version not in MIGRATIONS and version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format {version}, which no se3t_calc release wrote; "
            f"readable formats are {sorted([*MIGRATIONS, FORMAT_VERSION])}"
        )
    _check_fields(path, data)
    if version >= 2:  # a migration recomputes the checksum: verify the stored one first
        _verify_checksum(path, data)
    while data["format_version"] != FORMAT_VERSION:
        data = MIGRATIONS[data["format_version"]](data)
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
