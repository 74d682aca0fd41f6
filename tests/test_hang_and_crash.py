"""Inputs that crashed the process, hung it, or ended it with a raw traceback: each is now
refused early with one message that names the problem (or computed correctly)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.io import write
from helpers import calc, energy_forces, ethanol, small_model

from se3t_calc import SE3TCalculator, atoms_to_graph, energy_and_derivatives, keys, save_model
from se3t_calc.cli import main

ROOT = Path(__file__).parents[1]
ETHANOL = str(ROOT / "examples" / "structures" / "ethanol.xyz")
TRAIN = ["--train-file", str(ROOT / "tests" / "data" / "ethanol_rmd17.xyz"), "--train-size", "4"]
TRAIN += ["--valid-size", "2", "--epochs", "1", "--device", "cpu", "--threads", "1", "--r-cut", "4.0"]
QUICK_MD = ["--steps", "2", "--device", "cpu", "--threads", "1"]


def _exit_message(argv: list[str]) -> str:
    """Run ``se3t`` in this process; return the message it exits with (an error is expected)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code not in (0, None)
    return str(exit_info.value.code)


def _model_file(tmp_path: Path) -> str:
    path = tmp_path / "m.pt"
    save_model(small_model(r_cut=4.0), path)
    return str(path)


# 1. periodic cells with (nearly) linearly dependent vectors; cells smaller than the cutoff

# collinear: vesin died with SIGFPE (exit 136); 1e-5: it searched for minutes; 1e-9: it overflowed
DEGENERATE_CELLS = """
import sys
import numpy as np
from ase import Atoms
sys.path.insert(0, {tests!r})
from helpers import calc, small_model
from se3t_calc.neighbors import neighbor_list

calculator = calc(small_model(r_cut=4.0))
cases = {{
    "collinear 2-D": ([[3, 0, 0], [6, 0, 0], [0, 0, 0]], [True, True, False]),
    "nearly collinear 2-D": ([[3, 0, 0], [6, 1e-5, 0], [0, 0, 0]], [True, True, False]),
    "collinear within rounding 2-D": ([[3, 0, 0], [6, 1e-9, 0], [0, 0, 0]], [True, True, False]),
    "coplanar 3-D": ([[3, 0, 0], [0, 3, 0], [3, 3, 0]], [True, True, True]),
    "tiny 1-D": ([[1e-6, 0, 0], [0, 0, 0], [0, 0, 0]], [True, False, False]),
}}
for name, (cell, pbc) in cases.items():
    atoms = Atoms("CH", positions=[[0, 0, 0], [1.0, 0.5, 0.3]], cell=cell, pbc=pbc)
    for where, compute in (
        ("neighbor_list", lambda: neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 4.0)),
        ("calculator", lambda: calculator.get_potential_energy(atoms)),
    ):
        try:
            compute()
            print(name, where, "computed")
        except ValueError as err:
            print(name, where, err)
"""


def test_degenerate_periodic_cells_are_refused_before_the_neighbour_list():
    """In a subprocess, as the old code died of SIGFPE or ran for minutes."""
    code = DEGENERATE_CELLS.format(tests=str(Path(__file__).parent))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-2000:]}"
    lines = run.stdout.splitlines()
    assert len(lines) == 10 and not any(line.endswith("computed") for line in lines), run.stdout
    dependent = "periodic cell vectors [0, 1] are (nearly) linearly dependent"
    for line in lines:
        if line.startswith("collinear"):
            assert dependent in line and "span an area of" in line and "pbc to False" in line
        elif line.startswith("coplanar"):
            assert "[0, 1, 2] are (nearly) linearly dependent" in line and "a volume of" in line
        else:  # nearly collinear, tiny: too many images
            assert "periodic cell too thin for the cutoff" in line and "across cell vector 0" in line


@pytest.mark.parametrize("pbc", [(True, True, False), (True, True, True), (False, True, False)])
def test_cell_smaller_than_the_cutoff_repeats_images(pbc):
    """A one-atom cell 1.3 Å wide (cutoff 4 Å: many images of every atom) gives the energy of
    each atom in a supercell of it."""
    calculator = calc(small_model(species=["C"], r_cut=4.0))
    cell = np.diag([1.3, 1.4, 1.5]) + np.array([[0, 0, 0], [0.3, 0, 0], [0, 0.2, 0]])
    atoms = Atoms("C", positions=[[0.1, 0.2, 0.3]], cell=cell, pbc=pbc)
    energy, forces = energy_forces(atoms, calculator)
    repeats = tuple(2 if p else 1 for p in pbc)
    big = atoms.repeat(repeats)
    energy_big, forces_big = energy_forces(big, calculator)
    assert np.isfinite(energy)
    np.testing.assert_allclose(energy_big, np.prod(repeats) * energy, rtol=1e-10)
    np.testing.assert_allclose(forces_big, np.tile(forces, (np.prod(repeats), 1)), atol=1e-9)


# 2. one calculator shared by threads


def test_one_calculator_serves_four_threads():
    """Each thread computes its own structure again and again: the results are the serial ones
    (they were other threads' results, or a reshape error)."""
    calculator = calc(small_model())
    structures = [ethanol(0), ethanol(5), molecule("CH4"), molecule("H2O")]
    serial = [energy_forces(atoms, calculator) for atoms in structures]
    failures: list[str] = []

    def work(k: int) -> None:
        atoms = structures[k].copy()
        atoms.calc = calculator
        for _ in range(25):
            try:
                # the calculator last computed another thread's structure, mostly: it computes again
                energy, forces = atoms.get_potential_energy(), atoms.get_forces()
                np.testing.assert_allclose(energy, serial[k][0], rtol=1e-12)
                np.testing.assert_allclose(forces, serial[k][1], atol=1e-10)
            except Exception as err:  # wrong results, reshape errors, whatever a race gives
                failures.append(f"structure {k}: {type(err).__name__}: {str(err)[:200]}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, f"{len(failures)} failures, e.g. {failures[:3]}"


def test_calculator_with_its_lock_still_copies_and_pickles():
    import copy
    import pickle

    calculator = calc(small_model())
    reference = energy_forces(ethanol(), calculator)[0]
    for clone in (copy.deepcopy(calculator), pickle.loads(pickle.dumps(calculator))):
        assert clone._lock is not calculator._lock
        assert energy_forces(ethanol(3), clone)[0] == energy_forces(ethanol(3), calculator)[0]
        assert energy_forces(ethanol(), clone)[0] == reference


# 3. README's batch example with default arguments


def _readme_block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    found = [block for block in blocks if containing in block]
    assert len(found) == 1, f"README has {len(found)} python blocks with {containing!r}"
    return found[0]


def test_readme_batch_example_runs_as_written(monkeypatch):
    """load_model keeps the shipped float32 weights; atoms_to_graph made float64 graphs by
    default: "both inputs should have same dtype" from inside the model."""
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a shipped model older than the isolated-atom limit
        exec(_readme_block("atoms_to_graph("), namespace)
    out = namespace["out"]
    assert out[keys.TOTAL_ENERGY].shape == (2,) and out[keys.FORCES].shape == (18, 3)
    assert torch.isfinite(out[keys.FORCES]).all()


@pytest.mark.parametrize(
    ("species", "cutoff", "message"),
    [
        (["O", "C", "H"], None, "species indices are not those of"),
        (["H", "C", "O", "N"], None, None),  # more species, the model's first: the same indices
        (["N", "H", "C", "O"], None, "species indices are not those of"),
        (None, 2.0, r"cutoff of 2 Å, shorter than the model's 4 Å"),
        (None, 6.0, None),  # a longer cutoff adds edges of zero weight
    ],
)
def test_a_graph_built_for_another_model_is_refused(species, cutoff, message):
    """The batch API: a graph with another species order or a shorter cutoff would give wrong
    energies without a word; it is refused, naming the fix."""
    model = small_model(r_cut=4.0).double()
    atoms = ethanol(0)
    exact = energy_and_derivatives(model, atoms_to_graph(atoms, ["H", "C", "O"], 4.0, dtype=torch.float64))
    graph = atoms_to_graph(atoms, species or ["H", "C", "O"], cutoff or 4.0, dtype=torch.float64)
    if message is None:
        out = energy_and_derivatives(model, graph)
        torch.testing.assert_close(out[keys.TOTAL_ENERGY], exact[keys.TOTAL_ENERGY], rtol=1e-12, atol=0)
        return
    with pytest.raises(ValueError, match=message):
        energy_and_derivatives(model, graph)


def test_graph_dtype_follows_torch_default_and_an_explicit_one():
    from se3t_calc import ModelConfig, SE3TModel

    model = SE3TModel(ModelConfig(species=["H", "C", "O"], r_cut=4.0))  # built in the default dtype
    graph = atoms_to_graph([ethanol(0), ethanol(1)], model.config.species, model.config.r_cut)
    assert graph[keys.POSITIONS].dtype == torch.get_default_dtype()
    assert torch.isfinite(energy_and_derivatives(model, graph)[keys.FORCES]).all()
    graph64 = atoms_to_graph(ethanol(0), ["H", "C", "O"], 4.0, dtype=torch.float64)
    assert graph64[keys.POSITIONS].dtype == graph64[keys.CELL].dtype == torch.float64


# 4. file system errors: one line naming the file and the reason, exit code 1


@pytest.mark.parametrize("command", ["train", "export-lammps", "init", "relax", "md"])
def test_output_below_a_regular_file_is_one_line(tmp_path, command):
    model = _model_file(tmp_path)
    (tmp_path / "afile").write_text("not a folder\n")
    below = str(tmp_path / "afile" / "out")
    argv = {
        "train": ["train", *TRAIN, "--output-dir", below],
        "export-lammps": ["export-lammps", model, below + ".pkl"],
        "init": ["init", below + ".pt", "--species", "H"],
        "relax": ["relax", model, ETHANOL, "--out", below + ".extxyz", "--device", "cpu"],
        "md": ["md", model, ETHANOL, "--out", below + ".traj", *QUICK_MD],
    }[command]
    message = _exit_message(argv)
    assert message.startswith(f"se3t {command}: ") and "\n" not in message
    assert str(tmp_path / "afile") in message
    if command == "train":  # the others check their outputs before they run
        assert "[Errno" in message
        assert "a part of the path is a file, not a folder" in message or "a folder is needed" in message


def test_full_disk_while_writing_the_md_log_is_one_line(tmp_path):
    """/dev/full: every write fails with ENOSPC, as on a full disk."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    (tmp_path / "md.log").symlink_to("/dev/full")
    model = _model_file(tmp_path)
    message = _exit_message(
        ["md", model, ETHANOL, "--log", str(tmp_path / "md.log"), "--overwrite", *QUICK_MD]
    )
    assert message == (
        f"se3t md: cannot write {tmp_path / 'md.log'}: [Errno 28] No space left on device; "
        "free some disk space or write elsewhere"
    )


def _limit_file_size() -> None:  # in the child: writes past 2 kB fail with EFBIG, as on a full disk
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE semantics of Linux")
def test_file_too_large_for_the_disk_exits_with_one_line(tmp_path):
    """The command as a user runs it: exit code 1 and one line, no traceback."""
    run = subprocess.run(
        [sys.executable, "-m", "se3t_calc.cli", "init", "m.pt", "--species", "H", "C", "O"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size,
    )
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "se3t init: cannot write m.pt: [Errno 27] File too large; the file outgrew the size the "
        "file system or a limit (ulimit -f) allows"
    )


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes to read-only folders")
@pytest.mark.parametrize("command", ["train", "init", "export-lammps", "relax", "md"])
def test_read_only_folder_is_one_line(tmp_path, command):
    model = _model_file(tmp_path)
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        argv = {
            "train": ["train", *TRAIN, "--output-dir", str(folder / "run")],
            "init": ["init", str(folder / "m.pt"), "--species", "H"],
            "export-lammps": ["export-lammps", model, str(folder / "m.pkl")],
            "relax": ["relax", model, ETHANOL, "--out", str(folder / "r.extxyz"), "--device", "cpu"],
            "md": ["md", model, ETHANOL, "--out", str(folder / "t.extxyz"), *QUICK_MD],
        }[command]
        message = _exit_message(argv)
    finally:
        folder.chmod(0o755)
    assert message.startswith(f"se3t {command}: cannot read or write {folder}")
    assert "[Errno 13] Permission denied; check its permissions" in message


@pytest.mark.parametrize("saved", [False, True])
def test_a_full_disk_in_training_advises_resume_only_with_a_checkpoint(tmp_path, saved):
    """In the first epoch no last.pt exists yet: --resume would be refused, so the advice is to
    start again; later the run continues with --resume."""
    import errno

    from se3t_calc.cli import _os_error_message

    run = tmp_path / "run"
    run.mkdir()
    if saved:
        (run / "last.pt").write_bytes(b"a checkpoint")
    full = OSError(errno.ENOSPC, "No space left on device", str(run / "best.pt"))
    message = _os_error_message("train", full)
    assert message.startswith(f"se3t train: cannot write {run / 'best.pt'}: [Errno 28]")
    if saved:
        assert message.endswith("then continue with the same command and --resume")
    else:
        assert message.endswith(
            "then start again with the same command and --overwrite (no checkpoint was saved yet)"
        )


# 5. MD settings without a meaning


def test_md_of_one_atom_is_refused(tmp_path):
    write(tmp_path / "one.xyz", Atoms("C", positions=[[0, 0, 0]]))
    message = _exit_message(["md", _model_file(tmp_path), str(tmp_path / "one.xyz"), *QUICK_MD])
    assert "MD needs at least 2 atoms, got 1" in message and "atoms.repeat" in message


def test_nose_hoover_at_zero_kelvin_is_refused(tmp_path):
    argv = ["md", _model_file(tmp_path), ETHANOL, "--ensemble", "nose-hoover", "--temperature-K", "0"]
    message = _exit_message([*argv, *QUICK_MD])
    assert "--ensemble nose-hoover needs --temperature-K > 0" in message and "--ensemble nve" in message


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--timestep-fs", "inf", "must be a finite number, got inf"),
        ("--temperature-K", "inf", "must be a finite number, got inf"),
        ("--temperature-K", "nan", "must be a finite number, got nan"),
        ("--seed", "-1", "must be >= 0, got -1"),
        ("--skin", "inf", "must be a finite number, got inf"),
        ("--skin", "nan", "must be a finite number, got nan"),
    ],
)
def test_md_flags_without_a_meaning_are_refused_naming_the_flag(tmp_path, capsys, flag, value, expected):
    with pytest.raises(SystemExit) as exit_info:
        main(["md", "m.pt", ETHANOL, flag, value])
    assert exit_info.value.code == 2
    assert f"argument {flag}: {expected}" in capsys.readouterr().err


def test_make_dynamics_refuses_what_has_no_meaning():
    from se3t_calc.dynamics import make_dynamics

    atoms = ethanol()
    atoms.calc = calc(small_model())
    for settings, message in [
        ({"timestep_fs": float("inf")}, "timestep_fs must be finite, got inf"),
        ({"temperature_K": float("inf")}, "temperature_K must be finite, got inf"),
        ({"initial_temperature_K": float("inf")}, "initial_temperature_K must be finite, got inf"),
        ({"seed": -1}, "seed must be >= 0, got -1"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            make_dynamics(atoms, "langevin", **settings)
    with pytest.raises(ValueError, match="Nosé-Hoover thermostat needs temperature_K > 0"):
        make_dynamics(atoms, "nose-hoover", temperature_K=0)
    with pytest.raises(ValueError, match="MD needs at least 2 atoms, got 1"):
        make_dynamics(atoms[:1], "nve", initial_temperature_K=0)


@pytest.mark.parametrize("skin", [float("nan"), float("inf"), -1.0, "wide"])
def test_calculator_refuses_a_skin_without_a_meaning(skin):
    """NaN and inf were accepted until the first call failed inside vesin."""
    with pytest.raises(ValueError, match="skin must be a"):
        SE3TCalculator(small_model(), device="cpu", skin=skin)


def test_zero_and_finite_skins_still_work():
    atoms = bulk("C", "diamond", a=3.6)
    reference = energy_forces(atoms, calc(small_model()))[0]
    for skin in (0, 0.5):
        assert energy_forces(atoms, calc(small_model(), skin=skin))[0] == pytest.approx(reference, rel=1e-12)
