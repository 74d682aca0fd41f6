"""One timed potential in one process, driven over stdin/stdout by ``bench_peers.py``.

Runs in whichever virtual environment holds the potential's package (ours or a
peer's) and needs only that package, torch, numpy and ASE. Protocol, one JSON line
per message:

- on start: build the model and the structure, time the first call (compilation and
  caches included) and print ``{"ready": ..., "first_ms": ..., "info": ...}``;
- on ``<n>``: one untimed call (it wakes the thread pool after the other workers'
  turns), then ``n`` timed units; print ``{"ms": [...]}``;
- on ``quit`` or end of input: exit.

A unit is one energy+forces call through an ASE calculator with positions jittered
by 0.01 Å (``--mode call``), or one ASE ``VelocityVerlet`` step, neighbour list
and calculator overhead included (``--mode md``).

``--quick`` runs alone, without ``bench_peers.py``: ``--model`` (default se3t) on
``--system`` (default aspirin), one request of 2 units as if read from stdin, then exits;
a peer whose package is not installed here is skipped with a note.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from ase import units
from ase.calculators.calculator import Calculator, all_changes
from ase.data import atomic_numbers
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet
from shipped import SHIPPED

SEED = 0


def _by_path(relative: str):
    """A module of this checkout loaded by its path: this file runs as
    ``python benchmarks/peers/worker.py`` in the peers' environments, whose ``sys.path``
    holds ``benchmarks/peers`` but neither ``benchmarks`` nor ``se3t_calc``."""
    path = Path(__file__).resolve().parents[2] / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SYSTEMS = _by_path("benchmarks/systems.py").SYSTEMS


def se3t(
    dtype: str, species: list[str], model: str = "rmd17-aspirin", **options
) -> tuple[Calculator, torch.nn.Module]:
    """A shipped model (default: rmd17-aspirin); ``options`` go to SE3TCalculator."""
    from se3t_calc import SE3TCalculator

    calc = SE3TCalculator(model, device="cpu", dtype=dtype, **options)
    return calc, calc.model


def se3t_paper_size(dtype: str, species: list[str]) -> tuple[Calculator, torch.nn.Module]:
    """Random weights at the SE(3)-Transformer invariants study's size: 4 heads x 4 layers,
    8x0e+8x1o+8x3o, lmax 3 (the 8 channels split over the heads)."""
    from se3t_calc import ModelConfig, SE3TCalculator, SE3TModel

    torch.manual_seed(SEED)
    config = ModelConfig(
        species=species, hidden_irreps="8x0e+8x1o+8x3o", lmax=3, num_heads=4, head_channels=2, num_layers=4
    )
    calc = SE3TCalculator(SE3TModel(config), device="cpu", dtype=dtype)
    return calc, calc.model


def mace(dtype: str, species: list[str]) -> tuple[Calculator, torch.nn.Module]:
    """MACE at its rMD17 size: 128x0e+128x1o, correlation 3, 2 interactions, r_max 5."""
    # e3nn 0.4.4 (MACE's pin) loads its own constants file with a slice in it
    torch.serialization.add_safe_globals([slice])
    from e3nn import o3
    from mace import modules
    from mace.calculators import MACECalculator

    torch.manual_seed(SEED)
    numbers = sorted(atomic_numbers[s] for s in species)
    model = modules.MACE(
        r_max=5.0,
        num_bessel=8,
        num_polynomial_cutoff=5,
        max_ell=3,
        interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=modules.interaction_classes["RealAgnosticInteractionBlock"],
        num_interactions=2,
        num_elements=len(numbers),
        hidden_irreps=o3.Irreps("128x0e+128x1o"),
        MLP_irreps=o3.Irreps("16x0e"),
        atomic_energies=np.zeros(len(numbers)),
        avg_num_neighbors=20.0,
        atomic_numbers=numbers,
        correlation=3,
        gate=torch.nn.functional.silu,
    )
    calc = MACECalculator(models=model, device="cpu", default_dtype=dtype)
    return calc, calc.models[0]


def nequip(dtype: str, species: list[str]) -> tuple[Calculator, torch.nn.Module]:
    """NequIP at its rMD17 size: l_max 2, 64 features, 4 layers, r_max 5."""
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform
    from nequip.integrations.ase import NequIPCalculator
    from nequip.model import NequIPGNNModel
    from nequip.utils.global_state import set_global_state

    set_global_state()
    model = NequIPGNNModel(
        seed=SEED,
        model_dtype=dtype,
        type_names=species,
        r_max=5.0,
        l_max=2,
        num_features=64,
        num_layers=4,
        radial_mlp_depth=2,
        radial_mlp_width=64,
        avg_num_neighbors=20.0,
    ).eval()
    transforms = [
        ChemicalSpeciesToAtomTypeMapper(
            model_type_names=species, chemical_species_to_atom_type_map={s: s for s in species}
        ),
        NeighborListTransform(r_max=5.0),
    ]
    return NequIPCalculator(model, device="cpu", transforms=transforms), model


class TorchMDNetCalculator(Calculator):
    """TorchMD-Net has no ASE calculator: the few lines a user would write."""

    implemented_properties = ["energy", "forces"]  # noqa: RUF012

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype):
        super().__init__()
        self.model, self.dtype = model, dtype

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        z = torch.as_tensor(self.atoms.numbers, dtype=torch.long)
        pos = torch.as_tensor(self.atoms.positions, dtype=self.dtype)
        box = torch.as_tensor(self.atoms.cell.array, dtype=self.dtype) if self.atoms.pbc.all() else None
        energy, forces = self.model(z, pos, torch.zeros_like(z), box=box)
        self.results = {"energy": energy.item(), "forces": forces.detach().double().numpy()}


def _torchmd_net(architecture: str, dtype: str, **sizes) -> tuple[Calculator, torch.nn.Module]:
    from torchmdnet.models.model import create_model

    torch.manual_seed(SEED)
    args = {
        "model": architecture,
        "precision": {"float32": 32, "float64": 64}[dtype],
        "num_rbf": 32,
        "rbf_type": "expnorm",
        "trainable_rbf": False,
        "activation": "silu",
        "attn_activation": "silu",
        "distance_influence": "both",
        "neighbor_embedding": True,
        "cutoff_lower": 0.0,
        "cutoff_upper": 5.0,
        "max_z": 100,
        "max_num_neighbors": 128,
        "equivariance_invariance_group": "O(3)",
        "derivative": True,
        "atom_filter": -1,
        "prior_model": None,
        "output_model": "Scalar",
        "reduce_op": "add",
        **sizes,
    }
    model = create_model(args).eval()
    return TorchMDNetCalculator(model, getattr(torch, dtype)), model


def torchmd_et(dtype: str, species: list[str]) -> tuple[Calculator, torch.nn.Module]:
    """TorchMD-Net equivariant transformer at its rMD17 size: 128 x 6 layers, 8 heads."""
    return _torchmd_net("equivariant-transformer", dtype, embedding_dimension=128, num_layers=6, num_heads=8)


def tensornet(dtype: str, species: list[str]) -> tuple[Calculator, torch.nn.Module]:
    """TensorNet at its rMD17 size: 128 channels, 2 interaction layers."""
    return _torchmd_net("tensornet", dtype, embedding_dimension=128, num_layers=2, num_heads=8)


ADAPTERS = {
    **{model: functools.partial(se3t, model=name) for model, name in SHIPPED.items()},
    "se3t-compiled": functools.partial(se3t, compile=True),  # torch.compile, dynamic shapes
    "se3t-skin": functools.partial(se3t, skin=0.5),  # 0.5 Å Verlet skin, for --mode md
    "se3t-paper-size": se3t_paper_size,
    "se3t-accurate-compiled": functools.partial(se3t, model="rmd17-aspirin-accurate", compile=True),
    "mace": mace,
    "nequip": nequip,
    "torchmd-et": torchmd_et,
    "tensornet": tensornet,
}


def time_calls(atoms, reference: np.ndarray, n: int, rng: np.random.Generator) -> list[float]:
    """Wall ms of ``n`` energy+forces calls, positions jittered around ``reference``."""
    times = []
    for _ in range(n):
        atoms.positions = reference + rng.normal(scale=0.01, size=reference.shape)
        start = time.perf_counter()
        atoms.get_forces()
        atoms.get_potential_energy()
        times.append(1000 * (time.perf_counter() - start))
    return times


def time_steps(dyn: VelocityVerlet, n: int) -> list[float]:
    """Wall ms of ``n`` VelocityVerlet steps (the first yield is the initial force call)."""
    times = []
    start = time.perf_counter()
    for k, _ in enumerate(dyn.irun(n)):
        now = time.perf_counter()
        if k > 0:
            times.append(1000 * (now - start))
        start = now
    return times


def protocol_stream():
    """A private copy of stdout for the protocol; stdout itself goes to stderr, so that
    whatever a package prints cannot be taken for a reply."""
    stream = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return stream


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=list(ADAPTERS), help="required unless --quick (se3t)")
    parser.add_argument("--system", choices=list(SYSTEMS), help="required unless --quick (aspirin)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mode", default="call", choices=["call", "md"])
    parser.add_argument(
        "--allocator", default="default", choices=["default", "retain"], help="retain: keep freed memory"
    )
    parser.add_argument(
        "--quick", action="store_true", help="run alone: one request of 2 units, no stdin (a check, for CI)"
    )
    args = parser.parse_args()
    if args.quick:
        args.model, args.system = args.model or "se3t", args.system or "aspirin"
    for name in ("model", "system"):
        if getattr(args, name) is None:
            parser.error(f"the following arguments are required: --{name}")
    return args


def main() -> None:
    reply = protocol_stream()
    args = parse_args()
    if args.allocator == "retain" and not _by_path("se3t_calc/allocator.py").retain_freed_memory():
        sys.exit("--allocator retain: glibc's mallopt is not available here")
    torch.set_num_threads(args.threads)
    atoms = SYSTEMS[args.system]()
    species = sorted(set(atoms.get_chemical_symbols()))
    try:
        atoms.calc, model = ADAPTERS[args.model](args.dtype, species)
    except ImportError as err:
        if not args.quick:
            raise
        print(f"skipped: {args.model}: its package is not installed here ({err})", file=reply, flush=True)
        return
    params = sum(p.numel() for p in model.parameters())
    reference = atoms.positions.copy()
    rng = np.random.default_rng(SEED)
    dyn = None
    if args.mode == "md":
        MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=rng)
        dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    start = time.perf_counter()
    atoms.get_forces()
    first_ms = 1000 * (time.perf_counter() - start)
    info = {"atoms": len(atoms), "threads": torch.get_num_threads(), "params": params}
    print(json.dumps({"ready": True, "first_ms": first_ms, "info": info}), file=reply, flush=True)
    requests: Iterable[str] = ["2", "quit"] if args.quick else sys.stdin
    for line in requests:
        if line.strip() == "quit":
            break
        n = int(line)
        if dyn is None:
            time_calls(atoms, reference, 1, rng)
            ms = time_calls(atoms, reference, n, rng)
        else:
            time_steps(dyn, 1)
            ms = time_steps(dyn, n)
        print(json.dumps({"ms": ms}), file=reply, flush=True)


if __name__ == "__main__":
    main()
