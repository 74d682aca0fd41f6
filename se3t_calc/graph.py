"""ase.Atoms -> validated graph tensors on a device and dtype."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols

from se3t_calc import keys
from se3t_calc.neighbors import check_cell, neighbor_list


def species_indices(numbers: np.ndarray, species: Sequence[str]) -> np.ndarray:
    """Map atomic numbers to indices into ``species``.

    Raises
    ------
    ValueError
        If an element is not among ``species``.
    """
    table = np.full(len(chemical_symbols), -1, dtype=np.int64)
    for k, symbol in enumerate(species):
        table[atomic_numbers[symbol]] = k
    index = table[numbers]
    if (index < 0).any():
        unknown = sorted({chemical_symbols[z] for z in numbers[index < 0]})
        raise ValueError(f"element(s) {unknown} not supported by this model, which knows {list(species)}")
    return index


def check_atoms(atoms: Atoms) -> None:
    """Refuse structures the model cannot evaluate, naming the problem.

    Raises
    ------
    ValueError
        Empty structure, non-finite positions or cell, two atoms at one position,
        periodic cell vectors that are zero or (nearly) linearly dependent (in 1-D, 2-D
        and 3-D periodic cells), or a 3-D periodic cell denser than any matter.
    """
    if len(atoms) == 0:
        raise ValueError("empty structure: the Atoms object has no atoms")
    if not np.isfinite(atoms.positions).all():
        bad = np.unique(np.nonzero(~np.isfinite(atoms.positions))[0])
        raise ValueError(f"non-finite (NaN or inf) positions for atom(s) {bad.tolist()[:10]}")
    _check_coincident(atoms.positions)
    cell = atoms.cell.array
    if not np.isfinite(cell).all():
        raise ValueError("non-finite (NaN or inf) cell")
    check_cell(cell, atoms.pbc)
    if atoms.pbc.all():
        _check_density(len(atoms), abs(float(np.linalg.det(cell))))


# atoms per Å^3 refused in a 3-D periodic cell: ~6 times the densest elemental solids (diamond 0.18)
MAX_DENSITY = 1.0


def _check_density(num_atoms: int, volume: float) -> None:
    """Refuse a periodic cell far denser than any matter: a cell too small or not in Å, whose
    neighbour list would exhaust the memory (it grows as the square of the density)."""
    if num_atoms > MAX_DENSITY * volume:
        raise ValueError(
            f"{num_atoms} atoms in a periodic cell of {volume:.4g} Å^3 is {num_atoms / volume:.3g} atoms "
            f"per Å^3, more than {MAX_DENSITY:g} (solids hold about 0.05-0.2): check that the cell is "
            "in Å and holds these atoms (e.g. a repeated structure in its unrepeated cell)"
        )


def _check_coincident(positions: np.ndarray) -> None:
    """Refuse atoms at exactly one position (an atom added twice): a distance of 0 has no energy."""
    if len(positions) < 2:
        return
    _, first, counts = np.unique(positions, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        point = positions[first[counts > 1][0]]
        same = np.nonzero((positions == point).all(axis=1))[0]
        raise ValueError(
            f"atoms {same.tolist()[:10]} are at the same position {np.round(point, 6).tolist()} Å; "
            "remove the duplicate atoms"
        )


def atoms_to_graph(
    atoms: Atoms | Sequence[Atoms],
    species: Sequence[str],
    cutoff: float,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
) -> dict[str, torch.Tensor]:
    """Build one graph (a batch) from one or several structures.

    Parameters
    ----------
    atoms : ase.Atoms or sequence of ase.Atoms
    species : sequence of str
        The model's species.
    cutoff : float
        Neighbour cutoff in Å.
    device : torch.device or str
        Where the tensors live.
    dtype : torch.dtype, optional
        Float type of positions, cell and shifts; it must be the model's. Default:
        ``torch.get_default_dtype()`` (float32 unless changed), the dtype in which
        models are built and in which the shipped models are stored, so that a model
        from ``load_model(name)`` or ``SE3TModel(config)`` takes the graph as it is.
        Pass ``torch.float64`` for a float64 model (``load_model(name, dtype=torch.float64)``).

    Returns
    -------
    dict of str to torch.Tensor
        See :mod:`se3t_calc.keys`; with ``atomic_numbers`` and ``cutoff``, by which a model
        refuses a graph built with another species order or a shorter cutoff than its own.
    """
    structures = [atoms] if isinstance(atoms, Atoms) else list(atoms)
    if not structures:
        raise ValueError("no structures given")
    parts = []
    for a in structures:
        check_atoms(a)
        idx = species_indices(a.numbers, species)
        pairs = neighbor_list(a.positions, a.cell.array, a.pbc, cutoff)
        parts.append(structure_arrays(a, idx, pairs))
    dtype = torch.get_default_dtype() if dtype is None else dtype
    graph = to_tensors(concatenate(parts), device=device, dtype=dtype)
    numbers = np.concatenate([a.numbers for a in structures]).astype(np.int64)
    graph[keys.ATOMIC_NUMBERS] = torch.as_tensor(numbers, device=device)
    graph[keys.CUTOFF] = torch.tensor(float(cutoff), dtype=dtype, device=device)
    return graph


def structure_arrays(
    atoms: Atoms, species: np.ndarray, pairs: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> dict[str, np.ndarray]:
    """Numpy arrays of one structure in the graph layout (batch index 0)."""
    i, j, shifts = pairs
    return {
        keys.POSITIONS: atoms.positions,
        keys.SPECIES: species,
        keys.BATCH: np.zeros(len(atoms), dtype=np.int64),
        keys.CELL: atoms.cell.array[None],
        keys.PBC: atoms.pbc[None],
        keys.EDGE_INDEX: np.stack([i, j]),
        keys.CELL_SHIFTS: shifts,
    }


def concatenate(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Join single-structure arrays into one batch, offsetting atom and structure indices."""
    atom_offsets = np.cumsum([0] + [len(p[keys.SPECIES]) for p in parts[:-1]])
    graph_offsets = np.cumsum([0] + [len(p[keys.CELL]) for p in parts[:-1]])
    return {
        keys.POSITIONS: np.concatenate([p[keys.POSITIONS] for p in parts]),
        keys.SPECIES: np.concatenate([p[keys.SPECIES] for p in parts]),
        keys.BATCH: np.concatenate([p[keys.BATCH] + g for p, g in zip(parts, graph_offsets, strict=True)]),
        keys.CELL: np.concatenate([p[keys.CELL] for p in parts]),
        keys.PBC: np.concatenate([p[keys.PBC] for p in parts]),
        keys.EDGE_INDEX: np.concatenate(
            [p[keys.EDGE_INDEX] + o for p, o in zip(parts, atom_offsets, strict=True)], axis=1
        ),
        keys.CELL_SHIFTS: np.concatenate([p[keys.CELL_SHIFTS] for p in parts]),
    }


_FLOAT_KEYS = (keys.POSITIONS, keys.CELL, keys.CELL_SHIFTS)


def to_tensors(
    arrays: dict[str, np.ndarray], *, device: torch.device | str, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """Move graph arrays to torch: float fields in ``dtype``, indices as int64."""
    out = {}
    for key, value in arrays.items():
        tensor = torch.as_tensor(np.ascontiguousarray(value))
        out[key] = tensor.to(device=device, dtype=dtype if key in _FLOAT_KEYS else tensor.dtype)
    return out
