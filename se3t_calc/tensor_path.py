"""The calculator's tensor path: graph tensors kept on the device, one packed result back.

Host↔device traffic is explicit and minimal: species and batch (one copy) and the
cell are uploaded when they change, edges when the neighbour list is rebuilt
(one copy), positions at every call into a persistent device buffer (through
pinned memory on CUDA), and the results come back as one float64 vector. Nothing
in between synchronises with the host.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from se3t_calc import keys
from se3t_calc.derivatives import energy_and_derivatives
from se3t_calc.padding import unpack_edges

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
_VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])  # ASE order xx, yy, zz, yz, xz, xy


class TensorPath:
    """Device side of :class:`~se3t_calc.SE3TCalculator`.

    Parameters
    ----------
    model : torch.nn.Module
        Energy model, already on ``device`` in ``dtype``.
    device : torch.device
    dtype : torch.dtype
    compile_mode : str or None
        One of :data:`COMPILE_MODES` to run the model through ``torch.compile``, or None.
    static_shapes : bool
        The edges are padded into buckets: compile for the shapes seen (a new bucket
        recompiles once, with dynamic shapes from then on). Otherwise shapes are
        dynamic from the start, so that a new number of edges does not recompile.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        device: torch.device,
        dtype: torch.dtype,
        compile_mode: str | None = None,
        static_shapes: bool = False,
    ):
        self.model = model
        self.device = device
        self.dtype = dtype
        self.forward: Callable = model
        self._cuda_graphs = compile_mode == "reduce-overhead"
        if compile_mode is not None:
            dynamic = None if static_shapes else True  # None: torch's automatic dynamic shapes
            self.forward = torch.compile(model, dynamic=dynamic, mode=compile_mode)
        self.tensors: dict[str, torch.Tensor] = {}
        self._staging: torch.Tensor | None = None

    def load_atoms(self, species: np.ndarray, batch: np.ndarray) -> None:
        """Upload species and batch indices (N,) in one copy; allocate the positions buffer."""
        indices = _upload(np.stack([species, batch]), self.device)
        self.tensors[keys.SPECIES], self.tensors[keys.BATCH] = indices[0], indices[1]
        shape = (len(species), 3)
        self.tensors[keys.POSITIONS] = torch.zeros(shape, dtype=self.dtype, device=self.device)
        if self.device.type == "cuda":
            self._staging = torch.zeros(shape, dtype=self.dtype, pin_memory=True)

    def load_cell(self, cells: np.ndarray) -> None:
        """Upload cells (B, 3, 3), Å."""
        self.tensors[keys.CELL] = _upload(cells, self.device).to(self.dtype)

    def load_edges(self, edges: np.ndarray) -> None:
        """Upload edges (5, E) of :func:`~se3t_calc.padding.pack_edges` in one copy."""
        self.tensors.update(unpack_edges(_upload(edges, self.device), self.dtype))

    def load_positions(self, positions: np.ndarray) -> None:
        """Write positions (n, 3), Å, into the first ``n`` rows of the device buffer."""
        host = torch.from_numpy(np.ascontiguousarray(positions))
        buffer = self.tensors[keys.POSITIONS]
        n = len(positions)
        if self._staging is None:
            buffer[:n].copy_(host)
            return
        self._staging[:n].copy_(host)
        buffer.copy_(self._staging, non_blocking=True)

    def evaluate(self, *, num_atoms: int, stress: bool) -> torch.Tensor:
        """:meth:`compute`, then the one copy of its result to the host."""
        return self.compute(num_atoms=num_atoms, stress=stress).cpu()

    def compute(self, *, num_atoms: int, stress: bool) -> torch.Tensor:
        """Energy, forces and optionally stress of the loaded graph, packed on the device.

        Parameters
        ----------
        num_atoms : int
            Atoms of the first structure whose results are returned.
        stress : bool
            Differentiate with respect to strain too.

        Returns
        -------
        torch.Tensor, float64, on the device
            See :func:`unpack_results`.
        """
        if self._cuda_graphs:  # this call's replays may overwrite the last call's outputs
            torch.compiler.cudagraph_mark_step_begin()
        out = energy_and_derivatives(self.forward, dict(self.tensors), compute_stress=stress)
        parts = [out[keys.TOTAL_ENERGY][:1], out[keys.FORCES][:num_atoms], out[keys.NODE_ENERGY][:num_atoms]]
        if stress:
            parts.append(out[keys.STRESS][0])
        if keys.MEMBER_ENERGY in out:  # a committee: each member's results after the means
            parts += [out[keys.MEMBER_ENERGY][:, 0], out[keys.MEMBER_FORCES][:, :num_atoms]]
            if stress:
                parts.append(out[keys.MEMBER_STRESS][:, 0])
        return torch.cat([p.detach().reshape(-1).to(torch.float64) for p in parts])


def _upload(array: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


def unpack_results(
    packed: np.ndarray, num_atoms: int, *, stress: bool, members: int = 0
) -> dict[str, np.ndarray | float]:
    """ASE results from the vector of :meth:`TensorPath.evaluate`.

    Parameters
    ----------
    packed : np.ndarray, shape (1 + 4 N [+ 9] [+ M (1 + 3 N [+ 9])],)
        Energy (eV), forces (N, 3) eV/Å, per-atom energies (N,) eV, with ``stress``
        the (3, 3) stress, eV/Å^3; then for a committee of ``M`` members their
        energies (M,), forces (M, N, 3) and with ``stress`` stresses (M, 3, 3).
    num_atoms : int
        ``N``.
    stress : bool
        Whether the stress is there.
    members : int
        ``M``, or 0 for a single model.

    Returns
    -------
    dict
        ``energy``, ``free_energy``, ``forces``, ``energies`` and, with stress, ``stress``
        in Voigt order (xx, yy, zz, yz, xz, xy); for a committee also ``energy_std``,
        ``forces_std`` (and ``stress_std``), standard deviations over members
        (``ddof=1``), and ``member_energy``, ``member_forces`` (and ``member_stress``).
    """
    n = num_atoms
    results: dict[str, np.ndarray | float] = {
        "energy": float(packed[0]),
        "free_energy": float(packed[0]),
        "forces": packed[1 : 1 + 3 * n].reshape(n, 3),
        "energies": packed[1 + 3 * n : 1 + 4 * n],
    }
    end = 1 + 4 * n
    if stress:
        results["stress"] = packed[end : end + 9].reshape(3, 3)[_VOIGT]
        end += 9
    if members:
        results.update(_member_results(packed[end:], n, members, stress))
    return results


def _member_results(packed: np.ndarray, n: int, m: int, stress: bool) -> dict[str, np.ndarray | float]:
    energy = packed[:m]
    forces = packed[m : m + 3 * n * m].reshape(m, n, 3)
    out: dict[str, np.ndarray | float] = {
        "member_energy": energy,
        "member_forces": forces,
        "energy_std": float(energy.std(ddof=1)),
        "forces_std": forces.std(axis=0, ddof=1),
    }
    if stress:
        member_stress = packed[m + 3 * n * m :].reshape(m, 3, 3)[:, _VOIGT[0], _VOIGT[1]]
        out["member_stress"] = member_stress
        out["stress_std"] = member_stress.std(axis=0, ddof=1)
    return out
