"""Readers, label checks, splits and training-set statistics."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from helpers import DATA

from se3t_calc.train.data import KCAL_MOL, read_structures
from se3t_calc.train.dataset import GraphDataset, random_split
from se3t_calc.train.statistics import fit_atomic_energies, isolated_atom_energies


def _write_frames(path, frames):
    write(path, frames, format="extxyz")
    return path


def _labelled(energy=-1.0, forces=None, n=3, **info):
    atoms = Atoms("H2O", positions=np.eye(3)[:n] * 1.2)
    atoms.info.update(info)
    atoms.calc = SinglePointCalculator(
        atoms, energy=energy, forces=np.zeros((n, 3)) if forces is None else forces
    )
    return atoms


def test_rmd17_npz_is_converted_from_kcal_mol(tmp_path):
    rng = np.random.default_rng(0)
    coords, energies, forces = (
        rng.normal(size=(2, 3, 3)),
        np.array([-100.0, -101.0]),
        rng.normal(size=(2, 3, 3)),
    )
    np.savez(
        tmp_path / "m.npz",
        nuclear_charges=np.array([8, 1, 1], np.uint8),
        coords=coords,
        energies=energies,
        forces=forces,
    )
    got = read_structures(tmp_path / "m.npz")
    assert len(got) == 2 and got[1].atoms.get_chemical_formula() == "H2O"
    assert got[1].energy == pytest.approx(-101.0 * 0.0433641153, rel=1e-8)
    np.testing.assert_allclose(got[0].forces, forces[0] * KCAL_MOL)
    np.testing.assert_allclose(got[0].atoms.positions, coords[0])
    np.savez(tmp_path / "bad.npz", coords=coords)
    with pytest.raises(ValueError, match=r"bad.npz: not an rMD17 file, missing key\(s\)"):
        read_structures(tmp_path / "bad.npz")


def test_user_keys_from_info_and_arrays(tmp_path):
    atoms = Atoms("H2O", positions=np.eye(3))
    atoms.info["REF_energy"] = -3.5
    atoms.arrays["REF_forces"] = np.arange(9.0).reshape(3, 3)
    path = _write_frames(tmp_path / "ref.xyz", [atoms])
    (got,) = read_structures(path, energy_key="REF_energy", forces_key="REF_forces")
    assert got.energy == -3.5
    np.testing.assert_array_equal(got.forces, np.arange(9.0).reshape(3, 3))


def test_stress_voigt_becomes_symmetric_matrix(tmp_path):
    atoms = Atoms("Si2", positions=[[0, 0, 0], [1.3, 1.3, 1.3]], cell=np.eye(3) * 5.4, pbc=True)
    voigt = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) * 1e-3
    atoms.calc = SinglePointCalculator(atoms, energy=-10.0, forces=np.zeros((2, 3)), stress=voigt)
    (got,) = read_structures(_write_frames(tmp_path / "s.xyz", [atoms]))
    np.testing.assert_allclose(got.stress, 1e-3 * np.array([[1, 6, 5], [6, 2, 4], [5, 4, 3]]))


@pytest.mark.parametrize(
    ("frames", "kwargs", "message"),
    [
        ([_labelled(), Atoms("H2", positions=np.eye(2, 3))], {}, r"frame 1: no energy under key 'energy'"),
        ([_labelled()], {"forces_key": "REF_forces"}, r"frame 0: no forces under key 'REF_forces'; found"),
        ([_labelled(), _labelled(energy=np.nan)], {}, r"frame 1: energy is nan"),
        ([_labelled(forces=np.full((3, 3), np.nan))], {}, r"frame 0: non-finite forces"),
        ([_labelled()], {"energy_key": "nope"}, r"frame 0: no energy under key 'nope'"),
        ([_labelled()], {"stress_key": "virial"}, r"frame 0: no stress under key 'virial'"),
    ],
)
def test_bad_labels_name_file_frame_and_problem(tmp_path, frames, kwargs, message):
    path = _write_frames(tmp_path / "bad.xyz", frames)
    with pytest.raises(ValueError, match=f"bad.xyz, {message}"):
        read_structures(path, **kwargs)


def test_forces_of_the_wrong_shape(tmp_path):
    atoms = Atoms("H2O", positions=np.eye(3))
    atoms.info["energy_ref"] = -1.0
    atoms.arrays["f_ref"] = np.zeros((3, 3))
    path = _write_frames(tmp_path / "shape.xyz", [atoms])
    (structure,) = read_structures(path, energy_key="energy_ref", forces_key="f_ref")
    from se3t_calc.train.labels import checked_labels

    with pytest.raises(ValueError, match=r"x, frame 0: forces have shape \(2, 3\), expected \(3, 3\)"):
        checked_labels(structure.atoms, -1.0, np.zeros((2, 3)), None, "x, frame 0")


def test_missing_file_and_unknown_element(tmp_path):
    with pytest.raises(FileNotFoundError, match="data file not found"):
        read_structures(tmp_path / "nothing.xyz")
    (tmp_path / "garbage.xyz").write_text("3\nnot a comment line\nH 0 0\n")
    with pytest.raises(ValueError, match=r"garbage\.xyz: ase\.io\.read cannot read it"):
        read_structures(tmp_path / "garbage.xyz")
    structures = read_structures(DATA / "ethanol_rmd17.xyz")[:2]
    with pytest.raises(
        ValueError, match=r"ethanol_rmd17.xyz, frame 0: element\(s\) \['C', 'O'\] not supported"
    ):
        GraphDataset(structures, ["H"], 4.0)


def test_random_split_sizes_and_disjointness():
    train, valid = random_split(100, [None, 0.1], seed=3)
    assert len(train) == 90 and len(valid) == 10 and not set(train) & set(valid)
    a, b = random_split(1000, [950, 50], seed=0)
    assert len(a) == 950 and len(b) == 50 and set(a) | set(b) == set(range(1000))
    with pytest.raises(ValueError, match="need 1100 structures, the data has 1000"):
        random_split(1000, [1000, 100], seed=0)


def test_atomic_energies_least_squares_and_isolated_atoms(tmp_path):
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 6, size=(40, 3))
    e0 = np.array([-13.6, -1025.3, -2035.6])
    got = fit_atomic_energies(counts, counts @ e0 + 1e-6 * rng.normal(size=40))
    np.testing.assert_allclose(got, e0, atol=1e-5)
    single = np.tile([2, 1, 0], (5, 1))  # one composition: min-norm, but the mean energy is kept
    fitted = fit_atomic_energies(single, np.full(5, -100.0))
    assert single[0] @ fitted == pytest.approx(-100.0)
    singles = []
    for symbol, energy in (("H", -13.5), ("O", -2035.0)):
        atom = Atoms(symbol)
        atom.info["energy"] = energy
        singles.append(atom)
    path = _write_frames(tmp_path / "iso.xyz", singles)
    np.testing.assert_array_equal(isolated_atom_energies(path, ["O", "H"]), [-2035.0, -13.5])
    with pytest.raises(ValueError, match=r"no isolated-atom energy for \['C'\]"):
        isolated_atom_energies(path, ["H", "C"])


def test_npz_arrays_of_different_lengths_are_named(tmp_path):
    np.savez(
        tmp_path / "short.npz",
        nuclear_charges=np.array([8, 1, 1]),
        coords=np.zeros((4, 3, 3)),
        energies=np.zeros(3),
        forces=np.zeros((4, 3, 3)),
    )
    with pytest.raises(
        ValueError, match=r"short.npz: arrays of different lengths \{'coords': 4, 'energies': 3"
    ):
        read_structures(tmp_path / "short.npz")
