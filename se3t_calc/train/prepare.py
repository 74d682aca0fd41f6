"""Read the data of a run, split it and compute the statistics stored in the model."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols

from se3t_calc.train.config import TrainConfig
from se3t_calc.train.data import read_structures
from se3t_calc.train.dataset import GraphDataset, random_split
from se3t_calc.train.labels import LabeledStructure
from se3t_calc.train.statistics import (
    average_num_neighbors,
    energy_scale_shift,
    fit_atomic_energies,
    isolated_atom_energies,
    repulsion_onset,
    shift_per_coordination,
    shortest_pair_distances,
)


@dataclass
class Prepared:
    """Datasets, split indices and training-set statistics of a run."""

    species: tuple[str, ...]
    train: GraphDataset
    train_idx: np.ndarray
    valid: GraphDataset
    valid_idx: np.ndarray
    test: GraphDataset | None
    atomic_energies: np.ndarray  # (K,) eV
    scale: float  # eV/Å, RMS force component
    shift: float  # eV, mean per-atom energy after E0
    avg_num_neighbors: float
    shift_per_coordination: float  # eV per unit of summed cutoff envelope (isolated-atom limit)
    repulsion_onset: np.ndarray  # (K, K) Å, shortest distance of each species pair
    e0_note: str = ""  # how E0 was obtained, with a warning when it is undetermined

    def split(self) -> dict[str, list[int]]:
        """Indices of the split, stored in checkpoints so that a resumed run reuses them."""
        return {"train": self.train_idx.tolist(), "valid": self.valid_idx.tolist()}

    def describe(self) -> str:
        """Sizes and statistics, one line each."""
        e0 = ", ".join(f"{s} {e:.4f}" for s, e in zip(self.species, self.atomic_energies, strict=True))
        test = 0 if self.test is None else len(self.test)
        return (
            f"data: {len(self.train_idx)} train, {len(self.valid_idx)} validation, {test} test structures\n"
            f"E0 (eV): {e0} ({self.e0_note})\n"
            f"scale {self.scale:.4f} eV/Å, shift {self.shift:.5f} eV/atom, "
            f"{self.avg_num_neighbors:.2f} neighbours per atom\n"
            f"shortest distances (ZBL repulsion off beyond them, Å): {self._pairs()}"
        )

    def _pairs(self) -> str:
        k = len(self.species)
        return ", ".join(
            f"{self.species[a]}-{self.species[b]} {self.repulsion_onset[a, b]:.3f}"
            for a in range(k)
            for b in range(a, k)
        )


def prepare(
    config: TrainConfig,
    species: Sequence[str] | None,
    cutoff: float,
    split: dict[str, list[int]] | None = None,
) -> Prepared:
    """Read files, split (by seed, or as given by ``split``), build graphs, compute statistics.

    Parameters
    ----------
    config : TrainConfig
    species : sequence of str, optional
        The model's species; default all elements in the data, by atomic number.
    cutoff : float
        The model's cutoff radius, Å.
    split : dict, optional
        ``{"train": [...], "valid": [...]}`` indices from a checkpoint.
    """
    if not config.train_file:
        raise ValueError("no training data: set train_file (--train-file)")
    _check_held_out(config)
    read = structure_reader(config)
    pool = read(config.train_file)
    held = read(config.valid_file) if config.valid_file else None
    test = read(config.test_file) if config.test_file else None
    if not config.init_from:  # a fine-tuned model knows the elements of its own training
        _check_learnable(config, pool, {"--valid-file": held, "--test-file": test})
    if species and not config.init_from:
        _check_species_trained(config, species, pool)
    species = tuple(species) if species else _elements(pool + (held or []) + (test or []))
    train_idx, valid_idx = _split(config, len(pool), held is not None, split)
    train = GraphDataset(pool, species, cutoff)
    valid = train if held is None else GraphDataset(held, species, cutoff)
    if held is not None and split is None:
        valid_idx = np.arange(len(held))
    fit = train.subset(train_idx)
    if config.atomic_energies == "fit":
        e0 = fit_atomic_energies(fit.counts, fit.energies)
        note = _fit_note(fit.counts)
    else:
        e0 = isolated_atom_energies(config.atomic_energies, species, energy_key=config.energy_key)
        note = f"isolated atoms, {config.atomic_energies}"
    scale, shift = energy_scale_shift(fit, e0)
    return Prepared(
        species=species,
        train=train,
        train_idx=train_idx,
        valid=valid,
        valid_idx=valid_idx,
        test=None if test is None else GraphDataset(test, species, cutoff),
        atomic_energies=e0,
        scale=scale,
        shift=shift,
        avg_num_neighbors=average_num_neighbors(fit),
        shift_per_coordination=shift_per_coordination(fit, e0, cutoff),
        repulsion_onset=repulsion_onset(shortest_pair_distances(train, len(species)), species),
        e0_note=note,
    )


def _fit_note(counts: np.ndarray) -> str:
    """Describe a least-squares E0, warning when the compositions do not determine it."""
    rank = int(np.linalg.matrix_rank(counts.astype(np.float64)))
    if rank >= counts.shape[1]:
        return "least squares on the training energies"
    return (
        f"least squares, but the training compositions determine only {rank} of {counts.shape[1]} "
        "per-element energies: the split between elements (and so atomisation energies) is "
        "arbitrary; give isolated-atom energies with --atomic-energies FILE"
    )


def structure_reader(config: TrainConfig) -> Callable[[str], list[LabeledStructure]]:
    """``read(path)`` with the data keys of ``config``."""

    def read(path: str) -> list[LabeledStructure]:
        return read_structures(
            path, energy_key=config.energy_key, forces_key=config.forces_key, stress_key=config.stress_key
        )

    return read


def _check_held_out(config: TrainConfig) -> None:
    """Refuse a validation file that is the training file: the best model would be picked, and
    training stopped, by errors on structures it is fitted to."""
    valid, train = config.valid_file, config.train_file
    if valid and Path(valid).is_file() and Path(train).is_file() and os.path.samefile(valid, train):
        raise ValueError(
            f"--valid-file {valid} is the --train-file: the best model would be chosen by errors on "
            "structures it is fitted to; give a --valid-file of other structures, or leave it out to "
            "hold out --valid-size structures of the training file"
        )


def _check_learnable(
    config: TrainConfig, pool: Sequence[LabeledStructure], others: dict[str, list[LabeledStructure] | None]
) -> None:
    """Refuse validation or test data with elements that no training structure has."""
    known = set(_elements(pool))
    for flag, structures in others.items():
        unseen = [e for e in _elements(structures or []) if e not in known]
        if unseen:
            path = config.valid_file if flag == "--valid-file" else config.test_file
            raise ValueError(
                f"{flag} {path} holds {unseen}, which no structure of the training data "
                f"{config.train_file} has: the model cannot learn them; add structures with them "
                f"to the training data, or use a {flag} without them"
            )


def _check_species_trained(
    config: TrainConfig, species: Sequence[str], pool: Sequence[LabeledStructure]
) -> None:
    """Refuse ``--species`` that no training structure has: the model would give those atoms
    untrained energies (E0 of 0 eV) and use them without a word."""
    untrained = [s for s in species if s not in _elements(pool)]
    if untrained:
        raise ValueError(
            f"--species lists {untrained}, which no structure of the training data {config.train_file} "
            "has: a model would give those atoms untrained energies; remove them from --species, or "
            "add structures with them to the training data"
        )


def _elements(structures: Sequence[LabeledStructure]) -> tuple[str, ...]:
    numbers = sorted({int(z) for s in structures for z in s.atoms.numbers})
    return tuple(chemical_symbols[z] for z in numbers)


def _split(
    config: TrainConfig, num: int, has_valid_file: bool, split: dict[str, list[int]] | None
) -> tuple[np.ndarray, np.ndarray]:
    if split is not None:
        return np.asarray(split["train"]), np.asarray(split["valid"])
    sizes = [config.train_size] if has_valid_file else [config.train_size, config.valid_size]
    try:
        parts = random_split(num, sizes, config.seed if config.split_seed is None else config.split_seed)
    except ValueError as err:
        raise ValueError(
            f"{config.train_file} has {num} structures: {err}; lower --train-size (or leave it "
            "unset to fit all structures not held out) or --valid-size"
        ) from None
    train_idx = parts[0]
    valid_idx = np.zeros(0, dtype=np.int64) if has_valid_file else parts[1]
    if not has_valid_file and len(valid_idx) == 0:
        raise ValueError(
            f"valid_size={config.valid_size} of the {num} structures of {config.train_file} is no "
            "structure: training needs at least one validation structure; give --valid-size as a "
            "count (e.g. --valid-size 1) or a --valid-file"
        )
    if len(train_idx) == 0:
        raise ValueError(f"no structures of {config.train_file} left to fit; lower --valid-size")
    return train_idx, valid_idx
