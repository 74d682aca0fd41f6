"""Cost of a committee per energy+forces call against one of its members.

Interleaved rounds on one structure (frame 0 of an rMD17 test file): the committee
(every member's forces in one batched backward pass) and its first member alone, on
the CPU, eager, in ``--dtype``. Prints the median ms per call and the ratio.

    python benchmarks/bench_committee.py rmd17-ethanol-committee --molecule ethanol --threads 1

``--quick``: the shipped ethanol committee (unless one is named) on a stand-in of the rMD17
files (``quick.py``), 3 calls in each of 2 rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import quick
import torch

from se3t_calc import SE3TCalculator
from se3t_calc.pretrained import committee_files
from se3t_calc.train.data import read_structures

RMD17 = quick.RMD17


def per_call(calculator: SE3TCalculator, atoms, calls: int) -> float:
    """Median ms of ``calls`` energy+forces calls, positions nudged every call."""
    atoms = atoms.copy()
    atoms.calc = calculator
    times = []
    for k in range(calls + 2):
        atoms.positions[0, 0] += 1e-4 * (-1) ** k
        start = time.perf_counter()
        atoms.get_forces()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times[2:])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("committee", nargs="?", help="committee folder or shipped name")
    parser.add_argument("--molecule", default="ethanol")
    parser.add_argument("--data", type=Path, default=RMD17, help="folder with the rMD17 npz files")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    quick.add_options(parser, out=False)
    args = parser.parse_args()
    if args.quick:
        args.committee, args.calls, args.rounds = args.committee or "rmd17-ethanol-committee", 3, 2
        args.data = quick.rmd17([args.molecule])
    elif args.committee is None:
        parser.error("the following arguments are required: committee")
    torch.set_num_threads(args.threads)
    atoms = read_structures(args.data / f"rmd17_{args.molecule}_test_01.npz")[0].atoms
    files = committee_files(args.committee)
    assert files, f"{args.committee} is not a committee"
    calculators = {
        f"committee of {len(files)}": SE3TCalculator(args.committee, device="cpu", dtype=args.dtype),
        "one member": SE3TCalculator(files[0], device="cpu", dtype=args.dtype),
    }
    times: dict[str, list[float]] = {name: [] for name in calculators}
    for _ in range(args.rounds):
        for name, calculator in calculators.items():
            times[name].append(per_call(calculator, atoms, args.calls))
    one = statistics.median(times["one member"])
    print(f"{args.molecule}, {args.dtype}, {args.threads} thread(s), eager, median of {args.rounds} rounds")
    print("| evaluation | ms per call | vs one member |")
    print("| --- | ---: | ---: |")
    for name, values in times.items():
        ms = statistics.median(values)
        print(f"| {name} | {ms:.2f} | {ms / one:.2f}x |")


if __name__ == "__main__":
    main()
