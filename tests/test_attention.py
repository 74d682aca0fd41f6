import math

import torch

from se3t_calc.nn.attention import attention_weights
from se3t_calc.nn.radial import log_envelope, smooth_basis


def test_softmax_is_stable_for_huge_logits():
    centre = torch.tensor([0, 0, 0, 1], dtype=torch.long)
    logits = torch.tensor([[1000.0], [999.0], [-1000.0], [5000.0]], dtype=torch.float64)
    log_env = torch.zeros(4, dtype=torch.float64)
    alpha = attention_weights(logits, log_env, centre, 3, sqrt=False)
    assert torch.isfinite(alpha).all()
    torch.testing.assert_close(alpha[:3, 0].sum(), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(alpha[3, 0], torch.tensor(1.0, dtype=torch.float64))
    expected = torch.tensor([1.0, math.exp(-1.0)], dtype=torch.float64)
    torch.testing.assert_close(alpha[:2, 0], expected / expected.sum())


def test_envelope_weights_and_atoms_without_neighbours():
    centre = torch.tensor([0, 0, 1], dtype=torch.long)
    length = torch.tensor([1.0, 4.5, 4.2], dtype=torch.float64, requires_grad=True)
    logits = torch.zeros(3, 2, dtype=torch.float64)
    log_env = log_envelope(length, 4.0)
    weights = attention_weights(logits, log_env, centre, 3, sqrt=True)
    # sqrt(alpha): squares sum to one over neighbours inside the cutoff
    torch.testing.assert_close(weights[0], torch.ones(2, dtype=torch.float64))
    assert torch.all(weights[1:] == 0)  # beyond the cutoff, including a centre with no neighbour
    weights.sum().backward()
    assert torch.isfinite(length.grad).all()


def test_basis_vanishes_smoothly_at_both_ends():
    x = torch.tensor([0.0, 1e-3, 4.0 - 1e-3, 4.0, 4.5], dtype=torch.float64, requires_grad=True)
    basis = smooth_basis(x, 0.0, 4.0, 8)
    assert torch.all(basis[[0, 3, 4]] == 0)
    assert basis[[1, 2]].abs().max() < 1e-100
    basis.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().max() < 1e-100
    inside = smooth_basis(torch.linspace(0.5, 3.5, 50, dtype=torch.float64), 0.0, 4.0, 8)
    assert inside.pow(2).sum(-1).min() > 1.0
