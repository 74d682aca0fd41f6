"""Physics checks of the optional blocks: node-wise product, Bessel radial basis, MLP attention."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from helpers import (
    calc,
    check_e3_equivariance,
    check_energy_is_work_of_force,
    check_permutation_invariance,
    energy_forces,
    ethanol,
    finite_difference_forces,
    finite_difference_stress,
    randomize_products,
    small_model,
)

from se3t_calc import ModelConfig, SE3TModel, atoms_to_graph
from se3t_calc.nn.product import NodeProduct
from se3t_calc.nn.radial import bessel_basis

VARIANTS = {
    "product": dict(product_channels=3),
    "bessel": dict(radial_basis="bessel"),
    "both, 3 layers": dict(product_channels=2, radial_basis="bessel", num_layers=3),
    "product after the last layer": dict(product_channels=2, product_last=True),
    "two stacked products": dict(product_channels=2, product_depth=2),
    "MLP attention": dict(attention_hidden=4),
    "MLP attention, mixed heads, product": dict(attention_hidden=3, product_channels=2, num_heads=4),
    "radial MLPs of two hidden layers": dict(radial_layers=2),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_equivariant_and_exact_forces(name):
    calculator = calc(small_model(**VARIANTS[name]))
    atoms = ethanol(4)
    check_e3_equivariance(atoms, calculator)
    check_permutation_invariance(atoms, calculator)
    _, forces = energy_forces(atoms, calculator)
    np.testing.assert_allclose(forces, finite_difference_forces(atoms, calculator), atol=1e-6)


def test_periodic_stress_with_both_blocks():
    atoms = bulk("Si", "diamond", a=5.3, cubic=True)
    atoms.rattle(0.15, seed=2)
    calculator = calc(small_model(species=["Si"], product_channels=2, radial_basis="bessel"))
    atoms.calc = calculator
    expected = finite_difference_stress(atoms, calculator)
    assert np.abs(expected).max() > 1e-3
    np.testing.assert_allclose(atoms.get_stress(), expected, atol=1e-8)


def test_product_block_changes_the_energy():
    """Guard: the product is not a no-op (its weights reach the energy)."""
    plain = small_model(product_channels=3)
    altered = small_model(product_channels=3)
    with torch.no_grad():
        for p in altered.products[0].up.parameters():
            p.mul_(3.0)
    atoms = ethanol(1)
    assert abs(energy_forces(atoms, calc(plain))[0] - energy_forces(atoms, calc(altered))[0]) > 1e-6


@pytest.mark.parametrize("option", [dict(product_last=True), dict(product_depth=2)])
def test_product_option_adds_a_product_that_reaches_the_energy(option):
    """Guard: the option is not ignored -- it adds a product whose weights change the energy."""
    plain = small_model(product_channels=2)
    changed = small_model(product_channels=2, **option)
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    assert count(changed) > count(plain)
    added = changed.products[-1] if "product_last" in option else changed.products[0][1]
    atoms = ethanol(1)
    before = energy_forces(atoms, calc(changed))[0]
    with torch.no_grad():
        for p in added.up.parameters():
            p.mul_(3.0)
    assert abs(energy_forces(atoms, calc(changed))[0] - before) > 1e-6


def test_mlp_attention_reaches_the_energy():
    """Guard: with ``attention_hidden`` the logits come from the MLP, whose weights change the energy."""
    model = small_model(attention_hidden=4)
    mlps = [layer.logit_mlp for layer in model.layers]
    assert all(mlp is not None for mlp in mlps)
    atoms = ethanol(1)
    before = energy_forces(atoms, calc(model))[0]
    with torch.no_grad():
        mlps[0].w2.mul_(3.0)
    assert abs(energy_forces(atoms, calc(model))[0] - before) > 1e-6


def test_product_is_quadratic_in_the_features():
    """Without the residual, scaling the features by s scales the product by s^2."""
    block = NodeProduct("4x0e+2x1o+2x2e", channels=2).double()
    randomize_products(block)
    x = torch.randn(5, block.down.irreps_in.dim, dtype=torch.float64)
    quadratic = lambda v: block(v) - v  # noqa: E731
    torch.testing.assert_close(quadratic(2.0 * x), 4.0 * quadratic(x))


def test_a_new_product_starts_as_the_identity():
    """Stacked random products square their input: a new one adds nothing until trained,
    so that a deep model starts with features of order one."""
    block = NodeProduct("4x0e+2x1o+2x2e", channels=2).double()
    x = torch.randn(5, block.down.irreps_in.dim, dtype=torch.float64)
    torch.testing.assert_close(block(x), x, rtol=0, atol=0)
    model = SE3TModel(ModelConfig(species=("H", "C", "O"), num_layers=3, product_channels=4, product_depth=2))
    features = []
    for layer in model.layers:
        layer.register_forward_hook(lambda _m, _i, out: features.append(float(out.detach().std())))
    model(atoms_to_graph(ethanol(), model.config.species, model.config.r_cut, dtype=torch.float32))
    assert max(features) < 3.0, features


def test_bessel_basis_vanishes_smoothly_at_the_cutoff():
    r_cut = 4.0
    r = torch.tensor([r_cut - 1e-2, r_cut - 1e-3, r_cut, r_cut + 0.5], dtype=torch.float64)
    r.requires_grad_(True)
    basis = bessel_basis(r, r_cut, 8)
    (grad,) = torch.autograd.grad(basis.sum(), r)
    assert basis[2:].abs().max() == 0 and grad[2:].abs().max() == 0
    # sin(n pi r / r_cut) has a root and the envelope a triple root at the cutoff:
    # value ~ d^4 and slope ~ d^3 at a distance d below it
    value_ratio = basis[0].abs().max() / basis[1].abs().max()
    slope_ratio = grad[0].abs() / grad[1].abs()
    assert 5e3 < value_ratio < 2e4 and 5e2 < slope_ratio < 2e3


def test_bessel_basis_finite_at_zero_distance():
    r = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    basis = bessel_basis(r, 5.0, 4)
    (grad,) = torch.autograd.grad(basis.sum(), r)
    expected = np.sqrt(2 / 5.0) * np.pi / 5.0 * np.arange(1, 5)
    np.testing.assert_allclose(basis.detach().numpy()[0], expected, rtol=1e-12)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("name", VARIANTS)
def test_continuous_across_the_cutoff(name):
    r_cut = 4.0
    calculator = calc(small_model(r_cut=r_cut, **VARIANTS[name]))
    xs = np.linspace(r_cut - 0.3, r_cut + 0.3, 301)
    trimer = lambda x: Atoms("COH", positions=[[-1.2, 0.1, 0], [0, 0, 0], [x, 0.3, 0.2]])  # noqa: E731
    results = [energy_forces(trimer(x), calculator) for x in xs]
    energy = np.array([e for e, _ in results])
    forces = np.array([f[2, 0] for _, f in results])
    assert energy.max() - energy.min() > 1e-4
    check_energy_is_work_of_force(xs, energy, forces, rtol=1e-3, atol=1e-6)


def test_radial_layers_set_the_depth_of_the_radial_mlps():
    for depth in (1, 3):
        model = SE3TModel(ModelConfig(species=["H", "C"], radial_layers=depth, radial_hidden=7))
        for layer in model.layers:
            for mlp in layer.radial:
                widths = [mlp.hs[0], *mlp.hs[1:-1]]
                assert widths == [model.config.num_basis, *[7] * depth]
