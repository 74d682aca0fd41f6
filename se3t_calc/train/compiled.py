"""A compiled training step: energy and its derivatives as one twice-differentiable graph.

Training differentiates the forces, which are themselves a derivative of the energy.
``torch.compile`` cannot differentiate the backward pass it generates, so the eager
:func:`~se3t_calc.derivatives.energy_and_derivatives` with ``create_graph`` cannot be
compiled as it is. Here the whole map (parameters, graph) -> (energies, forces, stress)
is traced into plain ATen operations, the force computation included, and that graph
is compiled; the optimiser's gradient is then an ordinary first-order backward of it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import functional_call
from torch.fx.experimental import _config as fx_config
from torch.fx.experimental.proxy_tensor import make_fx

from se3t_calc import keys
from se3t_calc.derivatives import energy_and_derivatives
from se3t_calc.model import sum_per_graph

MODEL_INPUTS = (keys.POSITIONS, keys.SPECIES, keys.BATCH, keys.CELL, keys.EDGE_INDEX, keys.CELL_SHIFTS)


class CompiledDerivatives:
    """``energy_and_derivatives(model, batch, training=True)``, traced and compiled.

    The parameters and buffers are inputs of the graph, so the optimiser's updates are
    seen at every call. Shapes are symbolic: one graph serves every number of atoms,
    edges and structures, except that tracing fixes sizes 0 and 1, so a batch with a
    different pattern of such sizes (one structure, say) gets a graph of its own, as
    does a batch with stress.

    Parameters
    ----------
    model : torch.nn.Module
        Energy model on its training device and dtype.
    """

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self._graphs: dict[tuple, Callable] = {}

    def __call__(self, batch: dict[str, torch.Tensor], *, compute_stress: bool) -> dict[str, torch.Tensor]:
        """Energies (B,), forces (N, 3) and with ``compute_stress`` virial and stress (B, 3, 3).

        Parameters
        ----------
        batch : dict of str to torch.Tensor
            Graph, see :mod:`se3t_calc.keys` (``pbc`` too with ``compute_stress``).
        compute_stress : bool

        Returns
        -------
        dict of str to torch.Tensor
            ``total_energy`` (eV), ``forces`` (eV/Å) and with stress ``virial`` (eV) and
            ``stress`` (eV/Å^3), all differentiable with respect to the parameters.
        """
        names = MODEL_INPUTS + ((keys.PBC,) if compute_stress else ())
        tensors = [batch[name] for name in names]
        state = [*self.model.parameters(), *self.model.buffers()]
        key = (compute_stress, tuple(size <= 1 for t in tensors for size in t.shape))
        if key not in self._graphs:
            self._graphs[key] = self._compile(names, state, tensors, compute_stress)
        out = dict(zip(_output_keys(compute_stress), self._graphs[key](state, *tensors), strict=True))
        num_graphs = batch[keys.CELL].shape[0]
        out[keys.TOTAL_ENERGY] = sum_per_graph(out.pop(keys.NODE_ENERGY), batch[keys.BATCH], num_graphs)
        return out

    def _compile(
        self, names: tuple[str, ...], state: list[torch.Tensor], tensors: list[torch.Tensor], stress: bool
    ) -> Callable:
        state_names = [name for name, _ in self.model.named_parameters()]
        state_names += [name for name, _ in self.model.named_buffers()]

        def derivatives(state: list[torch.Tensor], *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
            weights = dict(zip(state_names, state, strict=True))

            def model(data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
                out = functional_call(self.model, weights, (data,))
                # the per-structure sums are made outside the graph: inductor (torch 2.13,
                # CPU) fails to generate that scatter for one structure in float64
                return {**out, keys.TOTAL_ENERGY: out[keys.NODE_ENERGY].sum().unsqueeze(0)}

            data = dict(zip(names, tensors, strict=True))
            out = energy_and_derivatives(model, data, compute_stress=stress, training=True)
            return tuple(out[k] for k in _output_keys(stress))

        # without duck shapes, two sizes that happen to be equal in the traced batch (the
        # number of structures and the length of some buffer) stay two symbols
        with fx_config.patch(use_duck_shape=False):  # type: ignore[attr-defined]
            graph = make_fx(derivatives, tracing_mode="symbolic")([s.detach() for s in state], *tensors)
        _keep_saved_outputs_differentiable(graph)
        graph.graph.eliminate_dead_code()  # the model's own per-structure sums, unused
        graph.graph.lint()
        graph.recompile()
        return torch.compile(graph, dynamic=True)


def _output_keys(stress: bool) -> tuple[str, ...]:
    return (keys.NODE_ENERGY, keys.FORCES) + ((keys.VIRIAL, keys.STRESS) if stress else ())


def _keep_saved_outputs_differentiable(graph: torch.fx.GraphModule) -> None:
    """Replace every ``detach`` of the traced graph by its input.

    Autograd saves the outputs of ``exp``, ``sqrt``, ``sigmoid`` and the like for their
    backward as detached aliases; eager ``create_graph`` re-attaches them, a trace keeps
    the ``detach`` and would cut the second derivative there (the gradient of the force
    loss came out wrong by up to 140 %). The model's own ``detach`` (the per-atom
    maximum subtracted from the attention logits) only shifts logits under a softmax,
    which the weights do not depend on, so letting gradients through it changes nothing.
    """
    for node in list(graph.graph.nodes):
        if node.op == "call_function" and node.target is torch.ops.aten.detach.default:
            node.replace_all_uses_with(node.args[0])
            graph.graph.erase_node(node)
