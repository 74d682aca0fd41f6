"""Node-wise equivariant product of features with themselves (higher body order)."""

from __future__ import annotations

import torch
from e3nn import o3


class NodeProduct(torch.nn.Module):
    """Residual update ``f_i + Linear(TP(y_i, y_i))`` with ``y_i = Linear(f_i)``.

    The product is channel-wise ("uuu"): channel ``u`` of every irrep of ``y`` is
    coupled only with channel ``u`` of the others, through every path
    ``l1 x l2 -> l3`` with ``l1 <= l2`` and natural parity of ``l3``, each with a
    learned weight per channel. After an attention layer, whose features are sums of
    two-body messages, this raises the body order of each layer by one at a cost
    that grows with the number of atoms, not of edges.

    Parameters
    ----------
    irreps : o3.Irreps
        Irreps of the node features, kept by the update.
    channels : int
        Channels per irrep of ``y``.
    """

    def __init__(self, irreps: o3.Irreps, channels: int):
        super().__init__()
        irreps = o3.Irreps(irreps)
        ls = sorted({ir for _, ir in irreps})
        irreps_y = o3.Irreps([(channels, ir) for ir in ls])
        paths: list[tuple] = []
        out: list[tuple[int, o3.Irrep]] = []
        for i1, ir1 in enumerate(ls):
            for i2 in range(i1, len(ls)):
                for ir3 in ir1 * ls[i2]:
                    if ir3 in ls:
                        paths.append((i1, i2, len(out), "uuu", True))
                        out.append((channels, ir3))
        irreps_tp = o3.Irreps(out)
        self.down = o3.Linear(irreps, irreps_y)
        self.tp = o3.TensorProduct(irreps_y, irreps_y, irreps_tp, paths)
        self.up = o3.Linear(irreps_tp, irreps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, irreps.dim)`` -> ``(N, irreps.dim)``."""
        y = self.down(x)
        return x + self.up(self.tp(y, y))
