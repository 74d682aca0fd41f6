"""``se3t md``: molecular dynamics from the command line, stopped when it blows up."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from se3t_calc.cli_common import (
    MODEL_HELP,
    STRUCTURE_HELP,
    ShowDefaults,
    add_runtime_flags,
    attach_trajectory,
    check_files,
    make_calculator,
    positive,
    read_inputs,
)
from se3t_calc.dynamics import ENSEMBLES, make_dynamics
from se3t_calc.paths import check_format
from se3t_calc.safety import BlowUpError, MDSafetyCheck, force_uncertainty


def run_md_command(args: argparse.Namespace) -> None:
    """Run ``se3t md``: read, set up the integrator and its observers, run, report."""
    if args.ensemble == "nose-hoover" and args.temperature_K == 0:
        raise ValueError(
            "--ensemble nose-hoover needs --temperature-K > 0 (its thermostat divides by kT); "
            "for dynamics without a thermostat use --ensemble nve"
        )
    if args.out:
        check_format(args.out, "--out", trajectory=True)
    check_files(args, {"--out": args.out, "--log": args.log})
    atoms = read_inputs(args)
    atoms.calc = make_calculator(args, skin=args.skin, compile=args.compile)
    dyn = make_dynamics(
        atoms,
        args.ensemble,
        timestep_fs=args.timestep_fs,
        temperature_K=args.temperature_K,
        friction_per_fs=args.friction,
        tdamp_fs=args.tdamp_fs,
        seed=args.seed,
    )
    with contextlib.ExitStack() as stack:
        save = None
        if args.out:
            save = stack.enter_context(attach_trajectory(dyn, atoms, Path(args.out), args.log_every))
        log = stack.enter_context(open(args.log, "w")) if args.log else None
        streams = [sys.stdout] + ([log] if log else [])
        _run_md(dyn, atoms, args, streams, save)


def _safety_check(atoms: Any, args: argparse.Namespace) -> MDSafetyCheck:
    """The blow-up checks of ``se3t md`` with the limits of its flags."""
    max_temperature = args.max_temperature_K
    if max_temperature is None:
        max_temperature = max(5 * args.temperature_K, args.temperature_K + 1000)
    return MDSafetyCheck(
        atoms,
        cutoff=atoms.calc.model.config.r_cut,
        bond_factor=args.bond_factor or None,
        max_temperature_K=max_temperature or None,
        energy_tolerance_meV_per_atom=(args.energy_tolerance_meV_per_atom or None)
        if args.ensemble == "nve"
        else None,
        overlap_factor=args.overlap_factor or None,
        max_force_std=args.max_force_std,
        uncertain=args.uncertain,
    )


def _run_md(
    dyn: Any, atoms: Any, args: argparse.Namespace, streams: list, save: Callable[[], None] | None
) -> None:
    """Run, printing step, time, energies and temperature every ``--log-every`` steps (and the
    last step); ``save`` writes the current frame of ``--out``, called for a last step between."""
    from se3t_calc.progress import ProgressBar

    bar = ProgressBar(args.steps, "md")

    def say(line: str) -> None:
        bar.close()
        for stream in streams:
            print(line, file=stream, flush=True)

    committee = bool(atoms.calc.num_members)
    totals: list[tuple[float, float]] = []  # (ps, eV) at every logged step

    def report() -> None:
        epot, ekin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
        t_ps, temp = dyn.nsteps * args.timestep_fs / 1000, atoms.get_temperature()
        totals.append((t_ps, epot + ekin))
        line = f"{dyn.nsteps:8d} {t_ps:9.4f} {epot:14.5f} {ekin:10.5f} {epot + ekin:14.5f} {temp:8.1f}"
        say(line + (f" {force_uncertainty(atoms).max():12.4f}" if committee else ""))

    header = f"{'step':>8} {'time/ps':>9} {'Epot/eV':>14} {'Ekin/eV':>10} {'Etot/eV':>14} {'T/K':>8}"
    say(header + (f" {'maxσF/eV/Å':>12}" if committee else ""))
    dyn.attach(report, interval=args.log_every)
    dyn.attach(_safety_check(atoms, args), interval=1)
    dyn.attach(lambda: bar.update(dyn.nsteps, f"T {atoms.get_temperature():.0f} K"), interval=1)
    start = time.perf_counter()
    kept = f"; {args.out} holds the frames written so far" if args.out else ""
    with _stop_on_interrupt() as stop:
        try:
            for _ in dyn.irun(args.steps):  # observers (log, trajectory, checks) have run for this step
                if stop.is_set():
                    break
        except (BlowUpError, ValueError) as err:
            if dyn.nsteps % args.log_every:  # the state it stopped in, unless just logged
                report()
            raise BlowUpError(f"MD stopped at step {dyn.nsteps}: {err}{kept}") from None
        if dyn.nsteps % args.log_every:  # the last state too, unless just logged and saved
            report()
            if save is not None:
                save()
        if stop.is_set():
            say(f"interrupted after {dyn.nsteps} steps{kept}")
    bar.close()
    elapsed = time.perf_counter() - start
    print(f"{dyn.nsteps} steps in {elapsed:.1f} s ({1000 * elapsed / max(dyn.nsteps, 1):.2f} ms/step)")
    if args.ensemble == "nve" and len(totals) > 2:
        print(energy_conservation(totals, len(atoms)))
    if args.out:
        print(f"wrote the trajectory to {args.out}")


def energy_conservation(totals: list[tuple[float, float]], atoms: int) -> str:
    """NVE summary: drift (slope of a line fitted to the total energy) and largest excursion
    from the start, per atom, from (time in ps, total energy in eV) pairs."""
    import numpy as np

    t, e = np.array(totals).T
    drift = 1000 * np.polyfit(t, e, 1)[0] / atoms
    excursion = 1000 * np.abs(e - e[0]).max() / atoms
    return (
        f"total energy: drift {drift:+.4f} meV/atom/ps, largest change from the start "
        f"{excursion:.4f} meV/atom over {t[-1] - t[0]:.3f} ps"
    )


@contextlib.contextmanager
def _stop_on_interrupt() -> Iterator[threading.Event]:
    """The first Ctrl-C sets the event (the caller stops at a step boundary); a second one raises."""
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def add_md_parser(sub: Any) -> None:
    md = sub.add_parser(
        "md",
        help="molecular dynamics of a structure with a model",
        formatter_class=ShowDefaults,
        description="Stops with an error, keeping the trajectory written so far, when the run leaves "
        "the model's domain: non-finite energy or forces, an atom losing all its neighbours, a bond "
        "stretched past --bond-factor, a temperature above --max-temperature-K, or (NVE) a total "
        "energy change beyond --energy-tolerance-meV-per-atom.",
    )
    md.add_argument("model", help=MODEL_HELP)
    md.add_argument("structure", help=STRUCTURE_HELP)
    md.add_argument("--ensemble", choices=ENSEMBLES, default="langevin", help="thermostat or NVE")
    md.add_argument(
        "--temperature-K", type=positive(float, zero=True), default=300.0, help="target and start"
    )
    md.add_argument("--timestep-fs", type=positive(float), default=0.5, help="time step, fs")
    md.add_argument("--friction", type=positive(float, zero=True), default=0.01, help="Langevin, 1/fs")
    md.add_argument("--tdamp-fs", type=positive(float), default=50.0, help="Nose-Hoover damping time, fs")
    md.add_argument("--steps", type=positive(int, zero=True), default=1000, help="MD steps")
    md.add_argument("--log-every", type=positive(int), default=20, help="print (and save) every N steps")
    md.add_argument("--out", help="trajectory: .traj, .extxyz, .xyz or another multi-frame ase.io format")
    md.add_argument("--log", help="also write the log lines to this file")
    md.add_argument("--overwrite", action="store_true", help="replace existing --out and --log files")
    add_runtime_flags(md, dtype="float32", dtype_help="float32 conserves energy as well")
    md.add_argument(
        "--skin",
        type=positive(float, zero=True),
        help="Verlet skin of the neighbour list, Å (default: 0 on CPU, 0.5 on CUDA)",
    )
    md.add_argument(
        "--compile",
        nargs="?",
        const="default",
        default=False,
        choices=["default", "reduce-overhead", "max-autotune"],
        help="torch.compile the model (optionally with a mode): faster steps after a slow first one",
    )
    md.add_argument(
        "--seed",
        type=positive(int, zero=True),
        default=0,
        help="seed of the velocities and the Langevin noise",
    )
    checks = md.add_argument_group("blow-up checks (0 disables one)")
    checks.add_argument(
        "--bond-factor", type=positive(float, zero=True), default=1.5, help="largest bond length / start"
    )
    checks.add_argument(
        "--max-temperature-K",
        type=positive(float, zero=True),
        help="highest temperature (default: 5 x --temperature-K or --temperature-K + 1000, the higher)",
    )
    checks.add_argument(
        "--energy-tolerance-meV-per-atom",
        type=positive(float, zero=True),
        default=10.0,
        help="NVE: largest change of the total energy from the start",
    )
    checks.add_argument(
        "--overlap-factor",
        type=positive(float, zero=True),
        default=0.6,
        help="stop when two atoms come closer than this times their covalent bond length",
    )
    checks.add_argument(
        "--max-force-std",
        type=positive(float),
        metavar="EV_PER_A",
        help="with a committee: largest force uncertainty of an atom, eV/Å (default: no limit)",
    )
    checks.add_argument(
        "--uncertain",
        choices=["stop", "warn"],
        default="stop",
        help="past --max-force-std: stop (exit 1, trajectory kept) or warn once and go on",
    )
    md.set_defaults(func=run_md_command)
