"""Batched NPT with TorchSim: three silicon cells, one model call per step for all of them.

Three 64-atom diamond cells start at lattice constants 5.30, 5.469 (the PBE value) and
5.65 Å and run Langevin NPT at ``--temperature`` and zero pressure, batched in one
TorchSim state. Under the model's stress all three approach the same lattice
constant (slightly above the 0 K value of ``examples/si_eos.py``, by thermal
expansion); the mean over the second half of the run is printed per cell. The default
1 ps is a demonstration: the cells started furthest away need several ps to converge.

    pip install -e ".[torchsim]"
    python examples/torchsim_si_npt.py                     # the shipped mlearn-si model
    python examples/torchsim_si_npt.py --steps 4000 --temperature 900 --dtype float64
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch_sim as ts
from ase.build import bulk
from ase.units import kB

from se3t_calc.integrations.torchsim import SE3TTorchSimModel

STARTS = (5.30, 5.469, 5.65)  # Å


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="mlearn-si")
    parser.add_argument("--temperature", type=float, default=600.0, help="K")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--barostat-ps", type=float, default=0.1, help="barostat time constant")
    parser.add_argument("--timestep-fs", type=float, default=1.0)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()

    model = SE3TTorchSimModel(args.model, device="cpu", dtype=args.dtype)
    cells = [bulk("Si", "diamond", a=a, cubic=True).repeat(2) for a in STARTS]
    dtype = getattr(torch, args.dtype)
    kt = torch.tensor(kB * args.temperature, dtype=dtype)
    init, update = ts.npt_langevin(
        model,
        dt=torch.tensor(args.timestep_fs / 1000, dtype=dtype),  # ps
        kT=kt,
        external_pressure=torch.tensor(0.0, dtype=dtype),
        b_tau=torch.tensor(args.barostat_ps, dtype=dtype),
        seed=0,
    )
    state = init(ts.io.atoms_to_state(cells, torch.device("cpu"), dtype))
    samples = []
    for step in range(args.steps):
        state = update(state, kt)
        if step >= args.steps // 2:  # a = cube root of the volume of one of the 2x2x2 cells, / 2
            samples.append(np.cbrt(torch.linalg.det(state.cell).abs().numpy()) / 2)
    mean = np.mean(samples, axis=0)
    print(f"NPT {args.temperature:g} K, 0 GPa, {args.steps} x {args.timestep_fs:g} fs, 3 cells in one batch")
    for start, a in zip(STARTS, mean, strict=True):
        print(f"start a = {start:.3f} Å -> mean a = {a:.4f} Å over the second half")


if __name__ == "__main__":
    main()
