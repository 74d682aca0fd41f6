"""Model files: plain-data checkpoints loadable with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import e3nn
import torch

from se3t_calc.config import ModelConfig
from se3t_calc.model import SE3TModel
from se3t_calc.pretrained import model_path

FORMAT_VERSION = 1
UNITS = {"energy": "eV", "length": "Å", "forces": "eV/Å", "stress": "eV/Å^3"}


def model_to_dict(model: SE3TModel, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plain-data form of a model: format version, versions, config, weights, metadata."""
    from se3t_calc import __version__

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {
        "format_version": FORMAT_VERSION,
        "versions": {
            "se3t_calc": __version__,
            "torch": str(torch.__version__),
            "e3nn": str(e3nn.__version__),
        },
        "config": model.config.to_dict(),
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


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint dict (a file, or a shipped model's name) safely, in the current format."""
    path = model_path(path)
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or "format_version" not in data:
        raise ValueError(f"{path} is not an se3t_calc model file (no format_version)")
    version = data["format_version"]
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has model format {version}, newer than this se3t_calc reads "
            f"({FORMAT_VERSION}); upgrade se3t_calc"
        )
    return _MIGRATIONS.get(version, _identity)(data)


def model_from_dict(data: dict[str, Any]) -> SE3TModel:
    """Rebuild a model from :func:`model_to_dict` output."""
    model = SE3TModel(ModelConfig.from_dict(data["config"]))
    model.load_state_dict(data["state_dict"])
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
    model = model_from_dict(data)
    model.metadata = data["metadata"]
    return model.to(device=device, dtype=dtype).eval()


def _identity(data: dict[str, Any]) -> dict[str, Any]:
    return data


# format version -> function upgrading a dict of that version to FORMAT_VERSION
_MIGRATIONS: dict[int, Any] = {}
