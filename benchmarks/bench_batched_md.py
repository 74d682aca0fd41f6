"""Throughput of batched NVE MD with TorchSim against a loop of ASE calculators.

N aspirin molecules (every 20th frame of rMD17's ``test_01`` in ``../shared/data/rmd17``)
run as one TorchSim batch (one model call per step for all of them) and, for comparison,
one after the other with ASE's velocity Verlet and one SE3TCalculator each. Prints
structures/s and atom-steps/s.

Usage: python benchmarks/bench_batched_md.py [--model rmd17-aspirin] [--sizes 1 8 64]
       [--steps 5] [--dtype float32] [--device cpu] [--threads 1]
Needs the ``torchsim`` extra. ``--quick``: 1 and 2 rattled copies of
``examples/structures/aspirin.xyz``, 2 steps (skipped without TorchSim).
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

import quick
import torch
from ase.md.verlet import VelocityVerlet
from ase.units import fs

from se3t_calc import SE3TCalculator
from se3t_calc.train.data import read_structures

if TYPE_CHECKING:  # the torchsim extra, imported when run (--quick skips without it)
    from se3t_calc.integrations.torchsim import SE3TTorchSimModel

FRAMES = quick.RMD17 / "rmd17_aspirin_test_01.npz"  # every 20th frame is used


def aspirin_frames(quick_mode: bool) -> list:
    """Every 20th frame of rMD17 aspirin ``test_01``; in quick mode 2 rattled copies of the example."""
    if quick_mode:
        return quick.labelled("aspirin", 2)
    if not FRAMES.is_file():
        raise SystemExit(f"{FRAMES} not found: the rMD17 data (../shared/data/rmd17) is needed")
    return [frame.atoms for frame in read_structures(FRAMES)[::20]]


def batched_seconds(model: SE3TTorchSimModel, molecules: list, steps: int, dt: float) -> float:
    """Wall time of ``steps`` NVE steps of all molecules as one batch (after the first call)."""
    import torch_sim as ts

    init, update = ts.nve(model, dt=torch.tensor(dt, dtype=model.dtype), kT=torch.tensor(0.0))
    state = init(ts.io.atoms_to_state(molecules, model.device, model.dtype))
    start = time.perf_counter()
    for _ in range(steps):
        state = update(state)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def loop_seconds(name: str, molecules: list, steps: int, dt: float, **kwargs) -> float:
    """Wall time of ``steps`` velocity Verlet steps of each molecule in turn (after the first call)."""
    dynamics = []
    for atoms in molecules:
        atoms = atoms.copy()
        atoms.calc = SE3TCalculator(name, **kwargs)
        atoms.get_forces()
        dynamics.append(VelocityVerlet(atoms, timestep=dt))
    start = time.perf_counter()
    for md in dynamics:
        md.run(steps)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="rmd17-aspirin")
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 8, 64])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    quick.add_options(parser, out=False)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.steps = [1, 2], 2
    try:
        from se3t_calc.integrations.torchsim import SE3TTorchSimModel
    except ImportError as err:
        if args.quick:
            quick.skip(f"TorchSim not found ({err})")
        raise
    torch.set_num_threads(args.threads)
    frames = aspirin_frames(args.quick)
    model = SE3TTorchSimModel(args.model, device=args.device, dtype=args.dtype)
    kwargs = {"device": args.device, "dtype": args.dtype}
    dt = 0.5 * fs
    print(f"{args.model}, {args.dtype}, {args.device} x{args.threads}, {args.steps} NVE steps of 0.5 fs")
    print(f"{'molecules':>9} {'atoms':>6} {'engine':<16}{'structures/s':>13}{'atom-steps/s':>14}")
    for n in args.sizes:
        molecules = [frames[k % len(frames)] for k in range(n)]
        atoms = sum(len(m) for m in molecules)
        for engine, seconds in (
            ("TorchSim batch", batched_seconds(model, molecules, args.steps, dt)),
            ("ASE loop", loop_seconds(args.model, molecules, args.steps, dt, **kwargs)),
        ):
            rate = n * args.steps / seconds
            print(f"{n:>9} {atoms:>6} {engine:<16}{rate:>13.1f}{rate * atoms / n:>14.0f}", flush=True)


if __name__ == "__main__":
    main()
