"""Blow-up checks of MD: the ASE observer and ``se3t md`` stopping on them."""

from pathlib import Path

import numpy as np
import pytest
from ase.io import read
from helpers import calc, ethanol, small_model

from se3t_calc.analysis import covalent_bonds
from se3t_calc.cli import main
from se3t_calc.safety import BlowUpError, MDSafetyCheck

ETHANOL = str(Path(__file__).parents[1] / "examples" / "structures" / "ethanol.xyz")


def _watched(**limits):
    atoms = ethanol()
    atoms.calc = calc(small_model())
    return atoms, MDSafetyCheck(atoms, cutoff=4.0, **limits)


def test_quiet_structure_passes_and_bonds_are_found():
    atoms, check = _watched(max_temperature_K=1000, energy_tolerance_meV_per_atom=10)
    check()
    assert len(check.bonds) == 8  # ethanol: C-C, C-O, O-H and 5 C-H
    assert covalent_bonds(atoms).tolist() == check.bonds.tolist()


def test_stretched_bond_is_named():
    atoms, check = _watched(bond_factor=1.5)
    i, j = check.bonds[0]
    atoms.positions[j] += 0.8 * (atoms.positions[j] - atoms.positions[i])
    with pytest.raises(BlowUpError, match=rf"bond {i}-{j} \(.*\) stretched to 1.80 times"):
        check()


def test_atom_without_neighbours_is_named():
    atoms, check = _watched(bond_factor=None)
    atoms.positions[8] += [30.0, 0, 0]
    with pytest.raises(BlowUpError, match=r"atom 8 \(H\) has no neighbour within the 4.0 Å cutoff"):
        check()


def test_temperature_and_nve_energy_limits():
    atoms, check = _watched(max_temperature_K=500, energy_tolerance_meV_per_atom=5)
    check()
    atoms.set_momenta(np.full((len(atoms), 3), 1.0))  # thousands of K
    with pytest.raises(BlowUpError, match="above the limit of 500 K"):
        check()
    check.max_temperature_K = None
    with pytest.raises(BlowUpError, match=r"total energy changed by \+\d+\.\d\d meV/atom"):
        check()


def _md(tmp_path, capsys, *flags):
    with pytest.raises(SystemExit) as stop:
        main(
            ["md", "rmd17-ethanol", ETHANOL, "--device", "cpu", "--out", str(tmp_path / "md.extxyz"), *flags]
        )
    return stop.value.code, capsys.readouterr()


@pytest.mark.parametrize("ensemble", ["langevin", "nve"])
def test_md_at_50_fs_stops_with_an_error_and_keeps_the_trajectory(tmp_path, capsys, ensemble):
    code, out = _md(tmp_path, capsys, "--timestep-fs", "50", "--ensemble", ensemble, "--log-every", "1")
    assert "MD stopped at step" in str(code) and "md.extxyz holds the frames written so far" in str(code)
    assert out.out.splitlines()[1].split()[0] == "0"  # the log so far was printed
    frames = read(tmp_path / "md.extxyz", index=":")
    assert len(frames) >= 1 and np.isfinite(frames[-1].positions).all()


def test_nve_energy_jump_stops_md(tmp_path, capsys):
    flags = ["--ensemble", "nve", "--timestep-fs", "3", "--steps", "40", "--bond-factor", "0"]
    code, _ = _md(tmp_path, capsys, *flags, "--energy-tolerance-meV-per-atom", "0.01", "--log-every", "5")
    assert "total energy changed by" in str(code)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--timestep-fs", "-0.5", "argument --timestep-fs: must be > 0, got -0.5"),
        ("--temperature-K", "-100", "argument --temperature-K: must be >= 0, got -100"),
        ("--log-every", "0", "argument --log-every: must be > 0, got 0"),
        ("--steps", "ten", "argument --steps: expected a number, got 'ten'"),
    ],
)
def test_md_bad_numbers_are_refused(capsys, flag, value, message):
    with pytest.raises(SystemExit) as stop:
        main(["md", "rmd17-ethanol", ETHANOL, flag, value])
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_md_unknown_trajectory_format_is_refused(tmp_path):
    with pytest.raises(
        SystemExit, match=r"--out .*foo\.unknownext: the extension names no trajectory format"
    ):
        main(["md", "rmd17-ethanol", ETHANOL, "--out", str(tmp_path / "foo.unknownext")])


def test_md_starts_from_an_rmd17_npz(tmp_path, capsys):
    atoms = ethanol()
    np.savez(
        tmp_path / "ethanol.npz",
        nuclear_charges=atoms.numbers.astype(np.uint8),
        coords=atoms.positions[None],
        energies=np.zeros(1),
        forces=np.zeros((1, len(atoms), 3)),
    )
    main(["md", "rmd17-ethanol", str(tmp_path / "ethanol.npz"), "--steps", "4", "--log-every", "2"])
    steps = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()[:1].isdigit()]
    assert steps[:3] == ["0", "2", "4"]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"timestep_fs": -0.5}, "timestep_fs must be > 0, got -0.5"),
        ({"temperature_K": -100}, "temperature_K must be >= 0, got -100"),
        ({"friction_per_fs": float("nan")}, "friction_per_fs must be >= 0, got nan"),
    ],
)
def test_make_dynamics_refuses_unphysical_settings(setting, message):
    from se3t_calc.dynamics import make_dynamics

    atoms, _ = _watched()
    with pytest.raises(ValueError, match=message):
        make_dynamics(atoms, "langevin", **setting)
