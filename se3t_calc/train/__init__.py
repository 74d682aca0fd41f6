"""Training: labelled data, statistics, losses, the loop and evaluation.

Imported by the command line and by users' scripts, never by the calculator.
"""

from se3t_calc.train.config import TrainConfig, read_config_file
from se3t_calc.train.data import read_structures
from se3t_calc.train.dataset import GraphDataset
from se3t_calc.train.evaluate import evaluate
from se3t_calc.train.labels import LabeledStructure
from se3t_calc.train.metrics import ErrorAccumulator, format_table
from se3t_calc.train.run import train

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
