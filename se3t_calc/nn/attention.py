"""SE(3)-equivariant multi-head attention layer (SE(3)-Transformer style)."""

from __future__ import annotations

import math

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3

from se3t_calc.nn.layout import HeadLayout


class EquivariantAttention(torch.nn.Module):
    """One attention layer over a neighbour graph.

    For every centre atom ``i`` and neighbour ``j``::

        q_i          = Linear(f_i)                                (per head)
        k_ij ⊕ v_ij  = TP(Linear(f_j), Y(r_ij); w = MLP(basis))   (one fused TP)
        logit_ij     = <q_i, k_ij> / sqrt(dim)
        alpha_ij     = w_cut(r_ij) exp(logit_ij) / sum_j' w_cut(r_ij') exp(logit_ij')
        m_i          = sum_j sqrt(alpha_ij) v_ij
        f_i'         = Gate(Mix(concat_heads m_i) + SelfInteraction(f_i))

    Parameters
    ----------
    irreps_in, irreps_out : o3.Irreps
        Node feature irreps before and after the layer.
    irreps_sh : o3.Irreps
        Irreps of the spherical harmonics of edge directions.
    head_invariants : tuple of str
        Distance invariant (``"r"`` or ``"inverse"``) of each head.
    head_channels : int
        Channels per irrep and head in queries, keys and values.
    num_basis, radial_hidden : int
        Input and hidden widths of the radial MLPs.
    sqrt_alpha : bool
        Weight values by ``sqrt(alpha)`` rather than ``alpha``.
    gate : bool
        Apply an equivariant gate at the output.
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_out: o3.Irreps,
        irreps_sh: o3.Irreps,
        *,
        head_invariants: tuple[str, ...],
        head_channels: int,
        num_basis: int,
        radial_hidden: int,
        sqrt_alpha: bool,
        gate: bool,
    ):
        super().__init__()
        num_heads = len(head_invariants)
        self.sqrt_alpha = sqrt_alpha
        kv_channels = 2 * num_heads * head_channels
        irreps_expand = o3.Irreps([(kv_channels, ir) for _, ir in o3.Irreps(irreps_in).simplify()])
        targets = {ir for _, ir in irreps_out}
        blocks, instructions = [], []
        for i1, (_, ir1) in enumerate(irreps_expand):
            for i2, (_, ir2) in enumerate(irreps_sh):
                for ir3 in ir1 * ir2:
                    if ir3 in targets:
                        instructions.append((i1, i2, len(blocks), "uvu", True))
                        blocks.append(ir3)
        self.layout = HeadLayout(blocks, num_heads, head_channels, head_invariants)
        self.expand = o3.Linear(irreps_in, irreps_expand)
        self.tp = o3.TensorProduct(
            irreps_expand,
            irreps_sh,
            o3.Irreps([(kv_channels, ir) for ir in blocks]),
            instructions,
            shared_weights=False,
            internal_weights=False,
        )
        self.query = o3.Linear(irreps_in, self.layout.irreps_heads)
        self.radial = torch.nn.ModuleDict(
            {
                inv: e3nn_nn.FullyConnectedNet(
                    [num_basis, radial_hidden, self.layout.radial_width(inv)], torch.nn.functional.silu
                )
                for inv in self.layout.invariants
            }
        )
        self.output = _OutputBlock(irreps_in, self.layout.irreps_heads, o3.Irreps(irreps_out), gate)
        self.irreps_out = self.output.irreps_out

    def forward(
        self,
        x: torch.Tensor,
        sh: torch.Tensor,
        basis: dict[str, torch.Tensor],
        log_env: torch.Tensor,
        edge_index: torch.Tensor,
    ) -> torch.Tensor:
        """Update node features.

        Parameters
        ----------
        x : torch.Tensor, shape (N, irreps_in.dim)
            Node features.
        sh : torch.Tensor, shape (E, irreps_sh.dim)
            Spherical harmonics of the edge directions.
        basis : dict of str to torch.Tensor, each (E, num_basis)
            Radial basis per distance invariant.
        log_env : torch.Tensor, shape (E,)
            Log of the cutoff envelope; ``-inf`` beyond the cutoff.
        edge_index : torch.Tensor, shape (2, E)
            Centre ``i`` and neighbour ``j`` of each edge.

        Returns
        -------
        torch.Tensor, shape (N, irreps_out.dim)
        """
        centre, neighbour = edge_index[0], edge_index[1]
        radial = torch.cat([self.radial[inv](basis[inv]) for inv in self.layout.invariants], dim=-1)
        weights = radial.index_select(1, self.layout.weight_index)
        kv = self.tp(self.expand(x).index_select(0, neighbour), sh, weights)
        key, value = self.layout.split_kv(kv)
        query = self.layout.heads(self.query(x)).index_select(0, centre)
        logits = (query * key).sum(-1) / math.sqrt(key.shape[-1])
        weight = attention_weights(logits, log_env, centre, x.shape[0], self.sqrt_alpha)
        messages = torch.zeros(
            (x.shape[0], *value.shape[1:]), dtype=value.dtype, device=value.device
        ).index_add_(0, centre, weight.unsqueeze(-1) * value)
        return self.output(x, self.layout.flat(messages))


def attention_weights(
    logits: torch.Tensor, log_env: torch.Tensor, centre: torch.Tensor, num_nodes: int, sqrt: bool
) -> torch.Tensor:
    """Softmax over each atom's neighbours, multiplied by the cutoff envelope.

    ``alpha_ij = w_ij exp(l_ij) / sum_j' w_ij' exp(l_ij')``, evaluated in log space
    after subtracting a per-atom maximum, so it never overflows. Atoms with no
    neighbour inside the cutoff get an empty sum and zero weights.

    Parameters
    ----------
    logits : torch.Tensor, shape (E, H)
    log_env : torch.Tensor, shape (E,)
        ``log w``; ``-inf`` for edges beyond the cutoff.
    centre : torch.Tensor, shape (E,)
        Centre atom of each edge.
    num_nodes : int
    sqrt : bool
        Return ``sqrt(alpha)`` instead of ``alpha``.

    Returns
    -------
    torch.Tensor, shape (E, H)
    """
    a = logits + log_env.unsqueeze(-1)
    index = centre.unsqueeze(-1).expand_as(a)
    peak = torch.full((num_nodes, a.shape[1]), -math.inf, dtype=a.dtype, device=a.device)
    peak = peak.scatter_reduce(0, index, a.detach(), reduce="amax", include_self=True)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    shifted = a - peak.index_select(0, centre)
    numerator = shifted.exp()
    denominator = torch.zeros_like(peak).index_add_(0, centre, numerator)
    denominator = torch.where(denominator > 0, denominator, torch.ones_like(denominator))
    denominator = denominator.index_select(0, centre)
    if sqrt:
        return (0.5 * shifted).exp() / denominator.sqrt()
    return numerator / denominator


class _OutputBlock(torch.nn.Module):
    """Mix the concatenated heads, add the self-interaction, apply the gate."""

    def __init__(self, irreps_in: o3.Irreps, irreps_heads: o3.Irreps, irreps_out: o3.Irreps, gate: bool):
        super().__init__()
        if gate:
            scalars = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l == 0])
            gated = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l > 0])
            gates = o3.Irreps(f"{gated.num_irreps}x0e")
            self.gate = e3nn_nn.Gate(scalars, [torch.nn.functional.silu], gates, [torch.sigmoid], gated)
            irreps_mid = self.gate.irreps_in
            self.irreps_out = self.gate.irreps_out
        else:
            self.gate = None
            irreps_mid = self.irreps_out = irreps_out
        self.mix = o3.Linear(irreps_heads, irreps_mid)
        self.self_interaction = o3.Linear(irreps_in, irreps_mid)

    def forward(self, x: torch.Tensor, messages: torch.Tensor) -> torch.Tensor:
        y = self.mix(messages) + self.self_interaction(x)
        return self.gate(y) if self.gate is not None else y
