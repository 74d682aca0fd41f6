"""The edge-frame (SO(2)) convolution: the tensor product it replaces, and a model built on it."""

import math

import numpy as np
import pytest
import torch
from e3nn import o3
from helpers import (
    calc,
    check_e3_equivariance,
    check_permutation_invariance,
    energy_forces,
    ethanol,
    finite_difference_forces,
    finite_difference_stress,
    small_model,
)

from se3t_calc.nn.edge_frame import EdgeFrameConvolution, EdgeFrames
from se3t_calc.nn.tensor_product import EdgeTensorProduct

# edges along +y and -y (the poles of the frames), in the xz plane (where the frame
# switches pole) and in general directions
SPECIAL = [[0.0, 2.0, 0.0], [0.0, -1.5, 0.0], [1.0, 0.0, 0.3], [0.0, 0.0, -2.0], [1e-9, 1.0, 0.0]]


def _irreps(degrees):
    return [o3.Irrep(d, (-1) ** d) for d in degrees]


@pytest.mark.parametrize(
    ("inputs", "outputs", "lmax"),
    [
        ([0, 1, 2, 3], [0, 1, 2, 3], 3),
        ([0], [0, 1, 2, 3], 3),
        ([0, 1, 2, 3], [0], 3),
        ([0, 1, 2], [0, 1, 2], 2),
    ],
)
def test_equals_the_tensor_product_with_the_paths_into_each_irrep_summed(inputs, outputs, lmax):
    torch.manual_seed(0)
    ls, targets, channels = _irreps(inputs), set(_irreps(outputs)), 3
    irreps_sh = o3.Irreps.spherical_harmonics(lmax)
    conv = EdgeFrameConvolution(ls, channels, irreps_sh, targets).double()
    tp = EdgeTensorProduct(ls, irreps_sh, targets).double()
    assert sorted(map(str, conv.paths)) == sorted(map(str, tp.paths))
    vectors = torch.cat([torch.tensor(SPECIAL, dtype=torch.float64), torch.randn(7, 3, dtype=torch.float64)])
    direction = vectors / vectors.norm(dim=-1, keepdim=True)
    sh = o3.spherical_harmonics(o3.Irreps.spherical_harmonics(lmax), direction, False, "component")
    x = torch.randn(len(vectors), sum(channels * ir.dim for ir in ls), dtype=torch.float64)
    weight = torch.randn(len(vectors), channels, len(tp.paths), dtype=torch.float64)
    frames = EdgeFrames(max(inputs + outputs))(direction)
    out = conv(conv.edge_layout(x), frames, weight[:, :, [tp.paths.index(p) for p in conv.paths]])
    per_path = tp(x, sh, weight)
    expected = []
    for ir3 in conv.blocks:
        columns = [c for c, p in enumerate(tp.block_of_column.tolist()) if tp.paths[p][2] == ir3]
        n = len(columns) // ir3.dim
        paths = per_path[:, :, columns].view(len(vectors), channels, n, ir3.dim)
        expected.append(paths.sum(2) / math.sqrt(n))
    torch.testing.assert_close(out, torch.cat(expected, dim=-1), rtol=0, atol=1e-12)


def test_wigner_blocks_are_those_of_e3nn():
    rotations = torch.stack([o3.rand_matrix(dtype=torch.float64) for _ in range(4)])
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn's reference, in float64
    try:
        irreps = _irreps(range(4))
        expected = [torch.stack([ir.D_from_matrix(r) for r in rotations]) for ir in irreps]
    finally:
        torch.set_default_dtype(default)
    for block, reference in zip(EdgeFrames(3).wigner_blocks(rotations), expected, strict=True):
        torch.testing.assert_close(block, reference, rtol=0, atol=1e-12)


def test_frames_carry_each_edge_onto_the_axis_with_finite_gradients():
    vectors = torch.tensor(SPECIAL, dtype=torch.float64, requires_grad=True)
    direction = vectors / vectors.norm(dim=-1, keepdim=True)
    frames = EdgeFrames(1)(direction)
    rotated = (frames[:, 1:, 1:] @ direction.unsqueeze(-1)).squeeze(-1)  # s R u: +y for every edge
    torch.testing.assert_close(rotated, torch.tensor([[0.0, 1.0, 0.0]] * len(SPECIAL), dtype=torch.float64))
    (grad,) = torch.autograd.grad(frames.square().sum() + frames.sum(), vectors)
    assert torch.isfinite(grad).all()


SO2 = dict(convolution="so2", hidden_irreps="8x0e+4x1o+4x2e+2x3o", lmax=3)


@pytest.mark.parametrize(
    "overrides",
    [SO2, {**SO2, "num_layers": 3, "product_channels": 2, "attention_hidden": 4, "radial_basis": "bessel"}],
)
def test_a_model_on_it_is_equivariant_with_exact_forces(overrides):
    calculator = calc(small_model(**overrides))
    atoms = ethanol(2)
    check_e3_equivariance(atoms, calculator)
    check_permutation_invariance(atoms, calculator)
    _, forces = energy_forces(atoms, calculator)
    assert np.abs(forces).max() > 1e-3
    np.testing.assert_allclose(forces, finite_difference_forces(atoms, calculator), atol=1e-6)


def test_forces_are_exact_with_bonds_on_and_across_the_frame_switch():
    """Bonds along y, where the frames meet their poles, and in the xz plane, where they
    switch pole: the energy is smooth there and the forces are its exact derivative."""
    calculator = calc(small_model(**SO2))
    atoms = ethanol()
    atoms.positions[1] = atoms.positions[0] + [0.0, 1.5, 0.0]
    atoms.positions[2] = atoms.positions[0] + [1.4, 0.0, 0.0]
    for dy in (-1e-4, 0.0, 1e-4):
        moved = atoms.copy()
        moved.positions[2, 1] += dy
        _, forces = energy_forces(moved, calculator)
        assert np.isfinite(forces).all()
        np.testing.assert_allclose(forces, finite_difference_forces(moved, calculator), atol=1e-6)


def test_periodic_stress():
    from ase.build import bulk

    atoms = bulk("Si", "diamond", a=5.3, cubic=True)  # bonds along the cube diagonals and axes
    atoms.rattle(0.05, seed=3)
    calculator = calc(small_model(species=["Si"], **SO2))
    atoms.calc = calculator
    expected = finite_difference_stress(atoms, calculator)
    assert np.abs(expected).max() > 1e-3
    np.testing.assert_allclose(atoms.get_stress(), expected, atol=1e-8)


def test_keys_and_values_shrink_to_one_block_per_irrep():
    """A middle layer (every irrep in and out): 23 paths of 99 columns against 4 irreps of 16."""
    plain = small_model(hidden_irreps="8x0e+4x1o+4x2e+2x3o", lmax=3, num_layers=3).layers[1].tp
    framed = small_model(**SO2, num_layers=3).layers[1].tp
    assert (len(plain.blocks), plain.dim) == (23, 99)
    assert framed.dim == 16 and [str(ir) for ir in framed.blocks] == ["0e", "1o", "2e", "3o"]
    assert framed.num_paths == plain.num_paths  # one radial weight per path and channel in both
