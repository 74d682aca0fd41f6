"""ASE calculator: atoms -> graph -> model -> energy, forces, stress."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from se3t_calc.committee import Committee
from se3t_calc.graph import check_atoms, species_indices
from se3t_calc.neighbors import SkinNeighborList
from se3t_calc.padding import EdgeBuckets, atom_arrays, pack_edges
from se3t_calc.runtime import Models, load_for_inference, resolve_device, resolve_dtype
from se3t_calc.tensor_path import COMPILE_MODES, TensorPath, unpack_results


def default_skin(device: torch.device) -> float:
    """Verlet skin (Å) that suits the device: 0 on CPU, 0.5 on CUDA.

    On a CPU the edges a skin adds cost more than the list build they save; on a
    GPU the model is cheap and a rebuild (host list, one more upload, a pause of
    the device) is not, so the list is kept for as long as it is valid.
    """
    return 0.5 if device.type == "cuda" else 0.0


def resolve_compile(compile: bool | str) -> str | None:
    """``compile`` argument -> ``torch.compile`` mode, or None for eager."""
    if compile is False:
        return None
    if compile is True:
        return "default"
    if compile not in COMPILE_MODES:
        raise ValueError(f"compile must be True, False or one of {list(COMPILE_MODES)}, got {compile!r}")
    return compile


class SE3TCalculator(Calculator):
    """ASE calculator for se3t_calc models.

    Parameters
    ----------
    model : str, path-like, SE3TModel, or a sequence of them
        Name of a shipped model or committee (e.g. ``"rmd17-ethanol"``; ``se3t models``
        lists them), a model file written by :func:`se3t_calc.save_model`, a committee
        folder (``member_*.pt``), or a model in memory (copied, so later changes to it
        do not reach the calculator). Several models form a committee: the results are
        the members' means, with their spread (below).
    device : {"auto", "cpu", "cuda"} or torch.device
        ``"auto"`` picks CUDA when available.
    dtype : {"float64", "float32"}
        Precision of the evaluation. float64 for relaxations and tight energy
        conservation, float32 for speed.
    skin : float or None
        Verlet skin in Å. With ``skin > 0`` the neighbour list is rebuilt only when
        an atom has moved more than ``skin / 2``; results do not depend on it.
        None: :func:`default_skin` of the device (0 on CPU, 0.5 on CUDA).
    compile : bool or {"default", "reduce-overhead", "max-autotune"}
        Run the model through ``torch.compile`` (True: mode ``"default"``;
        ``"reduce-overhead"`` replays CUDA graphs). With ``pad_edges`` it compiles
        for the few padded shapes, otherwise with dynamic shapes, so that a changing
        number of neighbours does not recompile. On CPU this made calls 2-3 times
        faster, after a first call of about a minute (compiled kernels are cached on
        disk, so later processes start in seconds). Needs a C++ compiler; off by default.
    pad_edges : bool or None
        Pad the edges into a few size buckets (see :mod:`se3t_calc.padding`) so
        that the model sees few distinct shapes; results are unchanged. None: on
        CUDA, where compiled kernels and CUDA graphs are made per shape; off on CPU,
        where the padding edges would only cost time.
    **kwargs
        Passed to :class:`ase.calculators.calculator.Calculator`.

    Notes
    -----
    One calculator may serve several threads: a lock lets one call at a time compute
    and read its results (the calls run one after another; for parallel work give each
    thread its own calculator).

    Results are float64 numpy arrays: energy in eV, forces in eV/Å, stress in
    eV/Å^3 (Voigt order xx, yy, zz, yz, xz, xy; 3-D periodic cells only), and
    per-atom ``energies`` in eV. The stress is computed once it has been asked
    for, from then on at every call.

    A committee adds ``energy_std`` (eV) and ``forces_std`` ((N, 3), eV/Å), the
    standard deviations over members (``ddof=1``), ``stress_std`` with the stress,
    and each member's ``member_energy`` (M,), ``member_forces`` (M, N, 3) and
    ``member_stress`` (M, 6).
    """

    # a plain list, as ASE declares it
    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]  # noqa: RUF012

    def __init__(
        self,
        model: Models,
        *,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "float64",
        skin: float | None = None,
        compile: bool | str = False,
        pad_edges: bool | None = None,
        **kwargs: Any,
    ):
        if skin is not None:
            skin = _checked_skin(skin)  # before the model is loaded
        super().__init__(**kwargs)
        # held from the check of the state to the read of the results; re-entrant, as
        # get_property calls calculate
        self._lock = threading.RLock()
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        mode = resolve_compile(compile)
        model = load_for_inference(model, device=self.device, dtype=self.dtype)
        self.model = model
        self.num_members = len(model.members) if isinstance(model, Committee) else 0
        self.species = model.config.species
        self.skin = default_skin(self.device) if skin is None else skin
        self.pad_edges = self.device.type == "cuda" if pad_edges is None else pad_edges
        self.neighbors = SkinNeighborList(model.config.r_cut, self.skin)
        self.buckets = EdgeBuckets()
        self.tensor_path = TensorPath(
            model, device=self.device, dtype=self.dtype, compile_mode=mode, static_shapes=self.pad_edges
        )
        self._stress = False
        self._loaded: dict[str, np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        """For copy and pickle: all but the lock (which cannot be copied; a copy gets its own)."""
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def get_property(self, name: str, atoms: Atoms | None = None, allow_calculation: bool = True) -> Any:
        """As :meth:`ase.calculators.calculator.Calculator.get_property`, one thread at a time."""
        with self._lock:
            return super().get_property(name, atoms, allow_calculation)

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: list[str] | None = None,
        system_changes: list[str] = all_changes,
    ) -> None:
        """Compute energy, forces, per-atom energies and, once asked for, the stress."""
        with self._lock:
            self._calculate(atoms, properties or ["energy"], system_changes)

    def _calculate(self, atoms: Atoms | None, properties: list[str], system_changes: list[str]) -> None:
        super().calculate(atoms, properties, system_changes)
        periodic = bool(self.atoms.pbc.all())
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError(
                "stress is defined only for 3-D periodic cells (atoms.pbc all True); "
                f"this structure has pbc={self.atoms.pbc.tolist()}"
            )
        self._stress = self._stress or "stress" in properties
        stress = self._stress and periodic
        packed = self.evaluate(self.atoms, stress=stress)
        self.results = unpack_results(
            packed.numpy(), len(self.atoms), stress=stress, members=self.num_members
        )
        _check_finite(self.results)

    def evaluate(self, atoms: Atoms, *, stress: bool) -> torch.Tensor:
        """Results of ``atoms`` as one float64 vector on the host (see :func:`unpack_results`).

        The neighbour list is built on the host; everything after the uploads runs
        on the device, and only the packed result comes back.
        """
        self.load(atoms)
        return self.tensor_path.evaluate(num_atoms=len(atoms), stress=stress)

    def load(self, atoms: Atoms) -> None:
        """Check ``atoms``, update the neighbour list and upload what changed."""
        check_atoms(atoms)
        species = species_indices(atoms.numbers, self.species)  # fails before any list is built
        pairs, rebuilt = self.neighbors.update(atoms.positions, atoms.cell.array, atoms.pbc, atoms.numbers)
        pad_cutoff = self.model.config.r_cut if self.pad_edges else None
        self._load_structure(atoms, species, pad_cutoff)
        if rebuilt:  # always on the first call
            capacity = self.buckets.fit(len(pairs[0])) if self.pad_edges else None
            self.tensor_path.load_edges(pack_edges(pairs, len(atoms), capacity))
        self.tensor_path.load_positions(atoms.positions)

    def _load_structure(self, atoms: Atoms, species: np.ndarray, pad_cutoff: float | None) -> None:
        """Upload species, batch and cell when they differ from those on the device."""
        cell = atoms.cell.array
        new_atoms = not _same(self._loaded.get("species"), species)
        if not new_atoms and _same(self._loaded.get("cell"), cell):
            return
        species_padded, batch, cells = atom_arrays(species, cell, pad_cutoff=pad_cutoff)
        if new_atoms:
            self.tensor_path.load_atoms(species_padded, batch)
        self.tensor_path.load_cell(cells)
        self._loaded = {"species": species.copy(), "cell": cell.copy()}


def _checked_skin(skin: float) -> float:
    """``skin`` as a float, refused unless finite and >= 0."""
    try:
        value = float(skin)
    except (TypeError, ValueError):
        raise ValueError(f"skin must be a number of Å (>= 0) or None, got {skin!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(
            f"skin must be a finite number of Å >= 0 (e.g. 0.5, or 0 for no skin), or None for the "
            f"device's default; got {skin!r}"
        )
    return value


def _same(a: np.ndarray | None, b: np.ndarray) -> bool:
    return a is not None and a.shape == b.shape and bool(np.array_equal(a, b))


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
