"""Equivariant building blocks, one per module."""

from se3t_calc.nn.attention import EquivariantAttention
from se3t_calc.nn.embedding import SpeciesEmbedding
from se3t_calc.nn.radial import RadialEmbedding
from se3t_calc.nn.readout import EnergyReadout
from se3t_calc.nn.repulsion import ZBLRepulsion

__all__ = ["EnergyReadout", "EquivariantAttention", "RadialEmbedding", "SpeciesEmbedding", "ZBLRepulsion"]
