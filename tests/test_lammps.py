"""LAMMPS ML-IAP adapter, without LAMMPS: data as LAMMPS hands it over, built by hand.

A rank owns the atoms of its sub-domain (local atoms) and holds copies of the atoms
(periodic images, or atoms of other ranks) within the communication cutoff of it
(ghost atoms), with the pairs closer than r_cut among all of them and ``r_ij = r_j - r_i``.
LAMMPS adds ``dE/dr_ij`` to atom i and subtracts it from atom j, sends the forces of
ghost atoms back to their owners, and tallies the virial ``sum r_ij (x) dE/dr_ij``.
"""

import pickle

import numpy as np
import pytest
import torch
from ase.build import bulk
from helpers import calc, small_model
from scipy.spatial import cKDTree

from se3t_calc.cli import main
from se3t_calc.integrations.lammps import SE3TLammps, export_lammps


class FakeData:
    """What ``MLIAPDataPy`` shows the model, recording what the model writes back."""

    def __init__(self, nlocal, elems, pair_i, pair_j, rij):
        self.nlocal, self.ntotal, self.npairs = nlocal, len(elems), len(pair_i)
        self.nlistatoms = nlocal
        self.iatoms = np.arange(len(elems), dtype=np.int32)  # list order: local, then ghost atoms
        self.elems = elems.astype(np.int32)
        self.pair_i, self.pair_j = pair_i.astype(np.int32), pair_j.astype(np.int32)
        self.rij = np.ascontiguousarray(rij, dtype=np.float64)
        self.written = {}

    def _set(name):
        def setter(self, value):
            self.written[name] = value

        return property(fset=setter)

    eatoms = _set("eatoms")
    energy = _set("energy")

    def update_pair_forces(self, fij):
        assert fij.dtype == np.float64 and fij.flags["C_CONTIGUOUS"] and fij.shape == (self.npairs, 3)
        self.written["fij"] = fij


def rank_view(atoms, r_cut, comm, lo=(0, 0, 0), hi=(1, 1, 1), ghost_lists=True):
    """One rank's data for the sub-domain [lo, hi) (fractional), and each atom's owner."""
    cell = atoms.cell.array
    frac = atoms.get_scaled_positions(wrap=True)
    extra = comm * np.linalg.norm(np.linalg.inv(cell), axis=0)  # comm in fractional units per axis
    span = np.ceil(extra).astype(int) + 1
    images = np.stack(np.meshgrid(*[np.arange(-s, s + 1) for s in span], indexing="ij"), -1).reshape(-1, 3)
    shifted = frac[None] + images[:, None]  # (images, atoms, 3)
    inside = np.all((shifted >= lo) & (shifted < hi), axis=-1)
    near = np.all((shifted >= np.array(lo) - extra) & (shifted < np.array(hi) + extra), axis=-1)
    owners = np.concatenate([np.nonzero(inside)[1], np.nonzero(near & ~inside)[1]])
    frac_all = np.concatenate([shifted[inside], shifted[near & ~inside]])
    positions = frac_all @ cell
    nlocal = int(inside.sum())
    pairs = np.array(sorted(cKDTree(positions).query_pairs(r_cut)))
    pairs = np.concatenate([pairs, pairs[:, ::-1]])  # full list: both directions
    if not ghost_lists:
        pairs = pairs[pairs[:, 0] < nlocal]
    i, j = pairs.T
    elems = np.zeros(len(positions), dtype=int)  # one element
    return FakeData(nlocal, elems, i, j, positions[j] - positions[i]), owners


def run_ranks(adapter, atoms, comm, subdomains):
    """Energy, per-atom energies, forces (folded onto owners) and virial summed over ranks."""
    n = len(atoms)
    energy, energies, forces, virial = 0.0, np.zeros(n), np.zeros((n, 3)), np.zeros((3, 3))
    for lo, hi in subdomains:
        data, owners = rank_view(atoms, adapter.model.config.r_cut, comm, lo, hi)
        adapter.compute_forces(data)
        fij = data.written["fij"]
        f = np.zeros((data.ntotal, 3))
        np.add.at(f, data.pair_i, fij)
        np.add.at(f, data.pair_j, -fij)
        np.add.at(forces, owners, f)  # reverse communication of ghost forces
        energies[owners[: data.nlocal]] += data.written["eatoms"]
        assert data.written["energy"] == pytest.approx(data.written["eatoms"].sum(), rel=1e-14)
        energy += data.written["energy"]
        virial += data.rij.T @ fij
    return energy, energies, forces, virial


def silicon():
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    strain = np.array([[0.02, 0.05, 0], [0, -0.01, 0.03], [0.04, 0, 0.01]])
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain))
    atoms.rattle(0.1, seed=3)
    return atoms


HALVES = [((0, 0, 0), (0.5, 1, 1)), ((0.5, 0, 0), (1, 1, 1))]
QUARTERS = [((a, b, 0), (a + 0.5, b + 0.5, 1)) for a in (0, 0.5) for b in (0, 0.5)]


@pytest.mark.parametrize("subdomains", [[((0, 0, 0), (1, 1, 1))], HALVES, QUARTERS], ids=["1", "2", "4"])
def test_ranks_reproduce_the_ase_calculator(subdomains):
    model = small_model(("Si",), seed=9, r_cut=4.0)
    atoms = silicon()
    comm = model.config.num_layers * model.config.r_cut + 2.0  # + LAMMPS' default skin (metal units)
    energy, energies, forces, virial = run_ranks(SE3TLammps(model), atoms, comm, subdomains)
    atoms.calc = calc(model)
    np.testing.assert_allclose(energy, atoms.get_potential_energy(), rtol=1e-12)
    np.testing.assert_allclose(energies, atoms.get_potential_energies(), atol=1e-10)
    np.testing.assert_allclose(forces, atoms.get_forces(), atol=1e-10)
    # ASE's stress is (1/V) dE/d(strain) = (1/V) sum r_ij (x) dE/dr_ij; LAMMPS' pressure is its negative
    np.testing.assert_allclose(virial / atoms.get_volume(), atoms.get_stress(voigt=False), atol=1e-10)
    assert np.abs(forces).max() > 0.1 and np.abs(virial).max() > 0.1  # not trivially zero


def test_float32_adapter_is_close_to_float64_and_hands_lammps_float64():
    model = small_model(("Si",), seed=9, r_cut=4.0)
    atoms = silicon()
    comm = model.config.num_layers * model.config.r_cut + 2.0
    adapter = SE3TLammps(model, dtype="float32")
    assert next(adapter.model.parameters()).dtype == torch.float32
    energy, energies, forces, _ = run_ranks(adapter, atoms, comm, HALVES)  # FakeData asserts float64 out
    atoms.calc = calc(model)
    np.testing.assert_allclose(energy, atoms.get_potential_energy(), rtol=1e-6)
    np.testing.assert_allclose(energies, atoms.get_potential_energies(), atol=1e-4)
    np.testing.assert_allclose(forces, atoms.get_forces(), atol=1e-4)
    assert np.abs(forces - atoms.get_forces()).max() > 0  # really computed in float32


def test_thin_ghost_shell_is_refused_and_would_be_wrong():
    model = small_model(("Si",), seed=9, r_cut=4.0)
    atoms = silicon()
    thin = model.config.r_cut + 0.3  # enough for a pair style (cutoff + skin), not for two layers
    message = r"reach only 4.* than num_layers \* r_cut = 8 .*comm_modify cutoff 10"
    with pytest.raises(ValueError, match=message):
        run_ranks(SE3TLammps(model), atoms, thin, HALVES)
    unchecked, _, _, _ = run_ranks(SE3TLammps(model, check_ghosts=False), atoms, thin, HALVES)
    assert abs(unchecked - calc(model).get_potential_energy(atoms)) > 1e-3


def test_missing_ghost_neighbour_lists_are_refused():
    model = small_model(("Si",), seed=9, r_cut=4.0)
    data, _ = rank_view(silicon(), 4.0, 10.0, ghost_lists=False)
    with pytest.raises(ValueError, match=r"no pairs centred on ghost atoms.*mliap unified FILE 1"):
        SE3TLammps(model).compute_forces(data)


def test_export_pickles_plain_data_and_reloads(tmp_path, capsys):
    from se3t_calc import save_model

    model = small_model(("Si",), seed=9, r_cut=4.0)
    save_model(model, tmp_path / "si.pt")
    main(["export-lammps", str(tmp_path / "si.pt"), str(tmp_path / "si.pkl")])
    out = capsys.readouterr().out
    assert "pair_style   mliap unified" in out and "comm_modify  cutoff 10" in out
    with open(tmp_path / "si.pkl", "rb") as f:
        loaded = pickle.load(f)
    assert loaded.element_types == ["Si"] and loaded.rcutfac == 2.0 and loaded.dtype == torch.float64
    assert sorted(p.name for p in tmp_path.iterdir()) == ["si.pkl", "si.pt"]  # no temporary file left
    atoms = silicon()
    energy, *_ = run_ranks(loaded, atoms, 10.0, HALVES)
    np.testing.assert_allclose(energy, calc(model).get_potential_energy(atoms), rtol=1e-12)
    with pytest.raises(ValueError, match=r"torch\.load"):
        export_lammps(model, tmp_path / "si.pt2.pt")
    main(["export-lammps", str(tmp_path / "si.pt"), str(tmp_path / "si32.pkl"), "--dtype", "float32"])
    with open(tmp_path / "si32.pkl", "rb") as f:
        assert pickle.load(f).dtype == torch.float32
