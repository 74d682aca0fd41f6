"""LAMMPS ML-IAP adapter (``pair_style mliap unified``), for MD split over MPI ranks.

Write the LAMMPS-ready file with ``se3t export-lammps MODEL OUT.pkl`` and use it as::

    pair_style   mliap unified OUT.pkl 1     # 1: neighbour lists of ghost atoms too
    pair_coeff   * * Si                      # LAMMPS types -> the model's elements
    comm_modify  cutoff 10.6                 # >= num_layers * r_cut + skin

Each rank passes its local and ghost atoms and all pairs closer than ``r_cut`` (also
those centred on ghost atoms), with ``r_ij = r_j - r_i``. All of them are nodes of the
graph, so messages pass through ghost atoms; the energy is that of the local atoms, and
LAMMPS gets ``dE/dr_ij`` of every pair (it adds the forces to both atoms, sends those
of ghost atoms to their owners and tallies the virial). This is exact when the ghost
shell is at least ``num_layers * r_cut`` deep; :class:`SE3TLammps` refuses thinner shells.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np
import torch

from se3t_calc import keys
from se3t_calc.checkpoint import atomic_save, model_from_dict, model_to_dict
from se3t_calc.derivatives import energy_and_edge_gradients
from se3t_calc.model import SE3TModel
from se3t_calc.pretrained import committee_files
from se3t_calc.runtime import load_for_inference, resolve_dtype

try:  # the base class exists only in a LAMMPS built with ML-IAP and Python
    from lammps.mliap.mliap_unified_abc import MLIAPUnified
except ImportError:  # tested without LAMMPS: the adapter only needs the attributes below

    class MLIAPUnified:  # type: ignore[no-redef]
        """Stand-in for ``lammps.mliap.mliap_unified_abc.MLIAPUnified``."""

        def __init__(self) -> None:
            self.interface = None
            self.element_types: list[str] | None = None
            self.ndescriptors: int | None = None
            self.nparams: int | None = None
            self.rcutfac: float | None = None


class SE3TLammps(MLIAPUnified):
    """A se3t_calc model as a LAMMPS ML-IAP unified model (CPU).

    Parameters
    ----------
    model : str, path-like or SE3TModel
        A shipped model's name, a model file, or a model in memory (copied).
    check_ghosts : bool
        Refuse a ghost shell thinner than ``num_layers * r_cut`` (see :meth:`check_ghost_shell`),
        checked at the first call after loading.
    dtype : {"float64", "float32"}
        Precision of the model's arithmetic. float32 takes about half the memory and time
        of float64; LAMMPS receives float64 arrays either way.
    """

    def __init__(
        self,
        model: str | os.PathLike | SE3TModel,
        *,
        check_ghosts: bool = True,
        dtype: str | torch.dtype = "float64",
    ):
        super().__init__()
        if not isinstance(model, SE3TModel) and committee_files(model) is not None:
            raise ValueError(f"{model} is a committee; LAMMPS runs one model: export one of its member files")
        self._set_model(model, resolve_dtype(dtype))
        self.check_ghosts = check_ghosts
        self._checked = False

    def _set_model(self, model: str | os.PathLike | SE3TModel, dtype: torch.dtype) -> None:
        loaded = load_for_inference(model, device=torch.device("cpu"), dtype=dtype)
        assert isinstance(loaded, SE3TModel)
        self.model, self.dtype = loaded, dtype
        self.element_types = list(loaded.config.species)
        self.rcutfac = 0.5 * loaded.config.r_cut  # LAMMPS pairs atoms closer than 2 * rcutfac
        self.ndescriptors = 1
        self.nparams = 1

    # pickled as plain data (config and weights), rebuilt on loading
    def __getstate__(self) -> dict[str, Any]:
        return {
            "model": model_to_dict(self.model),
            "check_ghosts": self.check_ghosts,
            "dtype": str(self.dtype).removeprefix("torch."),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        MLIAPUnified.__init__(self)
        dtype = resolve_dtype(state.get("dtype", "float64"))  # files from before the option: float64
        self._set_model(model_from_dict(state["model"]), dtype)
        self.check_ghosts = state["check_ghosts"]
        self._checked = False

    def save(self, path: str | os.PathLike) -> None:
        """Write the file that ``pair_style mliap unified`` loads (a pickle), atomically."""
        atomic_save(self, path, dump=pickle.dump)

    def compute_gradients(self, data: Any) -> None:
        """Not used by ``mliap unified`` models."""

    def compute_descriptors(self, data: Any) -> None:
        """Not used by ``mliap unified`` models."""

    def compute_forces(self, data: Any) -> None:
        """Energies of the local atoms and ``dE/dr_ij`` of every pair, handed to LAMMPS.

        Parameters
        ----------
        data : MLIAPDataPy
            ``nlocal``, ``ntotal``, ``elems`` (ntotal,) indices into ``element_types``,
            ``pair_i``, ``pair_j`` (npairs,) and ``rij`` (npairs, 3) Å, ``r_j - r_i``;
            ``iatoms`` lists the atoms of ``eatoms``, the first ``nlistatoms`` of them.
            Receives ``eatoms`` (nlistatoms,) eV, ``energy`` eV and, through
            ``update_pair_forces``, ``dE/dr_ij`` (npairs, 3) eV/Å.
        """
        nlocal, ntotal = int(data.nlocal), int(data.ntotal)
        pair_i, pair_j = np.asarray(data.pair_i, np.int64), np.asarray(data.pair_j, np.int64)
        rij = np.asarray(data.rij, np.float64).reshape(-1, 3)  # the ghost check in float64
        if self.check_ghosts and not self._checked:
            self.check_ghost_shell(nlocal, ntotal, pair_i, pair_j, rij)
            self._checked = True
        graph = {
            keys.POSITIONS: torch.zeros(ntotal, 3, dtype=self.dtype),
            keys.SPECIES: torch.as_tensor(np.asarray(data.elems, np.int64)),
            keys.BATCH: torch.zeros(ntotal, dtype=torch.int64),
            keys.CELL: torch.eye(3, dtype=self.dtype)[None],
            keys.PBC: torch.zeros(1, 3, dtype=torch.bool),
            keys.EDGE_INDEX: torch.as_tensor(np.stack([pair_i, pair_j])),
            keys.EDGE_VECTORS: torch.as_tensor(rij).to(self.dtype),
        }
        out = energy_and_edge_gradients(self.model, graph, num_energy_atoms=nlocal)
        listed = np.asarray(data.iatoms, np.int64)[: int(data.nlistatoms)]  # LAMMPS' order of eatoms
        energies = out[keys.NODE_ENERGY].detach().numpy().astype(np.float64)
        data.eatoms = np.ascontiguousarray(energies[listed])
        data.energy = float(energies[:nlocal].sum())  # summed in float64 also for a float32 model
        data.update_pair_forces(np.ascontiguousarray(out[keys.EDGE_GRADIENT].numpy(), np.float64))

    def check_ghost_shell(
        self, nlocal: int, ntotal: int, pair_i: np.ndarray, pair_j: np.ndarray, rij: np.ndarray
    ) -> None:
        """Refuse ghost atoms that do not reach ``num_layers * r_cut`` beyond the local atoms.

        The local atoms' energies depend on atoms up to ``num_layers`` pairs away. LAMMPS
        does not pass its communication cutoff, so the depth of the ghost shell is
        measured: positions relative to the local atoms are rebuilt along the pairs,
        and along each face normal of the convex hulls of the atoms (and the Cartesian
        axes) the ghost atoms must reach ``num_layers * r_cut`` beyond the outermost
        local atom. Directions where they end within ``r_cut`` are where matter ends (a
        surface, vacuum), as LAMMPS never communicates less than ``r_cut``; they are not
        checked. The depth is measured from atoms to atoms, so it differs from the
        communication cutoff by up to about an interatomic distance either way: a shell
        that misses by less may pass, and one that just meets the need may be refused
        (the advised cutoff, ``num_layers * r_cut`` + a 2 Å skin, passes). A free
        surface between ``r_cut`` and ``num_layers * r_cut`` beyond a rank's local atoms
        is refused although nothing is missing; ``check_ghosts=False`` then.

        Raises
        ------
        ValueError
            No neighbour lists of ghost atoms, or a ghost shell too thin; the message
            names the LAMMPS commands that fix it.
        """
        layers, r_cut = self.model.config.num_layers, self.model.config.r_cut
        needed = layers * r_cut
        fix = (
            f"this model passes messages over {layers} layers of r_cut = {r_cut} Å: use "
            f"'pair_style mliap unified FILE 1' (neighbour lists of ghost atoms) and "
            f"'comm_modify cutoff {needed + 2.0:g}' (>= num_layers * r_cut + skin; {needed:g} + a 2 Å skin)"
        )
        if ntotal == nlocal or layers == 1:
            return
        if not (pair_i >= nlocal).any():
            raise ValueError(f"LAMMPS passed no pairs centred on ghost atoms: {fix}")
        reach = ghost_shell_depth(nlocal, ntotal, pair_i, pair_j, rij, floor=r_cut)
        if reach < needed - 1e-6:
            raise ValueError(
                f"the ghost atoms reach only {reach:.2f} Å beyond the local atoms, less than "
                f"num_layers * r_cut = {needed:g} Å, so the energies would be wrong: {fix}"
            )


def ghost_shell_depth(
    nlocal: int, ntotal: int, pair_i: np.ndarray, pair_j: np.ndarray, rij: np.ndarray, *, floor: float
) -> float:
    """How far (Å) the ghost atoms reach beyond the local atoms in the thinnest direction.

    Positions relative to a local atom are rebuilt along the pairs (``r_ij = r_j - r_i``);
    atoms not connected to a local atom do not matter and are left out. Directions in
    which the ghost atoms reach less than ``floor`` are skipped; ``inf`` if all are.

    Parameters
    ----------
    nlocal, ntotal : int
        Local atoms come first, then ghost atoms.
    pair_i, pair_j : np.ndarray, shape (npairs,)
    rij : np.ndarray, shape (npairs, 3)
        Å.
    floor : float
        Å.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order

    adjacency = coo_matrix((np.arange(1, len(pair_i) + 1), (pair_i, pair_j)), shape=(ntotal, ntotal)).tocsr()
    placed = np.zeros(ntotal, dtype=bool)
    depth = float("inf")
    for root in range(nlocal):  # each group of atoms connected through pairs on its own
        if placed[root]:
            continue
        order, parents = breadth_first_order(adjacency, root, directed=True, return_predecessors=True)
        children = order[1:]
        edges = np.asarray(adjacency[parents[children], children]).ravel() - 1  # pair parent -> child
        positions = np.zeros((ntotal, 3))
        for node, parent, edge in zip(children, parents[children], edges, strict=True):
            positions[node] = positions[parent] + rij[edge]  # a parent comes before its children
        placed[order] = True
        group = positions[order]
        local = positions[order[order < nlocal]]
        depth = min(depth, _depth(group, local, floor))
    return depth


def _depth(group: np.ndarray, local: np.ndarray, floor: float) -> float:
    """Thinnest reach (>= floor) of ``group`` beyond ``local`` along hull normals and axes."""
    from scipy.spatial import ConvexHull, QhullError

    directions = [np.eye(3), -np.eye(3)]
    for points in (group, local):
        try:
            directions.append(ConvexHull(points).equations[:, :3])
        except (QhullError, ValueError):  # too few or flat: the axes and the other hull suffice
            pass
    normals = np.concatenate(directions)
    reach = (group @ normals.T).max(axis=0) - (local @ normals.T).max(axis=0)
    reach = reach[reach >= floor]
    return float(reach.min()) if len(reach) else float("inf")


def export_lammps(
    model: str | os.PathLike | SE3TModel,
    path: str | os.PathLike,
    *,
    check_ghosts: bool = True,
    dtype: str | torch.dtype = "float64",
) -> SE3TLammps:
    """Write the file ``pair_style mliap unified`` loads; returns the adapter (see :class:`SE3TLammps`).

    Raises
    ------
    ValueError
        ``path`` ends in ``.pt``/``.pth``: LAMMPS reads those with ``torch.load``, which
        (PyTorch >= 2.6) refuses pickled Python objects.
    """
    if str(path).endswith((".pt", ".pth")):
        raise ValueError(
            f"{path}: LAMMPS loads .pt/.pth files with torch.load, which refuses pickled Python "
            "objects since PyTorch 2.6; give the file another extension, e.g. .pkl"
        )
    adapter = SE3TLammps(model, check_ghosts=check_ghosts, dtype=dtype)
    adapter.save(path)
    return adapter
