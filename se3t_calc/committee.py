"""A committee of models: their mean prediction and, from their spread, its uncertainty."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from se3t_calc import keys
from se3t_calc.model import SE3TModel


class Committee(torch.nn.Module):
    """Several models of the same species and cutoff evaluated on one graph.

    Forward returns the graph with the members' mean ``node_energy`` (N,) and
    ``total_energy`` (B,), and every member's ``member_energy`` (M, B), eV;
    :func:`se3t_calc.derivatives.energy_and_derivatives` evaluates and differentiates
    each member in turn, and returns their forces too. A committee of ``M`` costs
    ``M`` times one member per call.

    Parameters
    ----------
    members : sequence of SE3TModel
        At least two models with equal species and cutoff (usually the same
        settings trained from different seeds).
    """

    def __init__(self, members: Sequence[SE3TModel]):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"a committee needs at least 2 models, got {len(members)}")
        first = members[0].config
        for k, member in enumerate(members[1:], start=1):
            if member.config.species != first.species or member.config.r_cut != first.r_cut:
                raise ValueError(
                    f"committee member {k} has species {list(member.config.species)} and cutoff "
                    f"{member.config.r_cut} Å, member 0 {list(first.species)} and {first.r_cut} Å: "
                    "members must share both"
                )
        self.members = torch.nn.ModuleList(members)
        self.config = first
        self.metadata: dict = {"members": [m.metadata for m in members]}

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Mean energies of the members, and each member's total energy (see class docstring)."""
        outs = [member(data) for member in self.members]
        totals = torch.stack([out[keys.TOTAL_ENERGY] for out in outs])
        nodes = torch.stack([out[keys.NODE_ENERGY] for out in outs])
        return {
            **data,
            keys.NODE_ENERGY: nodes.mean(0),
            keys.TOTAL_ENERGY: totals.mean(0),
            keys.MEMBER_ENERGY: totals,
        }
