"""TorchSim adapter: batched MD and relaxation of many structures, one model call per step.

Needs the optional extra ``torchsim`` (``pip install "se3t_calc[torchsim]"``, which
installs ``torch-sim-atomistic`` 0.3; tested with 0.3.0)::

    import torch_sim as ts
    from se3t_calc.integrations.torchsim import SE3TTorchSimModel

    model = SE3TTorchSimModel("rmd17-aspirin", device="cpu", dtype="float64")
    final = ts.integrate(structures, model, integrator=ts.nvt_langevin, n_steps=1000,
                         temperature=300, timestep=0.0005)   # ps
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from ase import Atoms

try:
    import torch_sim as ts
    from torch_sim.models.interface import ModelInterface
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'the TorchSim adapter needs torch-sim-atomistic: pip install "se3t_calc[torchsim]"'
    ) from err

from se3t_calc import keys
from se3t_calc.derivatives import energy_and_derivatives
from se3t_calc.graph import atoms_to_graph
from se3t_calc.model import SE3TModel
from se3t_calc.runtime import load_for_inference, resolve_device, resolve_dtype


class SE3TTorchSimModel(ModelInterface):
    """A se3t_calc model as a TorchSim ``ModelInterface``.

    Parameters
    ----------
    model : str, path-like or SE3TModel
        As for :class:`se3t_calc.SE3TCalculator`: a shipped model's name, a model file,
        or a model in memory (copied).
    device : {"auto", "cpu", "cuda"} or torch.device
    dtype : {"float64", "float32"}
    compute_stress : bool
        Return ``stress`` (n_systems, 3, 3) eV/Å^3, ASE's sign (positive under
        tension), for periodic states; needed by NPT and cell relaxation.
    compute_forces : bool
        Return ``forces`` (n_atoms, 3) eV/Å.

    Notes
    -----
    A TorchSim state has one ``pbc`` flag for all its structures; molecules batched
    with crystals go in a periodic box with vacuum larger than the cutoff. The
    neighbour list is built at every call (on the CPU, with vesin).
    """

    def __init__(
        self,
        model: str | os.PathLike | SE3TModel,
        *,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "float64",
        compute_stress: bool = True,
        compute_forces: bool = True,
    ):
        super().__init__()
        self._device = resolve_device(device)
        self._dtype = resolve_dtype(dtype)
        self.model = load_for_inference(model, device=self._device, dtype=self._dtype)
        self._compute_stress = compute_stress
        self._compute_forces = compute_forces

    def forward(self, state: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Energies (n_systems,) eV, forces (n_atoms, 3) eV/Å and stress (n_systems, 3, 3) eV/Å^3.

        Parameters
        ----------
        state : torch_sim.SimState or dict
            Positions (n_atoms, 3) Å, cell (n_systems, 3, 3) as columns Å, ``pbc``,
            ``atomic_numbers`` and ``system_idx``.
        """
        if isinstance(state, dict):
            state = ts.SimState(**state, masses=torch.ones_like(state["positions"][:, 0]))
        graph = atoms_to_graph(
            _to_atoms(state),
            self.model.config.species,
            self.model.config.r_cut,
            device=self._device,
            dtype=self._dtype,
        )
        periodic = bool(state.pbc)
        out = energy_and_derivatives(self.model, graph, compute_stress=self._compute_stress and periodic)
        results = {"energy": out[keys.TOTAL_ENERGY].detach().to(self._dtype)}
        if self._compute_forces:
            results["forces"] = out[keys.FORCES].detach()
        if self._compute_stress and periodic:
            results["stress"] = out[keys.STRESS].detach()
        return results


def _to_atoms(state: Any) -> list[Atoms]:
    """One ``ase.Atoms`` per structure of a TorchSim state (cells as rows)."""
    positions = state.positions.detach().cpu().double().numpy()
    numbers = state.atomic_numbers.cpu().numpy()
    cells = state.row_vector_cell.detach().cpu().double().numpy()
    ends = np.cumsum(torch.bincount(state.system_idx).cpu().numpy())
    starts = np.concatenate([[0], ends[:-1]])
    pbc = bool(state.pbc)
    return [
        Atoms(numbers=numbers[a:b], positions=positions[a:b], cell=cell, pbc=pbc)
        for a, b, cell in zip(starts, ends, cells, strict=True)
    ]
