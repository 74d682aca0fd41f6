"""One loader for inference, shared by every front end: device, dtype, model or committee."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence

import torch

from se3t_calc.checkpoint import load_model
from se3t_calc.committee import Committee
from se3t_calc.model import SE3TModel
from se3t_calc.pretrained import MEMBER_GLOB, committee_files

_DTYPES = {"float32": torch.float32, "float64": torch.float64}

ModelSource = str | os.PathLike | SE3TModel | Committee
Models = ModelSource | Sequence[str | os.PathLike | SE3TModel]


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; refuses CUDA when there is none."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):  # torch: "Expected one of cpu, cuda, ... device type at start of ..."
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or e.g. 'cuda:1'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' requested but PyTorch sees no CUDA GPU; use 'cpu' or 'auto'")
    return device


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"float32"``/``"float64"`` (or the torch dtypes) -> torch dtype."""
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {list(_DTYPES)}, got {dtype!r}")
    return _DTYPES[dtype]


def load_for_inference(model: Models, *, device: torch.device, dtype: torch.dtype) -> SE3TModel | Committee:
    """A model or committee on ``device`` in ``dtype``, in eval mode, its weights frozen.

    Parameters
    ----------
    model : str, path-like, SE3TModel, Committee, or a sequence of str, path-like or SE3TModel
        A shipped model's or committee's name, a model file, a committee folder
        (``member_*.pt``), a model in memory (copied, so later changes to it do not
        reach the copy), or several of these, which form a committee.
    device : torch.device
    dtype : torch.dtype
    """
    if isinstance(model, SE3TModel | Committee):
        loaded: torch.nn.Module = copy.deepcopy(model)
    elif isinstance(model, Sequence) and not isinstance(model, str):
        loaded = Committee([_single(m) for m in model])
    else:
        files = committee_files(model)
        loaded = load_model(model) if files is None else Committee([load_model(f) for f in files])
    loaded = loaded.to(device=device, dtype=dtype).eval()
    for p in loaded.parameters():
        p.requires_grad_(False)
    return loaded  # type: ignore[return-value]


def _single(model: str | os.PathLike | SE3TModel) -> SE3TModel:
    if isinstance(model, SE3TModel):
        return copy.deepcopy(model)
    if isinstance(model, Committee):
        raise ValueError("a list of models holds a committee: pass the committee alone, or its members")
    if committee_files(model) is not None:
        raise ValueError(
            f"{model} is a committee (a folder of {MEMBER_GLOB} files), given in a list of models: "
            "pass the folder alone, or list its member files"
        )
    return load_model(model)
