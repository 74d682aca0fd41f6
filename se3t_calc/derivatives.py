"""Forces, virial and stress by automatic differentiation: the one place they are made."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from se3t_calc import keys


def energy_and_derivatives(
    model: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
    data: dict[str, torch.Tensor],
    *,
    compute_stress: bool = False,
    training: bool = False,
) -> dict[str, torch.Tensor]:
    """Evaluate ``model`` and differentiate its total energy.

    Forces are ``-dE/dpositions``. With ``compute_stress`` a symmetric strain
    ``eps`` (B, 3, 3) deforms positions and cell as ``x -> x (1 + eps)``; the
    virial is ``-dE/deps`` and the stress ``dE/deps / volume`` (ASE's sign).

    Parameters
    ----------
    model : callable
        Module (or compiled module) that maps a graph to a dict with ``total_energy`` (B,), eV.
    data : dict of str to torch.Tensor
        Graph, see :mod:`se3t_calc.keys`.
    compute_stress : bool
        Also return ``virial`` and ``stress``. Stress is defined only for 3-D
        periodic cells: for other structures of the batch its entries are NaN
        (the virial is returned for all).
    training : bool
        Keep the graph of the derivatives so that losses on forces can be
        back-propagated to the parameters.

    Returns
    -------
    dict of str to torch.Tensor
        Model outputs plus ``forces`` (N, 3) eV/Å and, with stress, ``virial``
        (B, 3, 3) eV and ``stress`` (B, 3, 3) eV/Å^3. For a committee
        (:class:`se3t_calc.committee.Committee`) the means over members, and each
        member's ``member_energy`` (M, B), ``member_forces`` (M, N, 3) and
        ``member_stress`` (M, B, 3, 3).
    """
    members = getattr(model, "members", None)  # a committee (or a compiled one)
    if members is not None:
        return _committee_derivatives(members, data, compute_stress, training)
    positions = data[keys.POSITIONS].detach().requires_grad_(True)
    inputs = [positions]
    data = {**data, keys.POSITIONS: positions}
    if compute_stress:
        cell = data[keys.CELL]
        strain = torch.zeros_like(cell, requires_grad=True)
        inputs.append(strain)
        data = _apply_strain(data, strain)
    out = model(data)
    grads = torch.autograd.grad(
        out[keys.TOTAL_ENERGY].sum(), inputs, create_graph=training, allow_unused=True
    )
    out[keys.FORCES] = _zero_if_none(grads[0], positions).neg()
    if compute_stress:
        out[keys.VIRIAL], out[keys.STRESS] = _virial_stress(_zero_if_none(grads[1], inputs[1]), data)
    return out


def _virial_stress(
    d_strain: torch.Tensor, data: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Virial and stress, each (..., B, 3, 3), from ``dE/d(strain)`` of the strained graph ``data``."""
    volume = cell_volume(data[keys.CELL]).view(-1, 1, 1)
    volume = torch.where(volume > 0, volume, torch.ones_like(volume))  # molecules: no stress
    stress = d_strain / volume
    if keys.PBC in data:  # graphs without it (the calculator's) hold 3-D periodic cells only
        periodic = data[keys.PBC].all(dim=1).view(-1, 1, 1)
        stress = torch.where(periodic, stress, torch.nan)
    return -d_strain, stress


def _committee_derivatives(
    members: Sequence[torch.nn.Module], data: dict[str, torch.Tensor], compute_stress: bool, training: bool
) -> dict[str, torch.Tensor]:
    """Every member's energy, forces (and stress) on ``data``, and their means over members.

    Each member is differentiated on its own: a backward pass through stacked member
    energies would send zero gradients through every other member's graph.
    """
    outs = [
        energy_and_derivatives(m, data, compute_stress=compute_stress, training=training) for m in members
    ]

    def stacked(key: str) -> torch.Tensor:
        return torch.stack([out[key] for out in outs])

    out = {**data, keys.MEMBER_ENERGY: stacked(keys.TOTAL_ENERGY), keys.MEMBER_FORCES: stacked(keys.FORCES)}
    for key in (keys.TOTAL_ENERGY, keys.NODE_ENERGY, keys.FORCES):
        out[key] = stacked(key).mean(0)
    if compute_stress:
        out[keys.MEMBER_STRESS] = stacked(keys.STRESS)
        out[keys.STRESS], out[keys.VIRIAL] = out[keys.MEMBER_STRESS].mean(0), stacked(keys.VIRIAL).mean(0)
    return out


def cell_volume(cell: torch.Tensor) -> torch.Tensor:
    """Volumes (B,) in Å^3 of cells (B, 3, 3) as ``|(a x b) . c|``.

    A cross product rather than ``torch.linalg.det``, which on CUDA goes through a
    factorisation that synchronises with the host and cannot be captured in a CUDA graph.
    """
    a, b, c = cell.unbind(1)
    return (torch.linalg.cross(a, b) * c).sum(-1).abs()


def _apply_strain(data: dict[str, torch.Tensor], strain: torch.Tensor) -> dict[str, torch.Tensor]:
    symmetric = 0.5 * (strain + strain.transpose(1, 2))
    pos = data[keys.POSITIONS]
    per_atom = symmetric.index_select(0, data[keys.BATCH])
    return {
        **data,
        keys.POSITIONS: pos + torch.einsum("ni,nij->nj", pos, per_atom),
        keys.CELL: data[keys.CELL] + torch.bmm(data[keys.CELL], symmetric),
    }


def _zero_if_none(grad: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(like) if grad is None else grad


def energy_and_edge_gradients(
    model: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
    data: dict[str, torch.Tensor],
    *,
    num_energy_atoms: int | None = None,
) -> dict[str, torch.Tensor]:
    """Evaluate ``model`` on a graph given by its edge vectors and differentiate with respect to them.

    For pair lists handed over by an MD engine, which gives the vector ``r_ij`` of every
    pair rather than positions and cell shifts. The energy differentiated is the sum of the
    per-atom energies of the first ``num_energy_atoms`` atoms (an engine's local atoms; the
    others are the copies it holds of its neighbours' atoms).

    Parameters
    ----------
    model : callable
        As for :func:`energy_and_derivatives`.
    data : dict of str to torch.Tensor
        Graph, see :mod:`se3t_calc.keys`, with ``edge_vectors`` (E, 3) Å.
    num_energy_atoms : int, optional
        Default: all atoms.

    Returns
    -------
    dict of str to torch.Tensor
        Model outputs plus ``energy`` (scalar, eV, of those atoms) and ``edge_gradient``
        (E, 3) eV/Å, ``dE/dr_ij`` of each edge.

    Raises
    ------
    ValueError
        No ``edge_vectors`` in the graph.
    """
    if keys.EDGE_VECTORS not in data:
        raise ValueError("a graph given by its edge vectors needs them under keys.EDGE_VECTORS")
    vectors = data[keys.EDGE_VECTORS].detach().requires_grad_(True)
    out = model({**data, keys.EDGE_VECTORS: vectors})
    energy = out[keys.NODE_ENERGY][:num_energy_atoms].sum()
    (gradient,) = torch.autograd.grad(energy, [vectors], allow_unused=True)
    out[keys.ENERGY] = energy.detach()
    out[keys.EDGE_GRADIENT] = _zero_if_none(gradient, vectors)
    return out
