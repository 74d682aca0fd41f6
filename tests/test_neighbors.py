import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list as ase_neighbor_list
from helpers import calc, ethanol, small_model

from se3t_calc.dynamics import make_dynamics
from se3t_calc.neighbors import SkinNeighborList, neighbor_list


@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True), (False, False, False)])
def test_pairs_and_distances_match_ase(pbc):
    atoms = bulk("Si", "diamond", a=5.43)  # thin primitive cell: many images
    atoms = atoms.repeat((2, 1, 1))
    atoms.rattle(0.05, seed=0)
    atoms.pbc = pbc
    i, j, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 5.0)
    vectors = atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell.array
    ai, _, ad = ase_neighbor_list("ijd", atoms, 5.0)
    assert len(i) == len(ai) > 0
    np.testing.assert_allclose(np.sort(np.linalg.norm(vectors, axis=1)), np.sort(ad), atol=1e-12)
    assert not np.any((i == j) & (np.abs(shifts).sum(1) == 0))


def test_skin_list_rebuilds_only_when_needed():
    nl = SkinNeighborList(cutoff=3.0, skin=0.6)
    atoms = ethanol()
    args = (atoms.cell.array, atoms.pbc, atoms.numbers)
    _, rebuilt = nl.update(atoms.positions, *args)
    assert rebuilt
    _, rebuilt = nl.update(atoms.positions + 0.29 / np.sqrt(3), *args)
    assert not rebuilt
    _, rebuilt = nl.update(atoms.positions + np.array([0.31, 0, 0]), *args)
    assert rebuilt
    _, rebuilt = nl.update(
        atoms.positions + np.array([0.31, 0, 0]), atoms.cell.array * 0 + np.eye(3), *args[1:]
    )
    assert rebuilt


@pytest.mark.parametrize("structure", ["molecule", "periodic"])
def test_skin_gives_identical_results_along_md(structure):
    """Along an MD run driven by the skin calculator, a fresh list gives the same results."""
    if structure == "molecule":
        atoms, model = ethanol(), small_model(r_cut=2.5)
    else:
        atoms, model = bulk("Si", "diamond", a=5.43, cubic=True), small_model(species=["Si"], r_cut=3.5)
    model.readout.scale.fill_(0.05)  # gentle random forces: atoms stay together
    fresh, skinned = calc(model), calc(model, skin=0.5)
    atoms.calc = skinned
    dyn = make_dynamics(atoms, "nve", timestep_fs=1.0, initial_temperature_K=600)
    for _ in range(40):
        dyn.run(1)
        reference = atoms.copy()
        reference.calc = fresh
        np.testing.assert_allclose(atoms.get_potential_energy(), reference.get_potential_energy(), rtol=1e-13)
        np.testing.assert_allclose(atoms.get_forces(), reference.get_forces(), atol=1e-12)
    assert 1 < skinned.neighbors.num_builds < 20 < fresh.neighbors.num_builds


def test_atom_flown_far_away_is_refused_before_the_neighbour_list():
    """vesin itself dies with SIGFPE here (see neighbors.MAX_SPAN_CUTOFFS): run it in a subprocess."""
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from se3t_calc.neighbors import neighbor_list\n"
        "positions = np.array([[0.0, 0, 0], [1, 0, 0], [5e5, 0, 0]])\n"
        "try:\n"
        "    neighbor_list(positions, np.zeros((3, 3)), np.array([False, True, True]), 5.0)\n"
        "except ValueError as err:\n"
        "    print(err)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "atoms span 5e+05 Å along x" in run.stdout and "atom 2 is at [500000.0" in run.stdout
    i, _, _ = neighbor_list(np.array([[0.0, 0, 0], [1, 0, 0], [5e5, 0, 0]]), np.eye(3), np.ones(3, bool), 5.0)
    assert len(i) > 0  # along periodic directions positions are wrapped: no limit


def test_molecules_far_apart_are_listed_by_all_distances():
    """Two ethanols 1e4 Å apart (2000 cutoffs of 5 Å, or 1e4 of the MD checks' bond cutoff):
    without periodic directions a small structure is listed pairwise, as the two molecules
    alone; a molecule's energy is then exactly half that of both."""
    one = ethanol(0)
    two = one + one.copy()
    two.positions[len(one) :, 2] += 1e4
    i, _, shifts = neighbor_list(two.positions, np.zeros((3, 3)), np.zeros(3, bool), 0.5)
    assert len(i) == 0 and shifts.shape == (0, 3)
    pairs = set(zip(*neighbor_list(two.positions, np.zeros((3, 3)), np.zeros(3, bool), 1.5)[:2], strict=True))
    alone = set(zip(*neighbor_list(one.positions, np.zeros((3, 3)), np.zeros(3, bool), 1.5)[:2], strict=True))
    n = len(one)
    assert pairs == alone | {(a + n, b + n) for a, b in alone}
    calculator = calc(small_model())
    two.calc = calculator
    energy_two = two.get_potential_energy()
    one.calc = calc(small_model())
    assert energy_two == pytest.approx(2 * one.get_potential_energy(), rel=1e-10)  # summed in another order
