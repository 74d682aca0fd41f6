"""Trained models shipped in the repository's ``models/`` folder, found by name."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MODELS_ENV = "SE3T_MODELS_DIR"
NO_MODELS_HINT = (
    "they come with a checkout of se3t_calc (models/) and with packages built from one "
    "(pip install . or a wheel); or set SE3T_MODELS_DIR to a folder of <name>.pt and <name>.json files"
)


def models_dir() -> Path:
    """Folder of the shipped models.

    ``$SE3T_MODELS_DIR`` if set (and not empty); else the data package ``se3t_calc/shipped_models`` of an
    installed wheel (``pip install .`` puts the repository's ``models/`` there); else
    ``models/`` of the checkout (editable installs).
    """
    if os.environ.get(MODELS_ENV):  # set and not empty (an empty path would be the working folder)
        return Path(os.environ[MODELS_ENV])
    packaged = Path(__file__).resolve().parent / "shipped_models"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[1] / "models"


MEMBER_GLOB = "member_*.pt"  # the model files of a committee folder


def available_models() -> list[str]:
    """Names of the shipped models (``models/<name>.pt``) and committees (``models/<name>/``), sorted."""
    folder = models_dir()
    if not folder.is_dir():
        return []
    committees = [p.name for p in folder.iterdir() if p.is_dir() and any(p.glob(MEMBER_GLOB))]
    return sorted([p.stem for p in folder.glob("*.pt")] + committees)


def committee_files(source: str | os.PathLike) -> list[Path] | None:
    """Member files of a committee folder (``member_*.pt``) or a shipped committee's name; else None.

    Raises
    ------
    FileNotFoundError
        A folder without member files.
    """
    folder = Path(source)
    if not folder.is_dir() and isinstance(source, str) and folder.name == source:
        folder = models_dir() / source
    if not folder.is_dir():
        return None
    files = sorted(folder.glob(MEMBER_GLOB))
    best = folder / "best.pt"  # a single model's training run
    if files and best.is_file():
        raise FileNotFoundError(
            f"{folder} holds both a committee ({MEMBER_GLOB}) and a single model ({best.name}): give "
            f"one of them, e.g. {best} for the single model"
        )
    if not files:
        hint = f": it is a training run folder; give its model, {best}" if best.is_file() else ""
        raise FileNotFoundError(f"{folder} is a folder without committee members ({MEMBER_GLOB}){hint}")
    return files


def model_location(model: str | os.PathLike) -> Path:
    """The file of a model, or the folder of a committee, given a path or a shipped name."""
    files = committee_files(model)
    return files[0].parent if files else model_path(model)


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
    folder = path if path.is_dir() else models_dir() / str(model)
    if folder.is_dir() and any(folder.glob(MEMBER_GLOB)):
        raise FileNotFoundError(
            f"{model} is a committee (a folder of {MEMBER_GLOB}), not one model file: load it with "
            f"SE3TCalculator({str(model)!r}), or load one member, {sorted(folder.glob(MEMBER_GLOB))[0]}"
        )
    names = ", ".join(available_models()) or f"none found in {models_dir()}; {NO_MODELS_HINT}"
    raise FileNotFoundError(f"model file not found: {model} (shipped models: {names})")


def model_card(name: str) -> dict[str, Any]:
    """Measured errors, settings and provenance of a shipped model (``models/<name>.json``)."""
    path = models_dir() / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics file for model {name!r} at {path}")
    return json.loads(path.read_text())
