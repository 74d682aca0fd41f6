"""Readout: scalar node features -> per-atom energy in eV."""

from __future__ import annotations

import torch
from e3nn import nn as e3nn_nn


class EnergyReadout(torch.nn.Module):
    """Per-atom energies from an MLP of the scalar channels, the shift and E0.

    With the exact isolated-atom limit (``free`` and ``coordination`` given)::

        E_i = E0[s_i] + shift * c_i + scale * (MLP(f_i) - MLP(f_free[s_i]))

    where ``f_free[s]`` are the features the layers give an atom of species ``s``
    that has no neighbour and ``c_i`` is the atom's summed cutoff envelope over its
    neighbours: both interaction terms vanish for an atom alone, which then has
    exactly ``E0``. Without them (models trained before this limit)
    ``E_i = E0[s_i] + shift + scale * MLP(f_i)``.

    ``scale``, ``shift`` (eV, per atom or per unit of ``c``) and ``atomic_energies``
    (E0 per species, eV) are buffers set from training data. E0 is added in float64
    and the energies are float64 whatever the model's dtype: in float32, E0 of
    hundreds or thousands of eV would otherwise round every total to a grid of meV.

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

    def forward(
        self,
        x: torch.Tensor,
        species: torch.Tensor,
        free: torch.Tensor | None = None,
        coordination: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-atom energies.

        Parameters
        ----------
        x : torch.Tensor, shape (N, F)
            Node features.
        species : torch.Tensor, shape (N,)
            Species indices.
        free : torch.Tensor, shape (K, F), optional
            Features of an atom without neighbours, one row per species.
        coordination : torch.Tensor, shape (N,), optional
            Summed cutoff envelope of each atom's edges; needed with ``free``.

        Returns
        -------
        torch.Tensor, shape (N,), float64
            eV.
        """
        out = self.mlp(x[:, : self.num_scalars]).squeeze(-1)
        if free is None or coordination is None:
            energy = self.scale * out + self.shift
        else:
            # a one-hot product, not an index: its gradient is a product too, where the
            # scatter of an index's gradient into one species fails to compile (torch
            # 2.13, CPU, float64)
            onehot = torch.nn.functional.one_hot(species, free.shape[0]).to(out.dtype)
            alone = onehot @ self.mlp(free[:, : self.num_scalars]).squeeze(-1)
            energy = self.scale * (out - alone) + self.shift * coordination
        e0 = self.atomic_energies.index_select(0, species)
        return energy.to(torch.float64) + e0.to(torch.float64)
