"""Spherical harmonics of edge vectors as one matrix product of monomials."""

from __future__ import annotations

import torch
from e3nn import o3


class SphericalHarmonics(torch.nn.Module):
    """e3nn's spherical harmonics (``normalize=False``, ``"component"``) in a few operations.

    The harmonics of degree ``l`` are homogeneous polynomials of degree ``l`` in
    ``x, y, z``. Here every monomial up to ``lmax`` is built by repeated outer
    products with the vector (``1, v, v v, v v v, ...``: ``lmax - 1`` products, the
    mixed monomials appearing several times) and the harmonics are their combination
    by one fixed matrix. e3nn evaluates one recursion formula per component (about 35
    elementwise operations forward for ``lmax = 3``, twice that backward); this takes
    four. The matrix is fitted in float64 to e3nn's own harmonics at construction
    (the fit has no residual: the two agree to 1e-14 relative in float64), so the
    functions are e3nn's for every vector, unit or not.

    Parameters
    ----------
    lmax : int
        Highest degree; the output is ``0e + 1o + ... + lmax`` in e3nn's order.
    """

    coefficients: torch.Tensor

    def __init__(self, lmax: int):
        super().__init__()
        self.lmax = lmax
        self.irreps_out = o3.Irreps.spherical_harmonics(lmax)
        reference = o3.SphericalHarmonics(self.irreps_out, normalize=False, normalization="component")
        # points in general position; the monomials of each degree are independent functions
        # there, so the least-squares fit reproduces the polynomials exactly
        points = torch.randn(16 * 3**lmax, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        monomials, target = self.monomials(points), reference(points)
        inverse = torch.linalg.pinv(monomials)
        fit = inverse @ target
        fit = fit + inverse @ (target - monomials @ fit)  # one refinement: rounding of 1e-13 -> 1e-15
        self.register_buffer("coefficients", fit, persistent=False)

    def monomials(self, vectors: torch.Tensor) -> torch.Tensor:
        """Every product of up to ``lmax`` components, (E, sum_k 3**k), ordered by degree."""
        terms = [torch.ones_like(vectors[:, :1])]
        if self.lmax > 0:
            terms.append(vectors)
        for _ in range(self.lmax - 1):
            terms.append((terms[-1].unsqueeze(-1) * vectors.unsqueeze(1)).flatten(1))
        return torch.cat(terms, dim=1)

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        """Harmonics (E, irreps_out.dim) of the vectors (E, 3), Å or unit vectors."""
        return self.monomials(vectors) @ self.coefficients.to(vectors.dtype)
