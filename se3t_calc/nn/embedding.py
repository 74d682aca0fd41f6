"""Species embedding: one-hot over the model's species -> scalar features."""

from __future__ import annotations

import torch
from e3nn import o3

from se3t_calc.nn.linear import Linear


class SpeciesEmbedding(torch.nn.Module):
    """Map species indices to ``num_scalars x 0e`` node features.

    Parameters
    ----------
    num_species : int
        Number of species of the model.
    num_scalars : int
        Width of the scalar features.
    """

    def __init__(self, num_species: int, num_scalars: int):
        super().__init__()
        self.num_species = num_species
        self.irreps_out = o3.Irreps(f"{num_scalars}x0e")
        self.linear = Linear(o3.Irreps(f"{num_species}x0e"), self.irreps_out)

    def forward(self, species: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``(N,)`` int64 species indices -> ``(N, num_scalars)`` features."""
        one_hot = torch.nn.functional.one_hot(species, self.num_species).to(dtype)
        return self.linear(one_hot)
