"""The SE(3)-equivariant attention energy model: graph -> per-atom and total energy."""

from __future__ import annotations

import torch
from ase.data import atomic_numbers
from e3nn import o3

from se3t_calc import keys
from se3t_calc.config import ModelConfig
from se3t_calc.nn import (
    EnergyReadout,
    EquivariantAttention,
    RadialEmbedding,
    SpeciesEmbedding,
    ZBLRepulsion,
)
from se3t_calc.nn.edge_frame import EdgeFrames
from se3t_calc.nn.harmonics import SphericalHarmonics
from se3t_calc.nn.product import NodeProduct
from se3t_calc.nn.radial import edge_length_and_direction


class SE3TModel(torch.nn.Module):
    """Energy model built from :class:`ModelConfig`.

    Forward takes a graph dictionary (see :mod:`se3t_calc.keys`) and returns it
    with ``node_energy`` (N,) and ``total_energy`` (B,) in eV added. Edge vectors
    are formed here from positions, cell and integer shifts, so that gradients
    with respect to positions and cell reach every edge.

    With ``config.isolated_atom_limit`` the layers also run on one free atom per
    species (rows appended after the graph's atoms, with no edge), whose readout
    the energy of every atom is measured from; with ``config.zbl`` the ZBL pair
    repulsion is added to the per-atom energies.
    """

    free_species: torch.Tensor
    species_numbers: torch.Tensor

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.metadata: dict = {}  # free-form data read from a model file
        hidden = o3.Irreps(config.hidden_irreps).sort().irreps.simplify()
        num_scalars = sum(mul for mul, ir in hidden if ir.l == 0)
        self.sh = SphericalHarmonics(config.lmax)
        # rotations of the edge frames, for every degree of the features
        self.frames = EdgeFrames(hidden.lmax) if config.convolution == "so2" else None
        heads = config.head_invariants
        self.radial = RadialEmbedding(
            config.r_cut, config.r_min, config.num_basis, heads, kind=config.radial_basis
        )
        self.embedding = SpeciesEmbedding(len(config.species), num_scalars)
        layers: list[torch.nn.Module] = []
        products: list[torch.nn.Module] = []
        irreps = self.embedding.irreps_out
        scalars = o3.Irreps(f"{num_scalars}x0e")
        for k in range(config.num_layers):
            last = k == config.num_layers - 1
            # the readout uses scalars only, so the last layer computes nothing else,
            # unless a product follows it (its scalars include products of l > 0 features)
            with_product = config.product_channels > 0 and (not last or config.product_last)
            layer = EquivariantAttention(
                irreps,
                scalars if last and not with_product else hidden,
                self.sh.irreps_out,
                head_invariants=heads,
                head_channels=config.head_channels,
                num_basis=config.num_basis,
                radial_hidden=config.radial_hidden,
                radial_layers=config.radial_layers,
                sqrt_alpha=config.sqrt_alpha,
                gate=config.gate,
                attention_hidden=config.attention_hidden,
                convolution=config.convolution,
            )
            layers.append(layer)
            irreps = layer.irreps_out
            if with_product:
                products.append(_products(irreps, config.product_channels, config.product_depth))
            else:
                products.append(torch.nn.Identity())
        self.layers = torch.nn.ModuleList(layers)
        self.products = torch.nn.ModuleList(products)
        self.readout = EnergyReadout(num_scalars, config.readout_hidden, len(config.species))
        self.repulsion = ZBLRepulsion(config.species) if config.zbl else None
        self.register_buffer("free_species", torch.arange(len(config.species)), persistent=False)
        numbers = torch.tensor([atomic_numbers[s] for s in config.species])
        self.register_buffer("species_numbers", numbers, persistent=False)

    def forward(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Compute energies for a batch of structures.

        Parameters
        ----------
        data : dict of str to torch.Tensor
            Graph with ``positions``, ``species``, ``batch``, ``cell``,
            ``edge_index`` and ``cell_shifts``, or ``edge_vectors`` instead of the shifts.

        Returns
        -------
        dict of str to torch.Tensor
            ``data`` plus ``node_energy`` (N,) and ``total_energy`` (B,), eV.
        """
        pos = data[keys.POSITIONS]
        if pos.dtype != self.readout.scale.dtype:
            raise ValueError(
                f"the graph is in {pos.dtype} and the model in {self.readout.scale.dtype}: build the graph "
                "in the model's dtype (atoms_to_graph(..., dtype=...)) or cast the model (model.to(dtype))"
            )
        if keys.ATOMIC_NUMBERS in data:
            self._check_graph(data)
        species = data[keys.SPECIES]
        edge_index = data[keys.EDGE_INDEX]
        num_atoms = species.shape[0]
        length, direction = edge_length_and_direction(edge_vectors(data))
        geometry = self.sh(direction) if self.frames is None else self.frames(direction)
        basis, log_env = self.radial(length)
        x = self.embedding(species, pos.dtype)
        if self.config.isolated_atom_limit:  # one free atom per species, after the graph's atoms
            x = torch.cat([x, self.embedding(self.free_species, pos.dtype)])
        for layer, product in zip(self.layers, self.products, strict=True):
            x = product(layer(x, geometry, basis, log_env, edge_index))
        if self.config.isolated_atom_limit:
            coordination = _index_add(log_env.exp(), edge_index[0], num_atoms)
            node_energy = self.readout(x[:num_atoms], species, x[num_atoms:], coordination)
        else:
            node_energy = self.readout(x, species)
        if self.repulsion is not None:
            node_energy = node_energy + self.repulsion(length, species, edge_index, num_atoms).double()
        total = sum_per_graph(node_energy, data[keys.BATCH], data[keys.CELL].shape[0])
        return {**data, keys.NODE_ENERGY: node_energy, keys.TOTAL_ENERGY: total}

    def _check_graph(self, data: dict[str, torch.Tensor]) -> None:
        """Refuse a graph of :func:`~se3t_calc.atoms_to_graph` built with another species order
        or a shorter cutoff than this model's: its energies would be wrong without a word."""
        fix = "build it with atoms_to_graph(atoms, model.config.species, model.config.r_cut)"
        species = data[keys.SPECIES]
        same = bool(species.max() < len(self.config.species)) and torch.equal(
            self.species_numbers.index_select(0, species), data[keys.ATOMIC_NUMBERS]
        )
        if not same:
            raise ValueError(f"the graph's species indices are not those of {self.config.species}: {fix}")
        if float(data[keys.CUTOFF]) < self.config.r_cut:
            raise ValueError(
                f"the graph was built with a cutoff of {float(data[keys.CUTOFF]):g} Å, shorter than the "
                f"model's {self.config.r_cut:g} Å, so it lacks neighbours: {fix}"
            )


def _products(irreps: o3.Irreps, channels: int, depth: int) -> torch.nn.Module:
    """``depth`` node-wise products in sequence (one alone keeps its state-dict names)."""
    if depth == 1:
        return NodeProduct(irreps, channels)
    return torch.nn.Sequential(*(NodeProduct(irreps, channels) for _ in range(depth)))


def sum_per_graph(node_energy: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Per-structure sums (B,) of per-atom values (N,)."""
    if node_energy.device.type == "cpu":
        return _index_add_uncompiled(node_energy, batch, num_graphs)
    return _index_add(node_energy, batch, num_graphs)


def _index_add(node_energy: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    total = torch.zeros(num_graphs, dtype=node_energy.dtype, device=node_energy.device)
    return total.index_add(0, batch, node_energy)


# inductor (torch 2.13, CPU, 2+ threads) fails to generate this scatter
_index_add_uncompiled = torch.compiler.disable(_index_add)


def edge_vectors(data: dict[str, torch.Tensor]) -> torch.Tensor:
    """Edge vectors ``r_j - r_i + S @ cell`` in Å, shape (E, 3); those of the graph if it has
    ``edge_vectors`` (an MD engine's pair list)."""
    if keys.EDGE_VECTORS in data:
        return data[keys.EDGE_VECTORS]
    pos = data[keys.POSITIONS]
    centre, neighbour = data[keys.EDGE_INDEX][0], data[keys.EDGE_INDEX][1]
    cell = data[keys.CELL].index_select(0, data[keys.BATCH].index_select(0, centre))
    offsets = torch.einsum("ei,eij->ej", data[keys.CELL_SHIFTS], cell)
    return pos.index_select(0, neighbour) - pos.index_select(0, centre) + offsets
