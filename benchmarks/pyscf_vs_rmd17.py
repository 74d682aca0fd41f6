"""How closely PySCF (``se3t learn --reference pyscf:pbe/def2-svp``) reproduces rMD17's labels.

rMD17 was computed with ORCA at PBE/def2-SVP; our PySCF reference uses the same
functional and basis with density fitting. On a few frames of a test file: the force
MAE against rMD17, the spread of the energy difference (a constant offset between the
codes does not matter to a model with its own E0), and the seconds per call.

    python benchmarks/pyscf_vs_rmd17.py --molecule ethanol --frames 5

``--quick``: one frame of a stand-in of the rMD17 files labelled with EMT (``quick.py``; the
errors then compare PySCF with EMT); skipped without PySCF.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np
import quick

from se3t_calc.learn.references import PySCFCalculator, label
from se3t_calc.train.data import read_rmd17

RMD17 = quick.RMD17


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--molecule", default="ethanol")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--data", type=Path, default=RMD17, help="folder with the rMD17 npz files")
    quick.add_options(parser, out=False)
    args = parser.parse_args()
    if args.quick:
        if importlib.util.find_spec("pyscf") is None:
            quick.skip("PySCF not found (pip install se3t_calc[pyscf])")
        args.frames, args.data = 1, quick.rmd17([args.molecule], test=1)
    frames = read_rmd17(args.data / f"rmd17_{args.molecule}_test_01.npz")
    picked = frames[:: len(frames) // args.frames][: args.frames]
    offsets, errors, seconds = [], [], []
    for frame in picked:
        t0 = time.perf_counter()
        result = label(frame.atoms, PySCFCalculator(xc="pbe", basis="def2-svp"))
        seconds.append(time.perf_counter() - t0)
        if isinstance(result, str):
            raise RuntimeError(f"{frame.source}: {result}")
        offsets.append(result[0] - frame.energy)
        errors.append(np.abs(result[1] - frame.forces).mean())
    spread = 1000 * np.ptp(offsets)
    print("| molecule | frames | force MAE (meV/Å) | energy offset (eV) | offset spread (meV) | s/call |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {args.molecule} | {len(picked)} | {1000 * np.mean(errors):.2f} | {np.mean(offsets):.4f} | "
        f"{spread:.2f} | {np.mean(seconds):.1f} |"
    )


if __name__ == "__main__":
    main()
