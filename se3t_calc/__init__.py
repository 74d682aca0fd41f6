"""se3t_calc: an SE(3)-equivariant attention interatomic potential for ASE."""

from se3t_calc.allocator import retain_freed_memory
from se3t_calc.calculator import SE3TCalculator
from se3t_calc.checkpoint import ModelFileError, load_model, save_model
from se3t_calc.config import ModelConfig
from se3t_calc.derivatives import energy_and_derivatives
from se3t_calc.graph import atoms_to_graph
from se3t_calc.model import SE3TModel
from se3t_calc.safety import BlowUpError, MDSafetyCheck
from se3t_calc.version import __version__

__all__ = [
    "BlowUpError",
    "MDSafetyCheck",
    "ModelConfig",
    "ModelFileError",
    "SE3TCalculator",
    "SE3TModel",
    "__version__",
    "atoms_to_graph",
    "energy_and_derivatives",
    "load_model",
    "retain_freed_memory",
    "save_model",
]
