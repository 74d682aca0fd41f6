"""Reading the one structure a simulation starts from (no labels needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read

from se3t_calc.train.mlearn import read_mlearn


def read_structure(path: str | os.PathLike, index: int = 0) -> Atoms:
    """One structure, without labels, from an rMD17 ``.npz``, an mlearn ``.json`` or any file
    ``ase.io.read`` reads.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file cannot be read; the message names it and the accepted formats.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a structure file: give the file inside it")
    if not path.is_file():
        raise FileNotFoundError(f"structure file not found: {path}")
    if path.suffix == ".npz":
        with np.load(path) as npz:
            if not {"nuclear_charges", "coords"} <= set(npz.files):
                raise ValueError(f"{path}: an .npz needs rMD17's nuclear_charges and coords; has {npz.files}")
            return Atoms(numbers=npz["nuclear_charges"].astype(int), positions=npz["coords"][index])
    if path.suffix == ".json":
        return read_mlearn(path)[index].atoms
    try:
        atoms = read(path, index=index)
    except Exception as err:  # ase raises many types for unreadable files
        raise ValueError(
            f"{path}: cannot read it ({type(err).__name__}: {err}); structures are read from rMD17 "
            ".npz files and any format ase.io.read knows (extxyz, xyz, traj, cif, pdb, POSCAR, ...)"
        ) from err
    assert isinstance(atoms, Atoms)
    return atoms
