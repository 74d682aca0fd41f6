"""The physics at the edges: isolated atoms have exactly E0, nuclei repel at short range (ZBL)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from ase import Atoms
from helpers import (
    calc,
    check_energy_is_work_of_force,
    energy_forces,
    ethanol,
    finite_difference_forces,
    small_model,
)

from se3t_calc import SE3TCalculator
from se3t_calc.checkpoint import LegacyModelWarning
from se3t_calc.nn.repulsion import INNER_FRACTION, ZBLRepulsion, pair_energy
from se3t_calc.pretrained import available_models

E0 = torch.tensor([-13.6, -1029.0, -2041.0], dtype=torch.float64)
VARIANTS = [
    {},
    {"invariant": "r", "radial_basis": "bessel"},
    {"invariant": "inverse", "product_channels": 4, "product_last": True, "attention_hidden": 8},
    {"convolution": "so2", "num_layers": 3, "product_channels": 2},
    {"radial_layers": 2, "product_channels": 2},
]


def _model(**overrides):
    model = small_model(**overrides)
    model.readout.atomic_energies.copy_(E0)
    model.readout.shift.fill_(-0.8)  # a shift that acts through neighbours only
    return model


@pytest.mark.parametrize("overrides", VARIANTS)
def test_an_atom_alone_has_exactly_its_isolated_atom_energy(overrides):
    calculator = calc(_model(**overrides))
    for k, symbol in enumerate(("H", "C", "O")):
        energy, forces = energy_forces(Atoms(symbol, positions=[[0.3, -0.2, 0.1]]), calculator)
        assert energy == pytest.approx(float(E0[k]), abs=1e-9)
        assert np.all(forces == 0)


@pytest.mark.parametrize("overrides", VARIANTS)
def test_atoms_farther_apart_than_the_cutoff_sum_to_their_isolated_energies(overrides):
    model = _model(**overrides)
    r_cut = model.config.r_cut
    atoms = ethanol()
    atoms.positions *= 1.2 * r_cut  # every distance (at least ~0.95 Å) beyond the cutoff
    energy, forces = energy_forces(atoms, calc(model))
    expected = sum(float(E0[("H", "C", "O").index(s)]) for s in atoms.get_chemical_symbols())
    assert energy == pytest.approx(expected, abs=1e-8)
    assert np.abs(forces).max() == 0
    # and the molecule itself is bound by the interactions, not by an offset per atom
    assert abs(energy_forces(ethanol(), calc(model))[0] - expected) > 1e-2


def test_dissociation_reaches_the_isolated_atoms_continuously():
    """An H pulled away from a CO pair ends at E(CO) + E0(H) as it crosses the cutoff, with no jump."""
    model = _model()
    calculator = calc(model)
    r_cut = model.config.r_cut
    xs = np.linspace(r_cut - 0.4, r_cut + 0.2, 121)
    trimer = [Atoms("COH", positions=[[-1.2, 0, 0], [0, 0, 0], [x, 0, 0]]) for x in xs]
    results = [energy_forces(a, calculator) for a in trimer]
    energy = np.array([e for e, _ in results])
    forces = np.array([f[2, 0] for _, f in results])
    e_co = energy_forces(Atoms("CO", positions=[[-1.2, 0, 0], [0, 0, 0]]), calculator)[0]
    assert energy[-1] == pytest.approx(e_co + float(E0[0]), abs=1e-9)
    check_energy_is_work_of_force(xs, energy, forces, atol=1e-6)


def test_forces_are_the_gradient_with_the_limit_and_repulsion():
    calculator = calc(_model(attention_hidden=8))
    atoms = ethanol()
    atoms.positions[1] = atoms.positions[0] + 0.35 * (atoms.positions[1] - atoms.positions[0])  # close pair
    np.testing.assert_allclose(
        energy_forces(atoms, calculator)[1], finite_difference_forces(atoms, calculator), atol=1e-5
    )


@pytest.mark.parametrize("name", available_models())
def test_every_shipped_model_has_the_isolated_atom_limit_or_says_it_has_not(name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        calculator = SE3TCalculator(name, device="cpu", dtype="float64")
    model = calculator.model
    legacy = [w for w in caught if issubclass(w.category, LegacyModelWarning)]
    if not model.config.isolated_atom_limit:
        assert legacy and "isolated-atom limit" in str(legacy[0].message)
        return
    assert not legacy
    members = getattr(model, "members", [model])  # a committee: every member has the limit
    e0 = torch.stack([m.readout.atomic_energies for m in members]).mean(0)
    for k, symbol in enumerate(model.config.species):
        energy = energy_forces(Atoms(symbol), calculator)[0]
        assert energy == pytest.approx(float(e0[k]), abs=1e-6)


# ------------------------------------------------------------------ ZBL repulsion


def test_zbl_pair_energy_matches_the_universal_potential_by_hand():
    # H-H at 1 Å: a = 0.4685 / 2, Phi(4.2689) = 0.071219, 14.399645 eV Å * Phi / 1 Å
    assert pair_energy(1, 1, 1.0) == pytest.approx(1.02555, rel=2e-4)
    # C-H at 0.5 Å: a = 0.4685 / (6^0.23 + 1), Phi(2.6803) = 0.15283
    assert pair_energy(6, 1, 0.5) == pytest.approx(6 * 14.399645 / 0.5 * 0.15283, rel=2e-3)


def _pair_curve(module: ZBLRepulsion, a: int, b: int, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    length = torch.tensor(r, dtype=torch.float64, requires_grad=True)
    species = torch.tensor([a, b])
    edges = torch.tensor([[0, 1], [1, 0]])
    energies = []
    for value in length:
        per_atom = module(torch.stack([value, value]), species, edges, 2)
        energies.append(per_atom.sum())
    total = torch.stack(energies)
    (grad,) = torch.autograd.grad(total.sum(), length)
    return total.detach().numpy(), grad.numpy()


def test_zbl_is_whole_at_short_range_and_exactly_zero_beyond_its_onset():
    module = ZBLRepulsion(("H", "C", "O")).double()
    module.r_outer.copy_(torch.tensor([[1.4, 0.9, 0.8], [0.9, 1.2, 1.0], [0.8, 1.0, 1.3]]))
    inner = INNER_FRACTION * 0.9
    r = np.array([0.1, 0.3, inner - 1e-9])
    energy, _ = _pair_curve(module, 0, 1, r)
    expected = [pair_energy(1, 6, x) for x in r]
    np.testing.assert_allclose(energy, expected, rtol=1e-12)
    energy, grad = _pair_curve(module, 0, 1, np.array([0.9, 0.9 + 1e-9, 1.5, 3.0]))
    assert np.all(energy == 0) and np.all(grad == 0)


def test_zbl_switch_is_smooth_in_value_and_derivative():
    module = ZBLRepulsion(("H", "C")).double()
    module.r_outer.fill_(1.0)
    r = np.linspace(0.3, 1.2, 9001)
    energy, grad = _pair_curve(module, 0, 1, r)
    step = r[1] - r[0]
    # the derivative is the slope of the energy everywhere, including both switch ends
    np.testing.assert_allclose(np.gradient(energy, step)[1:-1], grad[1:-1], rtol=1e-4, atol=1e-4)
    # and changes continuously: no step in the force at r_inner = 0.5 or r_outer = 1.0
    curvature_bound = 20 * np.abs(np.diff(grad[r < 0.45])).max()
    assert np.abs(np.diff(grad[r > 0.45])).max() < curvature_bound


def test_repulsion_keeps_two_nuclei_apart_in_a_random_model():
    """Without ZBL the energy of a random model is bounded as two atoms merge; with it it rises."""
    pair = lambda d: Atoms("CH", positions=[[0, 0, 0], [d, 0, 0]])  # noqa: E731
    with_zbl = calc(_model())
    without = calc(_model(zbl=False))
    e_with = [energy_forces(pair(d), with_zbl)[0] for d in (0.05, 0.2)]
    e_without = [energy_forces(pair(d), without)[0] for d in (0.05, 0.2)]
    rise = (e_with[0] - e_with[1]) - (e_without[0] - e_without[1])
    expected = pair_energy(6, 1, 0.05) - pair_energy(6, 1, 0.2)
    assert rise == pytest.approx(expected, rel=1e-9)


def test_training_statistics_place_the_onset_at_the_shortest_distance_seen():
    from helpers import DATA

    from se3t_calc.train.data import read_structures
    from se3t_calc.train.dataset import GraphDataset
    from se3t_calc.train.statistics import repulsion_onset, shortest_pair_distances

    frames = read_structures(DATA / "ethanol_rmd17.xyz")
    dataset = GraphDataset(frames, ("H", "C", "O"), 5.0)
    shortest = shortest_pair_distances(dataset, 3)
    brute = np.inf
    for s in frames:
        d = s.atoms.get_all_distances()
        ch = d[np.ix_(s.atoms.numbers == 6, s.atoms.numbers == 1)]
        brute = min(brute, ch.min())
    assert shortest[1, 0] == shortest[0, 1] == pytest.approx(brute, abs=1e-12)
    assert np.isinf(shortest[2, 2])  # one O per ethanol: O-O never seen
    onset = repulsion_onset(shortest, ("H", "C", "O"))
    assert onset[1, 0] == shortest[1, 0] and np.isfinite(onset[2, 2])
    assert onset[2, 2] < 2 * 0.66  # below the O-O covalent bond length
