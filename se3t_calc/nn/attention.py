"""SE(3)-equivariant multi-head attention layer (SE(3)-Transformer style)."""

from __future__ import annotations

import math
from typing import cast

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3

from se3t_calc.nn.edge_frame import EdgeFrameConvolution
from se3t_calc.nn.gate import Gate
from se3t_calc.nn.layout import HeadLayout, QueryKeyPairing
from se3t_calc.nn.linear import Linear
from se3t_calc.nn.tensor_product import EdgeTensorProduct


class EquivariantAttention(torch.nn.Module):
    """One attention layer over a neighbour graph.

    For every centre atom ``i`` and neighbour ``j``::

        q_i          = Linear(f_i)                                (per head)
        k_ij, v_ij   = TP(Linear(f_j), Y(r_ij); w = MLP(basis))
        logit_ij     = <q_i, k_ij> / sqrt(dim)   or   MLP(<q_i, k_ij>_path)
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
    radial_layers : int
        Hidden layers of the radial MLPs.
    sqrt_alpha : bool
        Weight values by ``sqrt(alpha)`` rather than ``alpha``.
    gate : bool
        Apply an equivariant gate at the output.
    attention_hidden : int
        With ``0`` the logit of a head is its scaled query-key dot product; otherwise
        an MLP of this hidden width maps the head's per-channel, per-block dot products
        (invariants) to the logit.
    convolution : {"tensor_product", "so2"}
        How keys and values couple the neighbour's features with the edge:
        :class:`~se3t_calc.nn.tensor_product.EdgeTensorProduct` (one block per path) or
        :class:`~se3t_calc.nn.edge_frame.EdgeFrameConvolution` (the same product in the
        edge's frame, paths into one irrep summed: one block per irrep).
    """

    key_path_index: torch.Tensor

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
        attention_hidden: int = 0,
        convolution: str = "tensor_product",
        radial_layers: int = 1,
    ):
        super().__init__()
        self.num_heads = len(head_invariants)
        self.head_channels = head_channels
        self.sqrt_alpha = sqrt_alpha
        channels = self.num_heads * head_channels
        ls = [ir for _, ir in o3.Irreps(irreps_in).simplify()]
        targets = {ir for _, ir in irreps_out}
        # channel index: (key/value, head, channel)
        self.expand = Linear(irreps_in, o3.Irreps([(2 * channels, ir) for ir in ls]))
        self.expand_dims = [2 * channels * ir.dim for ir in ls]
        key_irreps = targets & set(ls)
        # with the edge frame keys and values are one product of 2C channels, the radial
        # weights acting inside it; with the tensor product a key path's weight scales its
        # query-key product, so keys are computed unweighted
        self.tp: EdgeFrameConvolution | EdgeTensorProduct
        self.tp_key: EdgeTensorProduct | None
        if convolution == "so2":
            self.tp = EdgeFrameConvolution(ls, 2 * channels, irreps_sh, targets)
            self.tp_key = None
        else:
            self.tp = EdgeTensorProduct(ls, irreps_sh, targets)
            self.tp_key = EdgeTensorProduct(ls, irreps_sh, key_irreps)
        # where every value path is a key path (all but a first layer of scalar inputs), one
        # product gives both
        self.keys_with_values = self.tp_key is not None and self.tp_key.paths == self.tp.paths
        self.layout = HeadLayout(self.tp.blocks, channels)
        self.pairing = QueryKeyPairing(
            self.tp, key_irreps, self.layout, channels, scaled=attention_hidden > 0
        )
        key_paths = [p for p, (_, _, ir3) in enumerate(self.tp.paths) if ir3 in key_irreps]
        self.register_buffer("key_path_index", torch.tensor(key_paths), persistent=False)
        self.query = Linear(irreps_in, self.layout.irreps_heads)
        # <q, k> is normalised as for keys with every block (the missing ones add zero)
        self.logit_scale = 1.0 / math.sqrt(head_channels * self.tp.dim)
        self.logit_mlp = (
            LogitMLP(len(self.pairing.key_blocks), self.num_heads, head_channels, attention_hidden)
            if attention_hidden > 0
            else None
        )
        # heads sharing an invariant share one radial MLP; groups follow the head order. Each
        # emits, per channel, a weight for every value path and for every key path
        self.groups = _contiguous_groups(head_invariants)
        per_channel = self.tp.num_paths + len(key_paths)
        self.radial = torch.nn.ModuleList(
            e3nn_nn.FullyConnectedNet(
                [num_basis, *[radial_hidden] * radial_layers, per_channel * n * head_channels],
                torch.nn.functional.silu,
            )
            for _, n in self.groups
        )
        self.output = _OutputBlock(irreps_in, self.layout.irreps_heads, o3.Irreps(irreps_out), gate)
        self.irreps_out = self.output.irreps_out

    def forward(
        self,
        x: torch.Tensor,
        geometry: torch.Tensor,
        basis: dict[str, torch.Tensor],
        log_env: torch.Tensor,
        edge_index: torch.Tensor,
    ) -> torch.Tensor:
        """Update node features.

        Parameters
        ----------
        x : torch.Tensor, shape (N, irreps_in.dim)
            Node features.
        geometry : torch.Tensor
            Spherical harmonics of the edge directions (E, irreps_sh.dim), or with the
            edge frame its rotations (E, D, D) of :class:`~se3t_calc.nn.edge_frame.EdgeFrames`.
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
        value_weights, key_weights = self.radial_weights(basis, log_env.shape[0])
        key, value = self.keys_values(self.expand(x), geometry, key_weights, value_weights, neighbour)
        logits = self.logits(self.query(x), key, key_weights, centre)
        weight = attention_weights(logits, log_env, centre, x.shape[0], self.sqrt_alpha)
        if self.tp_key is None:
            value = self._per_channel(weight, value)
        else:
            # a head's attention weight scales the weights of its value paths (E, C, paths)
            # rather than the values (E, C, S): one pass over the values fewer, each way
            value = cast(EdgeTensorProduct, self.tp).weigh(value, self._per_channel(weight, value_weights))
        return self.output(x, self.aggregate(value, centre, x.shape[0]))

    def radial_weights(
        self, basis: dict[str, torch.Tensor], num_edges: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-edge weights of the value paths (E, C, paths) and of the key paths (E, C, key
        paths), ``C`` ordered (head, channel), from one radial MLP per group of heads."""
        paths = [self.tp.num_paths, self.key_path_index.shape[0]]
        weights = torch.cat(
            [
                mlp(basis[inv]).view(num_edges, sum(paths), n * self.head_channels)
                for (inv, n), mlp in zip(self.groups, self.radial, strict=True)
            ],
            dim=-1,
        )
        value, key = weights.split(paths, dim=1)
        # contiguous: with the transposed view, inductor (torch 2.13, CPU) got the gradient
        # of the key weights wrong (right energies, wrong forces under torch.compile)
        return value.transpose(1, 2), key.transpose(1, 2).contiguous()

    def keys_values(
        self,
        expanded: torch.Tensor,
        geometry: torch.Tensor,
        key_weights: torch.Tensor,
        value_weights: torch.Tensor,
        neighbour: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys (E, C, K) and values (E, C, S) of the edges, in edge layout, from the expanded
        node features (N, sum_l 2C dim(l)); with the tensor product both unweighted, with the
        edge frame both weighted by the radial weights."""
        if self.tp_key is None:
            return self._frame_keys_values(expanded, geometry, key_weights, value_weights, neighbour)
        if self.keys_with_values:
            # keys and values have the same paths: one product of the 2C channels
            both = self.tp(expanded.index_select(0, neighbour), geometry)
            key, value = both.chunk(2, dim=1)
            return key, value
        key_x, value_x = self._split_key_value(expanded)
        key = self.tp_key(key_x.index_select(0, neighbour), geometry)
        return key, self.tp(value_x.index_select(0, neighbour), geometry)

    def _frame_keys_values(
        self,
        expanded: torch.Tensor,
        geometry: torch.Tensor,
        key_weights: torch.Tensor,
        value_weights: torch.Tensor,
        neighbour: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`keys_values` by the edge-frame convolution: one product of 2C channels, the
        radial weights acting inside it."""
        # the key weights of the key paths, zero for the others; channels (key/value, head, channel)
        keys = value_weights.new_zeros(value_weights.shape).index_copy(2, self.key_path_index, key_weights)
        frames = cast(EdgeFrameConvolution, self.tp)
        both = frames(
            frames.edge_layout(expanded).index_select(0, neighbour),
            geometry,
            torch.cat([keys, value_weights], dim=1),
        )
        key, value = both.chunk(2, dim=1)
        return key.index_select(2, self.pairing.key_columns), value

    def logits(
        self, query: torch.Tensor, key: torch.Tensor, key_weights: torch.Tensor, centre: torch.Tensor
    ) -> torch.Tensor:
        """Attention logits (E, H) from the queries (N, irreps of the heads) of the centres and
        the keys (E, C, K) of the edges, weighted per path by their radial weights."""
        num_edges = key.shape[0]
        query = query.index_select(1, self.pairing.query_index).index_select(0, centre)
        per_block = (query.view_as(key) * key) @ self.pairing.path_sum.to(key.dtype)
        if self.tp_key is not None:
            # <q, k> sums q * k over channels, paths and components, and the weight of a
            # key is one per channel and path: it multiplies the sum over a path's
            # components rather than every component of the key
            per_block = per_block * key_weights
        blocks = len(self.pairing.key_blocks)
        per_block = per_block.view(num_edges, self.num_heads, self.head_channels, blocks)
        if self.logit_mlp is None:
            return per_block.sum((-1, -2)) * self.logit_scale
        return self.logit_mlp(per_block)

    def aggregate(self, value: torch.Tensor, centre: torch.Tensor, num_nodes: int) -> torch.Tensor:
        """Messages ``m_i = sum_j v_ij`` (N, irreps of the heads), e3nn layout, from the values
        (E, C, S) already weighted by attention."""
        flat = value.flatten(1)
        messages = torch.zeros((num_nodes, flat.shape[1]), dtype=value.dtype, device=value.device)
        return self.layout.to_e3nn(messages.index_add(0, centre, flat))

    def _per_channel(self, weight: torch.Tensor, edge_tensor: torch.Tensor) -> torch.Tensor:
        """``edge_tensor`` (E, C, X) with channels (head, channel) scaled by the weight (E, H)
        of each channel's head."""
        heads = edge_tensor.unflatten(1, (self.num_heads, self.head_channels))
        return (heads * weight[:, :, None, None]).flatten(1, 2)

    def _split_key_value(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Expanded features (N, sum_l 2C dim(l)) -> key and value inputs, each (N, sum_l C dim(l))."""
        halves = [b.view(x.shape[0], 2, -1).unbind(1) for b in x.split(self.expand_dims, dim=1)]
        return torch.cat([k for k, _ in halves], dim=1), torch.cat([v for _, v in halves], dim=1)


class LogitMLP(torch.nn.Module):
    """Attention logits from the invariant query-key products of each path, by an MLP per head.

    The dot product of a query and a key sums ``q_m k_m`` over every channel, block and
    component ``m``; the sums over the components of one block and channel alone are
    already invariant. The attention layer keeps them apart, ``z[e, h, c, p]`` (scaled
    by ``1 / sqrt(dim(l3_p))``), and this block maps them to a logit with
    ``w2 . silu(W1 z)``, one ``(W1, w2)`` per head. Smooth, so forces stay continuous.

    Parameters
    ----------
    num_paths : int
        Blocks of the keys (paths of a tensor product, irreps of an edge-frame convolution).
    num_heads, head_channels : int
    hidden : int
        Hidden width of the MLP.
    """

    def __init__(self, num_paths: int, num_heads: int, head_channels: int, hidden: int):
        super().__init__()
        features = head_channels * num_paths
        self.w1 = torch.nn.Parameter(torch.randn(num_heads, features, hidden) / math.sqrt(features))
        self.w2 = torch.nn.Parameter(torch.randn(num_heads, hidden) / math.sqrt(hidden))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Logits (E, H) from the per-path invariants ``z`` (E, H, head_channels, num_paths)."""
        hidden = torch.nn.functional.silu(torch.einsum("ehf,hfa->eha", z.flatten(2), self.w1))
        return torch.einsum("eha,ha->eh", hidden, self.w2)


def _contiguous_groups(head_invariants: tuple[str, ...]) -> list[tuple[str, int]]:
    """Runs of equal invariants in head order, e.g. (r, r, inverse) -> [(r, 2), (inverse, 1)]."""
    groups: list[tuple[str, int]] = []
    for inv in head_invariants:
        if groups and groups[-1][0] == inv:
            groups[-1] = (inv, groups[-1][1] + 1)
        else:
            groups.append((inv, 1))
    return groups


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
    """Mix the concatenated heads, add the self-interaction, apply the nonlinearity."""

    def __init__(self, irreps_in: o3.Irreps, irreps_heads: o3.Irreps, irreps_out: o3.Irreps, gate: bool):
        super().__init__()
        scalars = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l == 0])
        gated = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l > 0])
        self.irreps_out = irreps_out
        irreps_mid = irreps_out
        if not gate:
            self.act = None
        elif gated.num_irreps == 0:
            self.act = e3nn_nn.Activation(scalars, [torch.nn.functional.silu])
        else:
            gates = o3.Irreps(f"{gated.num_irreps}x0e")
            self.act = Gate(scalars, [torch.nn.functional.silu], gates, [torch.sigmoid], gated)
            irreps_mid = self.act.irreps_in
        self.mix = Linear(irreps_heads, irreps_mid)
        self.self_interaction = Linear(irreps_in, irreps_mid)

    def forward(self, x: torch.Tensor, messages: torch.Tensor) -> torch.Tensor:
        y = self.mix(messages) + self.self_interaction(x)
        return self.act(y) if self.act is not None else y
