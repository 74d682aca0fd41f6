"""Model configuration: a frozen, validated dataclass."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

from ase.data import atomic_numbers

INVARIANTS = ("r", "inverse", "mixed")
RADIAL_BASES = ("bump", "bessel")
CONVOLUTIONS = ("tensor_product", "so2")


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of :class:`se3t_calc.SE3TModel`.

    Parameters
    ----------
    species : sequence of str
        Chemical symbols the model knows, e.g. ``["H", "C", "O"]``.
    r_cut : float
        Cutoff radius in Å; every interaction vanishes smoothly there.
    lmax : int
        Largest degree of the spherical harmonics of edge directions.
    hidden_irreps : str
        Irreps of the node features between layers. The last layer outputs only
        their scalars, which the energy readout uses (all of them with
        ``product_last``).
        Only natural parities (``0e, 1o, 2e, 3o, ...``) are allowed.
    num_heads : int
        Attention heads per layer.
    head_channels : int
        Channels per irrep and head in queries, keys and values.
    num_layers : int
        Number of attention layers.
    invariant : {"r", "inverse", "mixed"}
        Distance invariant fed to the radial MLPs: Euclidean distance ``r``,
        inverse distance ``1/r``, or half the heads each.
    r_min : float
        Shortest distance (Å) resolved by the inverse-distance basis, which spans
        ``[1/r_cut, 1/r_min]``.
    num_basis : int
        Number of smooth radial basis functions.
    radial_basis : {"bump", "bessel"}
        Basis of the distance ``r``: smooth bumps spanning ``[0, r_cut]``, or
        Bessel functions ``sin(n pi r / r_cut) / r`` with a polynomial envelope.
    radial_hidden : int
        Width of the hidden layers of the radial MLPs.
    radial_layers : int
        Hidden layers of the radial MLPs.
    readout_hidden : int
        Width of the hidden layer of the per-atom energy readout.
    sqrt_alpha : bool
        Weight values by ``sqrt(alpha)`` (True) or by ``alpha`` (False).
    gate : bool
        Apply an equivariant gate nonlinearity after each layer.
    product_channels : int
        Channels per irrep of the node-wise product of features with themselves
        after every layer but the last (raises the body order); 0 disables it.
    product_last : bool
        Also apply the product after the last layer, which then outputs all of
        ``hidden_irreps``: the readout sees invariant products of the last layer's
        equivariant features (a higher body order for the energy, at the cost of
        the last layer's ``l > 0`` outputs). Needs ``product_channels > 0``.
    product_depth : int
        Products stacked after each such layer, each a residual update of the
        last; ``d`` of them form products of up to ``2**d`` of the layer's
        features. More than 1 needs ``product_channels > 0``.
    attention_hidden : int
        ``0``: a head's attention logit is its scaled query-key dot product.
        Otherwise an MLP of this hidden width maps the head's per-channel,
        per-path query-key products (invariants) to the logit.
    convolution : {"tensor_product", "so2"}
        How keys and values couple a neighbour's features with the edge. ``"tensor_product"``:
        one output block per path ``l1 x l2 -> l3``, each weighted by the radial MLP.
        ``"so2"``: the same product evaluated in a frame whose y axis is the edge (eSCN's
        SO(2) convolution), where it is diagonal in the order ``m``, with the weighted paths
        into each ``l3`` summed on the edge: one block per output irrep, so that keys,
        values, messages and the maps after them shrink (99 -> 16 columns per channel for
        features up to l = 3).
    isolated_atom_limit : bool
        An atom with no neighbour inside the cutoff has exactly its isolated-atom
        energy E0: the readout and the energy shift act through interactions only
        (see :class:`~se3t_calc.nn.EnergyReadout`). Models trained before this
        option existed have it off and say so when loaded.
    zbl : bool
        Add the ZBL screened-nuclear repulsion between every pair of atoms, switched
        off smoothly before the shortest distance of the pair in the training data
        (see :class:`~se3t_calc.nn.ZBLRepulsion`): nuclei that come closer than the
        data ever did repel as they physically do, instead of meeting whatever the
        network extrapolates there.
    """

    species: tuple[str, ...]
    r_cut: float = 5.0
    lmax: int = 3
    hidden_irreps: str = "32x0e+8x1o+8x2e+8x3o"
    num_heads: int = 4
    head_channels: int = 4
    num_layers: int = 2
    invariant: str = "mixed"
    r_min: float = 0.5
    num_basis: int = 8
    radial_basis: str = "bump"
    radial_hidden: int = 32
    radial_layers: int = 1
    readout_hidden: int = 32
    sqrt_alpha: bool = True
    gate: bool = True
    product_channels: int = 0
    product_last: bool = False
    product_depth: int = 1
    attention_hidden: int = 0
    convolution: str = "tensor_product"
    isolated_atom_limit: bool = True
    zbl: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "species", tuple(self.species))
        for name in ("r_cut", "r_min"):
            object.__setattr__(self, name, float(getattr(self, name)))
        _validate(self)

    @property
    def head_invariants(self) -> tuple[str, ...]:
        """Distance invariant of each head, ``"r"`` or ``"inverse"``."""
        if self.invariant == "mixed":
            half = self.num_heads // 2
            return ("r",) * half + ("inverse",) * (self.num_heads - half)
        return (self.invariant,) * self.num_heads

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, as stored in checkpoints."""
        out = dataclasses.asdict(self)
        out["species"] = list(self.species)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown fields are an error."""
        check_fields(cls, data)
        return cls(**data)


def check_fields(cls: type, data: dict[str, Any]) -> None:
    """Refuse keys of ``data`` that are not fields of the dataclass ``cls``, naming them."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}; known: {sorted(known)}")


def _fail(field: str, value: object, why: str) -> None:
    raise ValueError(f"ModelConfig.{field}={value!r}: {why}")


_EXPECTED = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}


def _wrong_type(value: object, kind: str) -> bool:
    """Whether ``value`` is not of the annotated ``kind`` (int, float, bool or str; others pass)."""
    if kind == "bool":
        return not isinstance(value, bool) and type(value).__name__ != "bool_"  # numpy's bool too
    if kind in ("int", "float"):
        base = numbers.Integral if kind == "int" else numbers.Real
        return isinstance(value, bool) or not isinstance(value, base)
    return kind == "str" and not isinstance(value, str)


def _validate(cfg: ModelConfig) -> None:
    for f in dataclasses.fields(cfg):
        kind, value = str(f.type), getattr(cfg, f.name)
        if _wrong_type(value, kind):
            _fail(f.name, value, f"expected {_EXPECTED[kind]}, got a {type(value).__name__}")
    if not cfg.species:
        _fail("species", cfg.species, "give at least one chemical symbol")
    for symbol in cfg.species:
        if not isinstance(symbol, str) or symbol not in atomic_numbers or symbol == "X":
            _fail("species", cfg.species, f"{symbol!r} is not a chemical symbol")
    if len(set(cfg.species)) != len(cfg.species):
        _fail("species", cfg.species, "symbols must be unique")
    if not cfg.r_cut > 0:
        _fail("r_cut", cfg.r_cut, "must be positive (Å)")
    if not 0 < cfg.r_min < cfg.r_cut:
        _fail("r_min", cfg.r_min, f"must lie in (0, r_cut={cfg.r_cut})")
    if not 0 <= cfg.lmax <= 6:
        _fail("lmax", cfg.lmax, "must be between 0 and 6")
    _validate_irreps(cfg.hidden_irreps)
    for name in (
        "num_heads",
        "head_channels",
        "num_layers",
        "radial_hidden",
        "radial_layers",
        "readout_hidden",
        "product_depth",
    ):
        if int(getattr(cfg, name)) < 1:
            _fail(name, getattr(cfg, name), "must be a positive integer")
    if cfg.num_basis < 2:
        _fail("num_basis", cfg.num_basis, "must be at least 2")
    if cfg.radial_basis not in RADIAL_BASES:
        _fail("radial_basis", cfg.radial_basis, f"choose one of {RADIAL_BASES}")
    for name in ("product_channels", "attention_hidden"):
        if int(getattr(cfg, name)) < 0:
            _fail(name, getattr(cfg, name), "must be 0 (off) or a positive integer")
    if cfg.product_channels == 0:  # options of the product, which is off
        if cfg.product_last:
            _fail("product_last", cfg.product_last, "needs product_channels > 0")
        if cfg.product_depth > 1:
            _fail("product_depth", cfg.product_depth, "needs product_channels > 0")
    if cfg.convolution not in CONVOLUTIONS:
        _fail("convolution", cfg.convolution, f"choose one of {CONVOLUTIONS}")
    if cfg.invariant not in INVARIANTS:
        _fail("invariant", cfg.invariant, f"choose one of {INVARIANTS}")
    if cfg.invariant == "mixed" and cfg.num_heads < 2:
        _fail("num_heads", cfg.num_heads, "invariant='mixed' needs at least 2 heads")


def _validate_irreps(text: str) -> None:
    try:
        from e3nn import o3  # on use: the settings classes load without PyTorch

        irreps = o3.Irreps(text)
    except (ValueError, AssertionError) as err:
        _fail("hidden_irreps", text, f"not an irreps string ({err})")
    if "0e" not in [str(ir) for _, ir in irreps]:
        _fail("hidden_irreps", text, "must contain scalars (0e) for the energy readout")
    for _, ir in irreps:
        if ir.p != (-1) ** ir.l:
            _fail("hidden_irreps", text, f"{ir} has unnatural parity; use 0e, 1o, 2e, 3o, ...")
