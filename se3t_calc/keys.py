"""Field names of the graph dictionary passed between modules.

Shapes use ``N`` atoms, ``E`` edges and ``B`` structures in a batch. Lengths are in
Å and energies in eV.
"""

from typing import Final

POSITIONS: Final[str] = "positions"  # (N, 3) float, Å
SPECIES: Final[str] = "species"  # (N,) int64, index into ModelConfig.species
BATCH: Final[str] = "batch"  # (N,) int64, structure index of each atom
CELL: Final[str] = "cell"  # (B, 3, 3) float, lattice vectors as rows, Å
PBC: Final[str] = "pbc"  # (B, 3) bool, periodic directions
EDGE_INDEX: Final[str] = "edge_index"  # (2, E) int64, (centre i, neighbour j)
CELL_SHIFTS: Final[str] = "cell_shifts"  # (E, 3) float, integer lattice shifts S (whole numbers)
# edge vector r_ij = positions[j] - positions[i] + S @ cell, pointing from i to j
EDGE_VECTORS: Final[str] = "edge_vectors"  # (E, 3) float, r_ij in Å, given by an MD engine; replaces
# positions and cell shifts in the edge vectors (positions are then only read for N and the dtype)
# written by atoms_to_graph (the batch API) only, so that a model refuses a graph built for another
ATOMIC_NUMBERS: Final[str] = "atomic_numbers"  # (N,) int64, the element of each atom
CUTOFF: Final[str] = "cutoff"  # () float, Å, the cutoff of the neighbour lists

NODE_ENERGY: Final[str] = "node_energy"  # (N,) float64 whatever the model dtype, per-atom energies, eV
TOTAL_ENERGY: Final[str] = "total_energy"  # (B,) float64, eV
FORCES: Final[str] = "forces"  # (N, 3) float, eV/Å
VIRIAL: Final[str] = "virial"  # (B, 3, 3) float, -dE/d(strain), eV
STRESS: Final[str] = "stress"  # (B, 3, 3) float, dE/d(strain) / volume, eV/Å^3
# for pair lists given by their vectors r_ij (MD engines): energy of the engine's local atoms
ENERGY: Final[str] = "energy"  # () float64, eV
EDGE_GRADIENT: Final[str] = "edge_gradient"  # (E, 3) float, dE/dr_ij, eV/Å

# reference labels of a training batch
REF_ENERGY: Final[str] = "ref_energy"  # (B,) float, eV, minus the per-element reference energies
REF_FORCES: Final[str] = "ref_forces"  # (N, 3) float, eV/Å
REF_STRESS: Final[str] = "ref_stress"  # (B, 3, 3) float, eV/Å^3; zeros where absent
HAS_STRESS: Final[str] = "has_stress"  # (B,) bool, structure carries a stress label
NUM_ATOMS: Final[str] = "num_atoms"  # (B,) int64, atoms per structure

# a committee of models (se3t_calc.committee): M members, each member's own prediction
MEMBER_ENERGY: Final[str] = "member_energy"  # (M, B) float64, eV
MEMBER_FORCES: Final[str] = "member_forces"  # (M, N, 3) float, eV/Å
MEMBER_STRESS: Final[str] = "member_stress"  # (M, B, 3, 3) float, eV/Å^3
