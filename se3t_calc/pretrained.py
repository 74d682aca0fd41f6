"""Trained models shipped in the repository's ``models/`` folder, found by name."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MODELS_ENV = "SE3T_MODELS_DIR"


def models_dir() -> Path:
    """Folder of the shipped models: ``$SE3T_MODELS_DIR``, else ``models/`` of the checkout."""
    return Path(os.environ.get(MODELS_ENV, Path(__file__).resolve().parents[1] / "models"))


def available_models() -> list[str]:
    """Names of the shipped models (``models/<name>.pt``), sorted."""
    folder = models_dir()
    return sorted(p.stem for p in folder.glob("*.pt")) if folder.is_dir() else []


def model_path(model: str | os.PathLike) -> Path:
    """Path of a model file given its path or the name of a shipped model.

    Parameters
    ----------
    model : str or path-like
        An existing file, or a name from :func:`available_models` such as
        ``"rmd17-ethanol"``.

    Raises
    ------
    FileNotFoundError
        If ``model`` is neither a file nor a shipped model; the message lists the names.
    """
    path = Path(model)
    if path.is_file():
        return path
    shipped = models_dir() / f"{model}.pt"
    if isinstance(model, str) and path.name == model and shipped.is_file():
        return shipped
    names = ", ".join(available_models()) or f"none found in {models_dir()}"
    raise FileNotFoundError(f"model file not found: {model} (shipped models: {names})")


def model_card(name: str) -> dict[str, Any]:
    """Measured errors, settings and provenance of a shipped model (``models/<name>.json``)."""
    path = models_dir() / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics file for model {name!r} at {path}")
    return json.loads(path.read_text())
