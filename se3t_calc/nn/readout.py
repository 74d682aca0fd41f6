"""Readout: scalar node features -> per-atom energy in eV."""

from __future__ import annotations

import torch
from e3nn import nn as e3nn_nn


class EnergyReadout(torch.nn.Module):
    """MLP on the scalar channels, then ``E_i = scale * MLP(s_i) + shift + E0[species_i]``.

    ``scale``, ``shift`` (eV) and ``atomic_energies`` (E0 per species, eV) are buffers
    set from training data and stored in the state dict. E0 is added in float64 and
    the energies are float64 whatever the model's dtype: in float32, E0 of hundreds or
    thousands of eV would otherwise round every total energy to a grid of meV.

    Parameters
    ----------
    num_scalars : int
        Number of scalar (0e) channels at the front of the node features.
    hidden : int
        Hidden width of the MLP.
    num_species : int
        Number of species of the model.
    """

    scale: torch.Tensor
    shift: torch.Tensor
    atomic_energies: torch.Tensor

    def __init__(self, num_scalars: int, hidden: int, num_species: int):
        super().__init__()
        self.num_scalars = num_scalars
        self.mlp = e3nn_nn.FullyConnectedNet([num_scalars, hidden, 1], torch.nn.functional.silu)
        self.register_buffer("scale", torch.tensor(1.0))
        self.register_buffer("shift", torch.tensor(0.0))
        self.register_buffer("atomic_energies", torch.zeros(num_species))

    def forward(self, x: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """``(N, F)`` features and ``(N,)`` species -> ``(N,)`` float64 energies in eV."""
        out = self.mlp(x[:, : self.num_scalars]).squeeze(-1)
        e0 = self.atomic_energies.index_select(0, species)
        return (self.scale * out + self.shift).to(torch.float64) + e0.to(torch.float64)
