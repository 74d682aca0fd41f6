"""Training: labelled data, statistics, losses, the loop and evaluation.

Imported by the command line and by users' scripts, never by the calculator. The names
below are imported on first use (the settings classes need no PyTorch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from se3t_calc.lazy import lazy_getattr

if TYPE_CHECKING:
    from se3t_calc.train.config import TrainConfig, read_config_file
    from se3t_calc.train.data import read_structures
    from se3t_calc.train.dataset import GraphDataset
    from se3t_calc.train.labels import LabeledStructure
    from se3t_calc.train.metrics import ErrorAccumulator, format_table
    from se3t_calc.train.run import train
    from se3t_calc.train.scoring import evaluate

_HOMES = {
    "TrainConfig": "config",
    "read_config_file": "config",
    "read_structures": "data",
    "GraphDataset": "dataset",
    "evaluate": "scoring",
    "LabeledStructure": "labels",
    "ErrorAccumulator": "metrics",
    "format_table": "metrics",
    "train": "run",
}

__all__ = [
    "ErrorAccumulator",
    "GraphDataset",
    "LabeledStructure",
    "TrainConfig",
    "evaluate",
    "format_table",
    "read_config_file",
    "read_structures",
    "train",
]


__getattr__ = lazy_getattr(__name__, _HOMES, globals())
