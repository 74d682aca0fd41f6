"""ms per MD step of SE3TCalculator on CPU or CUDA: eager, compiled, CUDA graphs.

One ASE VelocityVerlet step (0.5 fs, 300 K start) is the unit: neighbour list,
uploads, model, forces and the results back on the host. On CUDA every step ends
with ``torch.cuda.synchronize()``; the table also gives the peak device memory and
the kernels launched per step (profiler). TF32 is off unless ``--tf32``.
Random weights, default configuration (species H C N O).

Usage: python benchmarks/bench_calculator.py [--device auto|cpu|cuda]
       [--modes eager compiled reduce-overhead max-autotune] [--systems aspirin water-192 ...]
       [--dtypes float32 float64] [--steps 50] [--skin S] [--threads N] [--tf32]
       [--invariant r|inverse|mixed] [--quick]

Defaults: on CUDA all modes and systems (aspirin, water-192, water-1536, water-12288);
on CPU eager only, aspirin and water-192. ``--quick``: aspirin, eager, float32, 3 steps.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import quick
import torch
from ase import units
from ase.md.verlet import VelocityVerlet
from systems import SYSTEMS

from se3t_calc import ModelConfig, SE3TCalculator, SE3TModel

MODES = {
    "eager": False,
    "compiled": "default",
    "reduce-overhead": "reduce-overhead",
    "max-autotune": "max-autotune",
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def dynamics(atoms, calculator: SE3TCalculator) -> VelocityVerlet:
    """VelocityVerlet at 0.5 fs from 300 K velocities (fixed seed)."""
    atoms = atoms.copy()
    atoms.calc = calculator
    thermal = np.sqrt(units.kB * 300.0 / atoms.get_masses())[:, None]
    atoms.set_velocities(np.random.default_rng(0).normal(size=(len(atoms), 3)) * thermal)
    return VelocityVerlet(atoms, timestep=0.5 * units.fs)


def step_ms(dyn: VelocityVerlet, steps: int, device: torch.device) -> list[float]:
    """Wall ms of each of ``steps`` MD steps, the device synchronised after each."""
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        dyn.run(1)
        synchronize(device)
        times.append(1000 * (time.perf_counter() - start))
    return times


def kernels_per_step(dyn: VelocityVerlet, device: torch.device, steps: int = 5) -> float | None:
    """Device kernels launched per MD step, from the profiler; None on CPU."""
    if device.type != "cuda":
        return None
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        dyn.run(steps)
        synchronize(device)
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    return len(kernels) / steps


def measure(model, atoms, device, dtype: str, mode: str, args) -> dict:
    """First-call seconds, median ms per step, peak MiB and kernels per step of one setting."""
    calculator = SE3TCalculator(model, device=device, dtype=dtype, skin=args.skin, compile=MODES[mode])
    dyn = dynamics(atoms, calculator)
    start = time.perf_counter()
    dyn.atoms.get_forces()
    synchronize(device)
    first_s = time.perf_counter() - start
    step_ms(dyn, 3, device)  # warm-up: allocator, CUDA graph recording
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    ms = statistics.median(step_ms(dyn, args.steps, device))
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"first_s": first_s, "ms": ms, "peak_MiB": peak, "kernels": kernels_per_step(dyn, device)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--modes", nargs="+", choices=list(MODES))
    parser.add_argument("--systems", nargs="+", choices=list(SYSTEMS))
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--skin", type=float, default=None, help="Å; default: the device's default")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matrix products on CUDA")
    parser.add_argument("--invariant", default="mixed", choices=["r", "inverse", "mixed"])
    quick.add_options(parser, out=False)
    args = parser.parse_args()
    if args.quick:
        args.modes, args.systems, args.dtypes, args.steps = ["eager"], ["aspirin"], ["float32"], 3
    return args


def row(system: str, atoms: int, dtype: str, mode: str, r: dict) -> str:
    peak = f"{r['peak_MiB']:>9.0f}" if r["peak_MiB"] is not None else f"{'-':>9}"
    kernels = f"{r['kernels']:>8.0f}" if r["kernels"] is not None else f"{'-':>8}"
    return f"{system:<12}{atoms:>6} {dtype:<8}{mode:<16}{r['first_s']:>8.2f}{r['ms']:>9.2f}{peak}{kernels}"


def main() -> None:
    args = parse_args()
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    modes = args.modes or (list(MODES)[:3] if cuda else ["eager"])
    systems = args.systems or (list(SYSTEMS) if cuda else ["aspirin", "water-192"])
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = SE3TModel(ModelConfig(species=["H", "C", "N", "O"], invariant=args.invariant))
    params = sum(p.numel() for p in model.parameters())
    name = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
    skin = "device default" if args.skin is None else f"{args.skin} Å"
    print(f"default model ({params} parameters), torch {torch.__version__}, {name}")
    print(f"TF32 {'on' if args.tf32 else 'off'}, skin {skin}")
    print(f"{'system':<12}{'atoms':>6} {'dtype':<8}{'mode':<16}{'first s':>8}{'ms/step':>9}", end="")
    print(f"{'peak MiB':>9}{'kernels':>8}")
    for system in systems:
        atoms = SYSTEMS[system]()
        for dtype in args.dtypes:
            for mode in modes:
                print(
                    row(system, len(atoms), dtype, mode, measure(model, atoms, device, dtype, mode, args)),
                    flush=True,
                )


if __name__ == "__main__":
    main()
