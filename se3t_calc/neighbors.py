"""Neighbour lists (vesin) with an optional Verlet skin for MD."""

from __future__ import annotations

import numpy as np

# vesin (0.3-0.6) dies with SIGFPE once atoms span ~1e5 cutoffs along a non-periodic direction
MAX_SPAN_CUTOFFS = 1e4
# a molecular structure that large, of at most this many atoms, is listed by all N^2 distances
MAX_PAIRWISE = 1000
# periodic cell vectors spanning less than this fraction of the area (2-D) or volume (3-D) of
# orthogonal vectors of their lengths are (nearly) linearly dependent: vesin dies with SIGFPE
# on collinear ones and searches for minutes over the images of nearly collinear ones
MIN_CELL_SHAPE = 1e-6
# most periodic images the cutoff sphere may reach (a 1-atom cell 0.7 Å thick with a 20 Å cutoff
# reaches ~2e5); for two atoms vesin took 0.1 s for 1e6 images, 8 s for 1e8, and for ~1e20 it
# returned, at once, too few pairs
MAX_IMAGES = 1e6


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
        span, axis = _extent(positions, pbc)
        if span > MAX_SPAN_CUTOFFS * cutoff:
            if not pbc.any() and len(positions) <= MAX_PAIRWISE:
                return _all_pairs(positions, cutoff)  # vesin cannot; a few molecules far apart can be
            _refuse_span(positions, span, axis, cutoff)
    check_cell(cell, pbc)
    _check_images(cell, pbc, cutoff)
    box = np.where(pbc[:, None], cell, 0.0) if pbc.any() else np.zeros((3, 3))
    import vesin  # on use: vesin loads PyTorch, which the command's parser does not need

    calculator = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    i, j, shifts = calculator.compute(
        np.ascontiguousarray(positions, dtype=np.float64), box, pbc.tolist(), quantities="ijS"
    )
    return i.astype(np.int64), j.astype(np.int64), shifts.astype(np.int64)


def _extent(positions: np.ndarray, pbc: np.ndarray) -> tuple[float, int]:
    """The largest extent of the atoms along a non-periodic axis, Å, and that axis."""
    span = np.where(pbc, 0.0, np.ptp(positions, axis=0))
    axis = int(np.argmax(span))
    return float(span[axis]), axis


def _all_pairs(positions: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`neighbor_list` of a non-periodic structure by all N^2 distances."""
    distance = np.linalg.norm(positions[None, :] - positions[:, None], axis=-1)
    i, j = np.nonzero((distance < cutoff) & ~np.eye(len(positions), dtype=bool))
    return i.astype(np.int64), j.astype(np.int64), np.zeros((len(i), 3), dtype=np.int64)


def _refuse_span(positions: np.ndarray, span: float, axis: int, cutoff: float) -> None:
    """Refuse a structure far larger than the cutoff along a non-periodic axis (an atom flew away)."""
    far = int(np.argmax(np.abs(positions[:, axis] - np.median(positions[:, axis]))))
    raise ValueError(
        f"atoms span {span:.3g} Å along {'xyz'[axis]}, more than {MAX_SPAN_CUTOFFS:.0e} times "
        f"the cutoff ({cutoff:.3g} Å); atom {far} is at {positions[far].tolist()}: it has left the "
        "structure (in MD: a blow-up; reduce the time step or check the model)"
    )


def check_cell(cell: np.ndarray, pbc: np.ndarray) -> None:
    """Refuse periodic cell vectors that are zero or (nearly) linearly dependent.

    Parameters
    ----------
    cell : np.ndarray, shape (3, 3)
        Lattice vectors as rows, Å.
    pbc : np.ndarray, shape (3,)
        Periodic directions; the vectors of the others are not checked.

    Raises
    ------
    ValueError
        Naming the vectors and the area or volume they span.
    """
    axes = np.nonzero(np.asarray(pbc, dtype=bool))[0]
    vectors = np.asarray(cell, dtype=np.float64)[axes]
    lengths = np.linalg.norm(vectors, axis=1)
    for axis, length in zip(axes, lengths, strict=True):
        if length < 1e-8:
            raise ValueError(f"periodic along axis {axis} but cell vector {axis} is zero")
    if len(axes) < 2:
        return
    span = _span(vectors)
    if span < MIN_CELL_SHAPE * lengths.prod():
        measure = "an area" if len(axes) == 2 else "a volume"
        raise ValueError(
            f"periodic cell vectors {axes.tolist()} are (nearly) linearly dependent: of lengths "
            f"{np.round(lengths, 6).tolist()} Å, they span {measure} of {span:.3g} Å^{len(axes)}; "
            "give independent cell vectors, or set pbc to False along the directions that are "
            "not periodic"
        )


def _span(vectors: np.ndarray) -> float:
    """Length, area or volume of the parallelotope of ``vectors`` (k, 3), Å^k."""
    return float(np.prod(np.linalg.svd(vectors, compute_uv=False)))


def _cell_heights(cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """Thickness of the periodic cell across each of its vectors, within the periodic directions.

    Parameters
    ----------
    cell : np.ndarray, shape (3, 3)
        Lattice vectors as rows, Å; the periodic ones checked by :func:`check_cell`.
    pbc : np.ndarray, shape (3,)

    Returns
    -------
    np.ndarray, shape (k,)
        For each of the k periodic vectors, the distance between neighbouring lattice
        lines (1-D: the vector's length), rows (2-D) or planes (3-D) across it, Å.
    """
    vectors = np.asarray(cell, dtype=np.float64)[np.asarray(pbc, dtype=bool)]
    span = _span(vectors)
    return np.array([span / _span(np.delete(vectors, k, axis=0)) for k in range(len(vectors))])


def _check_images(cell: np.ndarray, pbc: np.ndarray, cutoff: float) -> None:
    """Refuse a cell so thin that the cutoff sphere reaches more than ``MAX_IMAGES`` images of it."""
    if not np.any(pbc):
        return
    heights = _cell_heights(cell, pbc)
    layers = np.ceil(cutoff / heights)
    images = float(np.prod(2 * layers + 1))
    if images > MAX_IMAGES:
        k = int(np.argmin(heights))
        axis = int(np.nonzero(pbc)[0][k])
        raise ValueError(
            f"periodic cell too thin for the cutoff: {heights[k]:.3g} Å across cell vector {axis}, so "
            f"the cutoff ({cutoff:g} Å) reaches {layers[k]:.0f} cells across it and {images:.1e} "
            f"periodic images in all (at most {MAX_IMAGES:.0e}): the cell is (nearly) flat or far "
            "smaller than any real one; check the cell vectors (nearly linearly dependent?)"
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
        if not (np.isfinite(skin) and skin >= 0):
            raise ValueError(f"skin must be a finite number of Å >= 0, got {skin}")
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
