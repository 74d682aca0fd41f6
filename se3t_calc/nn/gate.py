"""Gate nonlinearity: e3nn's ``Gate`` with the gating done as one product."""

from __future__ import annotations

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3


class Gate(e3nn_nn.Gate):
    """``(s, g, x) -> (act(s), sigmoid(g) x)``: e3nn's gate, same parameters and outputs.

    e3nn multiplies every gated irrep by its gate with an element-wise tensor product
    (about 50 operations forward for three irreps); here each gate is spread over the
    components of its irrep by one index and multiplied in one product.

    Parameters
    ----------
    irreps_scalars, irreps_gates, irreps_gated : o3.Irreps
        Irreps of the scalars, the gates (one ``0e`` per gated irrep) and the gated
        features; the input holds them in this order.
    act_scalars, act_gates : list of callable
        Activations of the scalars and of the gates, as for e3nn's ``Gate``.
    """

    gate_of_column: torch.Tensor

    def __init__(self, irreps_scalars, act_scalars, irreps_gates, act_gates, irreps_gated):
        super().__init__(irreps_scalars, act_scalars, irreps_gates, act_gates, irreps_gated)
        parts = (self.irreps_scalars, self.irreps_gates, self.irreps_gated)
        if (parts[0] + parts[1] + parts[2]).simplify() != o3.Irreps(self.irreps_in).simplify():
            raise ValueError(
                f"the gate's input must hold scalars, gates and gated irreps in order, got {parts}"
            )
        self.sizes = [irreps.dim for irreps in parts]
        # the gate of every column of the gated features: gate k for the k-th gated irrep
        dims = torch.tensor([ir.dim for mul, ir in self.irreps_gated for _ in range(mul)], dtype=torch.long)
        gate = torch.repeat_interleave(torch.arange(len(dims)), dims)
        self.register_buffer("gate_of_column", gate, persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(..., irreps_in.dim)`` -> ``(..., irreps_out.dim)``."""
        scalars, gates, gated = features.split(self.sizes, dim=-1)
        gated = gated * self.act_gates(gates).index_select(-1, self.gate_of_column)
        return torch.cat([self.act_scalars(scalars), gated], dim=-1)
