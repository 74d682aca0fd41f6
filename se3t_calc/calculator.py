"""ASE calculator: atoms -> graph -> model -> energy, forces, stress."""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from se3t_calc import keys
from se3t_calc.checkpoint import load_model
from se3t_calc.derivatives import energy_and_derivatives, voigt_6
from se3t_calc.graph import check_atoms, species_indices, structure_arrays, to_tensors
from se3t_calc.model import SE3TModel
from se3t_calc.neighbors import SkinNeighborList

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; refuses CUDA when there is none."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
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


class SE3TCalculator(Calculator):
    """ASE calculator for se3t_calc models.

    Parameters
    ----------
    model : str, path-like or SE3TModel
        Name of a shipped model (e.g. ``"rmd17-ethanol"``; ``se3t models`` lists
        them), a model file written by :func:`se3t_calc.save_model`, or a model in
        memory (copied, so later changes to it do not reach the calculator).
    device : {"auto", "cpu", "cuda"} or torch.device
        ``"auto"`` picks CUDA when available.
    dtype : {"float64", "float32"}
        Precision of the evaluation. float64 for relaxations and tight energy
        conservation, float32 for speed.
    skin : float
        Verlet skin in Å. With ``skin > 0`` the neighbour list is rebuilt only when
        an atom has moved more than ``skin / 2``; results do not depend on it.
    compile : bool
        Run the model through ``torch.compile`` with dynamic shapes, so that a
        changing number of neighbours does not recompile. On CPU this made calls
        2-3 times faster, after a first call of about a minute (compiled kernels
        are cached on disk, so later processes start in seconds). Needs a C++
        compiler; off by default.
    **kwargs
        Passed to :class:`ase.calculators.calculator.Calculator`.

    Notes
    -----
    Results are float64 numpy arrays: energy in eV, forces in eV/Å, stress in
    eV/Å^3 (Voigt order xx, yy, zz, yz, xz, xy; 3-D periodic cells only), and
    per-atom ``energies`` in eV.
    """

    # a plain list, as ASE declares it
    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]  # noqa: RUF012

    def __init__(
        self,
        model: str | os.PathLike | SE3TModel,
        *,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "float64",
        skin: float = 0.0,
        compile: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        if isinstance(model, SE3TModel):  # a private copy: the caller's model stays as it is
            model = copy.deepcopy(model).to(device=self.device, dtype=self.dtype).eval()
        else:
            model = load_model(model, device=self.device, dtype=self.dtype)
        for p in model.parameters():
            p.requires_grad_(False)
        self.model = model
        self._forward = torch.compile(model, dynamic=True) if compile else model
        self.species = model.config.species
        self.neighbors = SkinNeighborList(model.config.r_cut, skin)
        self._graph: dict[str, torch.Tensor] | None = None

    @classmethod
    def from_file(cls, path: str | os.PathLike, **kwargs: Any) -> SE3TCalculator:
        """Load a model file; keyword arguments as for the constructor."""
        return cls(path, **kwargs)

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: list[str] | None = None,
        system_changes: list[str] = all_changes,
    ) -> None:
        """Compute every implemented property at once (ASE caches them)."""
        properties = properties or ["energy"]
        super().calculate(atoms, properties, system_changes)
        periodic = bool(self.atoms.pbc.all())
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError(
                "stress is defined only for 3-D periodic cells (atoms.pbc all True); "
                f"this structure has pbc={self.atoms.pbc.tolist()}"
            )
        graph = self._atoms_to_graph(self.atoms)
        out = energy_and_derivatives(self._forward, graph, compute_stress=periodic)
        energy = out[keys.TOTAL_ENERGY].detach().double().cpu().numpy()[0]
        self.results = {
            "energy": float(energy),
            "free_energy": float(energy),
            "energies": out[keys.NODE_ENERGY].detach().double().cpu().numpy(),
            "forces": out[keys.FORCES].detach().double().cpu().numpy(),
        }
        if periodic:
            self.results["stress"] = voigt_6(out[keys.STRESS][0]).detach().double().cpu().numpy()
        _check_finite(self.results)

    def _atoms_to_graph(self, atoms: Atoms) -> dict[str, torch.Tensor]:
        """Graph tensors; edges are reused while the skin neighbour list is valid."""
        check_atoms(atoms)
        species = species_indices(atoms.numbers, self.species)  # fails before any list is built
        pairs, rebuilt = self.neighbors.update(atoms.positions, atoms.cell.array, atoms.pbc, atoms.numbers)
        if rebuilt:  # always on the first call
            self._graph = to_tensors(
                structure_arrays(atoms, species, pairs), device=self.device, dtype=self.dtype
            )
            return self._graph
        assert self._graph is not None
        positions = torch.as_tensor(atoms.positions, dtype=self.dtype).to(self.device)
        self._graph = {**self._graph, keys.POSITIONS: positions}
        return self._graph


def _check_finite(results: dict[str, Any]) -> None:
    """Refuse NaN or infinite model outputs (the positions were checked before)."""
    bad = [name for name in ("energy", "forces", "stress") if name in results]
    bad = [name for name in bad if not np.isfinite(results[name]).all()]
    if bad:
        raise ValueError(
            f"the model returned non-finite (NaN or inf) {' and '.join(bad)} for finite positions: "
            "its weights are broken (e.g. NaN in the model file) or the structure is far outside "
            "what it was trained on"
        )
