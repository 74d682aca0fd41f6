"""Benchmark structures: rMD17 aspirin and periodic liquid-water boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import molecule
from ase.io import read

ROOT = Path(__file__).resolve().parents[1]


def aspirin() -> Atoms:
    """Aspirin (21 atoms), first frame of the rMD17 test split."""
    return read(ROOT / "examples" / "structures" / "aspirin.xyz")


def water_box(n_per_side: int, seed: int = 0) -> Atoms:
    """``n_per_side**3`` randomly oriented water molecules on a cubic grid at 1 g/cm^3.

    ``n_per_side=4`` gives 192 atoms, ``8`` gives 1536, ``16`` gives 12 288.
    """
    rng = np.random.default_rng(seed)
    spacing = (18.015 / 0.6022 / 1.0) ** (1 / 3)  # Å per molecule at 1 g/cm^3
    water = molecule("H2O")
    water.positions -= water.get_center_of_mass()
    boxes = []
    for ix in range(n_per_side):
        for iy in range(n_per_side):
            for iz in range(n_per_side):
                w = water.copy()
                w.rotate(rng.uniform(0, 360), rng.normal(size=3))
                w.positions += (np.array([ix, iy, iz]) + 0.5) * spacing
                boxes.append(w)
    box = boxes[0]
    for w in boxes[1:]:
        box += w
    box.cell = np.eye(3) * spacing * n_per_side
    box.pbc = True
    return box


SYSTEMS = {
    "aspirin": aspirin,
    "water-192": lambda: water_box(4),
    "water-1536": lambda: water_box(8),
    "water-12288": lambda: water_box(16),
}
