"""The equivariant linear map, the gate and the spherical harmonics: e3nn's, parameter for
parameter, in fewer operations."""

import pytest
import torch
from e3nn import nn as e3nn_nn
from e3nn import o3

from se3t_calc.nn.gate import Gate
from se3t_calc.nn.harmonics import SphericalHarmonics
from se3t_calc.nn.linear import Linear

CASES = [
    ("64x0e+16x1o+16x2e+16x3o", "64x0e+64x1o+64x2e+64x3o"),  # one block per irrep: no reordering
    ("8x0e+8x1o+8x0e+8x2e+8x1o+8x3o+8x2e", "16x0e+12x0e+4x1o+4x2e+4x3o"),  # repeated irreps, as the heads
    ("4x0e+2x1o", "3x1o+5x0e+2x2e+1x0e"),  # an output no input reaches, outputs out of order
    ("2x1e+3x0e", "4x0o+2x1e"),  # an input no output takes
    ("3x0e", "6x0e"),
]


@pytest.mark.parametrize(("irreps_in", "irreps_out"), CASES)
def test_the_map_is_e3nns_with_the_same_parameters(irreps_in, irreps_out):
    torch.manual_seed(0)
    reference = o3.Linear(irreps_in, irreps_out).double()
    lean = Linear(irreps_in, irreps_out).double()
    lean.load_state_dict(reference.state_dict())  # strict: the same names and shapes
    x = torch.randn(5, 3, o3.Irreps(irreps_in).dim, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(lean(x), reference(x), rtol=0, atol=1e-13)
    probe = torch.randn(5, 3, o3.Irreps(irreps_out).dim, dtype=torch.float64)
    grads = [torch.autograd.grad((m(x) * probe).sum(), (x, m.weight)) for m in (lean, reference)]
    for ours, theirs in zip(*grads, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-13)
    assert torch.equal(lean.output_mask, reference.output_mask)


def test_a_model_file_of_either_is_read_by_the_other():
    reference = o3.Linear("4x0e+2x1o", "3x1o+5x0e")
    lean = Linear("4x0e+2x1o", "3x1o+5x0e")
    reference.load_state_dict(lean.state_dict())
    assert torch.equal(reference.weight, lean.weight)


def test_the_map_is_equivariant():
    torch.manual_seed(1)
    irreps_in, irreps_out = o3.Irreps(CASES[1][0]), o3.Irreps(CASES[1][1])
    lean = Linear(irreps_in, irreps_out).double()
    x = torch.randn(4, irreps_in.dim, dtype=torch.float64)
    rotation = o3.rand_matrix(dtype=torch.float64)
    rotated = lean(x @ irreps_in.D_from_matrix(rotation).T)
    torch.testing.assert_close(rotated, lean(x) @ irreps_out.D_from_matrix(rotation).T, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("scalars", "gates", "gated"), [("64x0e", "48x0e", "16x1o+16x2e+16x3o"), ("8x0e", "7x0e", "3x1o+4x2e")]
)
def test_the_gate_is_e3nns(scalars, gates, gated):
    torch.manual_seed(2)
    acts = ([torch.nn.functional.silu], [torch.sigmoid])
    reference = e3nn_nn.Gate(scalars, acts[0], gates, acts[1], gated)
    lean = Gate(scalars, acts[0], gates, acts[1], gated)
    lean.load_state_dict(reference.state_dict())
    x = torch.randn(6, reference.irreps_in.dim, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(lean(x), reference(x), rtol=0, atol=1e-14)
    probe = torch.randn(6, reference.irreps_out.dim, dtype=torch.float64)
    grads = [torch.autograd.grad((m(x) * probe).sum(), x)[0] for m in (lean, reference)]
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-14)


def test_no_rows_in_no_rows_out():
    lean = Linear(CASES[1][0], CASES[1][1])
    assert lean(torch.zeros(0, o3.Irreps(CASES[1][0]).dim)).shape == (0, o3.Irreps(CASES[1][1]).dim)


@pytest.mark.parametrize("lmax", [0, 1, 2, 3, 4])
def test_the_harmonics_are_e3nns_with_their_gradients(lmax):
    lean = SphericalHarmonics(lmax)
    reference = o3.SphericalHarmonics(lean.irreps_out, normalize=False, normalization="component")
    # vectors of several lengths, as the edges of a graph, and a zero one (coincident atoms)
    vectors = torch.randn(200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    lengths = torch.linspace(0.1, 5.0, 200, dtype=torch.float64)[:, None]
    vectors = torch.cat([vectors * lengths, vectors[:1] * 0])
    vectors.requires_grad_(True)
    ours, theirs = lean(vectors), reference(vectors)
    # relative to each vector's largest harmonic (|r|**lmax): single ones cancel to near zero
    scale = 1 + theirs.detach().abs().amax(dim=1, keepdim=True)
    assert ((ours - theirs).abs() / scale).max() < 1e-14
    if lmax == 0:  # a constant
        return
    probe = torch.randn_like(theirs)
    grads = [torch.autograd.grad((y * probe).sum(), vectors)[0] for y in (ours, theirs)]
    assert ((grads[0] - grads[1]).abs() / (1 + grads[1].abs().amax(dim=1, keepdim=True))).max() < 1e-14
