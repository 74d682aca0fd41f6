"""Equivariant linear map between irreps: e3nn's ``o3.Linear`` in fewer operations."""

from __future__ import annotations

import itertools
import math

import torch
from e3nn import o3


class Linear(torch.nn.Module):
    """``y = x W`` mixing the channels of each irrep, as ``e3nn.o3.Linear`` with its defaults.

    Every input irrep is connected to every output irrep of the same type, without
    biases, each output normalised by ``1 / sqrt(fan-in)``. The parameters are e3nn's
    (a flat ``weight`` in e3nn's instruction order, an empty ``bias``, the buffer
    ``output_mask``), so model files are read by either. The map differs in how it is
    evaluated: e3nn runs one ``einsum`` per pair of irreps, with its reshapes and
    transposes (about 75 operations in the forward pass for four irreps); here the
    input blocks of one irrep type meet one matrix ``(fan-in, fan-out)`` in one matrix
    product (about 30). The number of operations, not arithmetic, sets the time of a
    small molecule's call.

    Parameters
    ----------
    irreps_in, irreps_out : o3.Irreps
        Input and output irreps, in any order; irreps may repeat.

    Attributes
    ----------
    weight : torch.nn.Parameter, shape (weight_numel,)
        The ``(mul_in, mul_out)`` matrix of every connected pair, e3nn's order.
    """

    output_mask: torch.Tensor
    gather_weight: torch.Tensor
    gather_input: torch.Tensor
    scatter_output: torch.Tensor

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps):
        super().__init__()
        self.irreps_in, self.irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        # plain ints for the forward: torch.compile cannot guard on e3nn's Irreps
        self.dim_in, self.dim_out = self.irreps_in.dim, self.irreps_out.dim
        pairs = [
            (i, o)
            for i, (_, ir_in) in enumerate(self.irreps_in)
            for o, (_, ir_out) in enumerate(self.irreps_out)
            if ir_in == ir_out
        ]
        sizes = [self.irreps_in[i].mul * self.irreps_out[o].mul for i, o in pairs]
        self.weight_numel = sum(sizes)
        self.weight = torch.nn.Parameter(torch.randn(self.weight_numel))
        self.bias = torch.nn.Parameter(torch.zeros(0))
        self.register_buffer("output_mask", _output_mask(self.irreps_in, self.irreps_out))
        # the irrep types met by both sides: each is one matrix product
        self.types = sorted({ir for _, ir in self.irreps_in} & {ir for _, ir in self.irreps_out})
        fan_in = [sum(m for m, ir in self.irreps_in if ir == t) for t in self.types]
        fan_out = [sum(m for m, ir in self.irreps_out if ir == t) for t in self.types]
        self.shapes = list(zip(fan_in, fan_out, [t.dim for t in self.types], strict=True))
        self.unmet = self.dim_out - sum(n * d for _, n, d in self.shapes)  # outputs no input reaches
        starts = list(itertools.accumulate(sizes, initial=0))
        self.register_buffer("gather_weight", self._weight_order(pairs, starts), persistent=False)
        self.weight_sorted = bool(torch.equal(self.gather_weight, torch.arange(self.weight_numel)))
        self.register_buffer("gather_input", _grouped_columns(self.irreps_in, self.types), persistent=False)
        self.register_buffer("scatter_output", self._output_order(), persistent=False)
        self.input_sorted = bool(torch.equal(self.gather_input, torch.arange(self.dim_in)))
        self.output_sorted = bool(torch.equal(self.scatter_output, torch.arange(self.dim_out)))

    def _weight_order(self, pairs: list[tuple[int, int]], starts: list[int]) -> torch.Tensor:
        """Index into ``weight`` of every entry of the per-type matrices, concatenated."""
        index = []
        for t in self.types:
            ins = [i for i, (_, ir) in enumerate(self.irreps_in) if ir == t]
            outs = [o for o, (_, ir) in enumerate(self.irreps_out) if ir == t]
            rows = []
            for i in ins:  # (mul_in, fan_out) row block of input i
                blocks = [
                    starts[pairs.index((i, o))]
                    + torch.arange(self.irreps_in[i].mul * self.irreps_out[o].mul).view(
                        self.irreps_in[i].mul, self.irreps_out[o].mul
                    )
                    for o in outs
                ]
                rows.append(torch.cat(blocks, dim=1))
            index.append(torch.cat(rows, dim=0).reshape(-1))
        return torch.cat(index) if index else torch.zeros(0, dtype=torch.long)

    def _output_order(self) -> torch.Tensor:
        """Column of every output entry among the products of the types (then zeros) in order."""
        produced = _grouped_columns(self.irreps_out, self.types)
        unmet = [
            s
            for s, (_, ir) in zip(self.irreps_out.slices(), self.irreps_out, strict=True)
            if ir not in self.types
        ]
        columns = torch.cat([produced, *(torch.arange(s.start, s.stop) for s in unmet)])
        return torch.argsort(columns)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., irreps_in.dim)`` -> ``(..., irreps_out.dim)``."""
        lead = x.shape[:-1]
        x = x.reshape(-1, self.dim_in)
        if not self.input_sorted:
            x = x.index_select(1, self.gather_input)
        weights = self.weight if self.weight_sorted else self.weight.index_select(0, self.gather_weight)
        x_blocks = x.split([m * d for m, _, d in self.shapes], dim=1)
        w_blocks = weights.split([m * n for m, n, _ in self.shapes])
        outputs = []
        for xb, wb, (m, n, d) in zip(x_blocks, w_blocks, self.shapes, strict=True):
            w = wb.view(m, n) * (1.0 / math.sqrt(m))  # e3nn's normalisation by the fan-in
            if d == 1:
                outputs.append(xb @ w)
            else:
                outputs.append((xb.reshape(-1, m, d).transpose(1, 2) @ w).transpose(1, 2).reshape(-1, n * d))
        if self.unmet:
            outputs.append(x.new_zeros(x.shape[0], self.unmet))
        y = torch.cat(outputs, dim=1) if len(outputs) > 1 else outputs[0]
        if not self.output_sorted:
            y = y.index_select(1, self.scatter_output)
        return y.reshape(*lead, self.dim_out)


def _output_mask(irreps_in: o3.Irreps, irreps_out: o3.Irreps) -> torch.Tensor:
    """1 for every output entry that some input reaches, 0 elsewhere (e3nn's buffer)."""
    types_in = {ir for m, ir in irreps_in if m > 0}
    return torch.cat(
        [torch.full((m * ir.dim,), float(ir in types_in)) for m, ir in irreps_out] or [torch.zeros(0)]
    )


def _grouped_columns(irreps: o3.Irreps, types: list) -> torch.Tensor:
    """Columns of ``irreps`` (e3nn layout) of each type in ``types``, blocks of a type in order."""
    slices = list(zip(irreps.slices(), irreps, strict=True))
    cols = [torch.arange(s.start, s.stop) for t in types for s, (_, ir) in slices if ir == t]
    return torch.cat(cols) if cols else torch.zeros(0, dtype=torch.long)
