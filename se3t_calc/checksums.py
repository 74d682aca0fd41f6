"""Checksums of what a model file and a training checkpoint hold, to refuse edited or corrupted files."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch


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
