"""se3t_calc: an SE(3)-equivariant attention interatomic potential for ASE.

The names below are imported on first use, so that ``se3t --help`` and modules that need
no PyTorch (settings, paths, the command's parser) start without loading it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from se3t_calc.lazy import lazy_getattr
from se3t_calc.version import __version__

if TYPE_CHECKING:
    from se3t_calc.allocator import retain_freed_memory
    from se3t_calc.calculator import SE3TCalculator
    from se3t_calc.checkpoint import ModelFileError, load_model, save_model
    from se3t_calc.config import ModelConfig
    from se3t_calc.derivatives import energy_and_derivatives
    from se3t_calc.graph import atoms_to_graph
    from se3t_calc.model import SE3TModel
    from se3t_calc.safety import BlowUpError, MDSafetyCheck

# public name -> module that defines it
_HOMES = {
    "retain_freed_memory": "allocator",
    "SE3TCalculator": "calculator",
    "ModelFileError": "checkpoint",
    "load_model": "checkpoint",
    "save_model": "checkpoint",
    "ModelConfig": "config",
    "energy_and_derivatives": "derivatives",
    "atoms_to_graph": "graph",
    "SE3TModel": "model",
    "BlowUpError": "safety",
    "MDSafetyCheck": "safety",
}

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


__getattr__ = lazy_getattr(__name__, _HOMES, globals())


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
