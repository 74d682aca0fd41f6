"""Neighbour lists (vesin) with an optional Verlet skin for MD."""

from __future__ import annotations

import numpy as np
import vesin

# vesin (0.3-0.6) dies with SIGFPE once atoms span ~1e5 cutoffs along a non-periodic direction
MAX_SPAN_CUTOFFS = 1e4


def neighbor_list(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full neighbour list of one structure.

    Parameters
    ----------
    positions : np.ndarray, shape (N, 3)
        Cartesian positions, Å.
    cell : np.ndarray, shape (3, 3)
        Lattice vectors as rows, Å (ignored along non-periodic directions).
    pbc : np.ndarray, shape (3,)
        Periodic directions.
    cutoff : float
        Cutoff radius, Å.

    Returns
    -------
    i, j : np.ndarray, shape (E,)
        Centre and neighbour of every pair within ``cutoff`` (both directions).
    shifts : np.ndarray, shape (E, 3)
        Integer lattice shifts ``S`` with ``r_ij = r_j - r_i + S @ cell``.
    """
    pbc = np.asarray(pbc, dtype=bool)
    if not pbc.all():
        _check_span(positions, pbc, cutoff)
    box = np.where(pbc[:, None], cell, 0.0) if pbc.any() else np.zeros((3, 3))
    calculator = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    i, j, shifts = calculator.compute(
        np.ascontiguousarray(positions, dtype=np.float64), box, pbc.tolist(), quantities="ijS"
    )
    return i.astype(np.int64), j.astype(np.int64), shifts.astype(np.int64)


def _check_span(positions: np.ndarray, pbc: np.ndarray, cutoff: float) -> None:
    """Refuse structures far larger than the cutoff along a non-periodic axis (an atom flew away)."""
    span = np.where(pbc, 0.0, np.ptp(positions, axis=0))
    axis = int(np.argmax(span))
    if span[axis] > MAX_SPAN_CUTOFFS * cutoff:
        far = int(np.argmax(np.abs(positions[:, axis] - np.median(positions[:, axis]))))
        raise ValueError(
            f"atoms span {span[axis]:.3g} Å along {'xyz'[axis]}, more than {MAX_SPAN_CUTOFFS:.0e} times "
            f"the cutoff ({cutoff} Å); atom {far} is at {positions[far].tolist()}: it has left the "
            "structure (in MD: a blow-up; reduce the time step or check the model)"
        )


class SkinNeighborList:
    """Verlet list: built with ``cutoff + skin`` and reused while no atom has moved
    more than ``skin / 2`` and numbers, cell and periodicity are unchanged.

    Pairs beyond ``cutoff`` carry exactly zero weight in the model, so results do
    not depend on the skin. With ``skin = 0`` the list is rebuilt at every call.

    Parameters
    ----------
    cutoff : float
        Model cutoff, Å.
    skin : float
        Extra shell, Å.
    """

    def __init__(self, cutoff: float, skin: float = 0.0):
        if skin < 0:
            raise ValueError(f"skin must be >= 0 Å, got {skin}")
        self.cutoff = cutoff
        self.skin = skin
        self._reference: tuple[np.ndarray, ...] | None = None
        self._pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.num_builds = 0

    def update(
        self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, numbers: np.ndarray
    ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], bool]:
        """Return ``(i, j, shifts)`` and whether the list was rebuilt."""
        if self._pairs is not None and not self._needs_rebuild(positions, cell, pbc, numbers):
            return self._pairs, False
        self._pairs = neighbor_list(positions, cell, pbc, self.cutoff + self.skin)
        self._reference = (positions.copy(), cell.copy(), pbc.copy(), numbers.copy())
        self.num_builds += 1
        return self._pairs, True

    def _needs_rebuild(
        self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, numbers: np.ndarray
    ) -> bool:
        assert self._reference is not None
        ref_pos, ref_cell, ref_pbc, ref_numbers = self._reference
        if self.skin == 0 or positions.shape != ref_pos.shape:
            return True
        if not (np.array_equal(numbers, ref_numbers) and np.array_equal(pbc, ref_pbc)):
            return True
        if not np.array_equal(cell, ref_cell):
            return True
        displacement = np.sqrt(((positions - ref_pos) ** 2).sum(-1).max())
        return bool(displacement > 0.5 * self.skin)
