"""``se3t learn``: references, selection, the run folder, resume without losing frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.emt import EMT
from ase.io import read, write

from se3t_calc import SE3TCalculator
from se3t_calc.cli import main
from se3t_calc.learn.explore import Exploration, select
from se3t_calc.learn.loop import LearningRun
from se3t_calc.learn.references import ReferenceFailure, _spin, label, make_reference
from se3t_calc.learn.settings import LearnConfig
from se3t_calc.train.data import read_structures

# a reference for the tests: EMT, counting its calls, raising on demand
CALLS = {"count": 0, "fail_every": 0, "fail_until": 10**9, "interrupt_at": -1}


class CountingEMT(EMT):
    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        CALLS["count"] += 1
        if CALLS["count"] == CALLS["interrupt_at"]:
            raise KeyboardInterrupt  # a killed run
        failing = CALLS["fail_every"] and CALLS["count"] <= CALLS["fail_until"]
        if failing and CALLS["count"] % CALLS["fail_every"] == 0:
            raise RuntimeError("SCF not converged\nmore text")
        super().calculate(atoms, properties, system_changes or ["positions", "numbers"])


def counting_emt() -> CountingEMT:
    return CountingEMT()


REFERENCE = f"{Path(__file__).stem}:counting_emt"
TINY = dict(
    reference=REFERENCE,
    committee=2,
    initial_frames=8,
    frames_per_round=3,
    threshold=0.02,
    explore_ps=0.02,
    first_steps=12,
    steps=4,
    validation_frames=3,
    workers=1,
    model={"r_cut": 3.5, "lmax": 1, "hidden_irreps": "8x0e+4x1o", "num_heads": 2, "num_layers": 1},
    train={"batch_size": 2, "valid_size": 2, "energy_weight": 10.0, "forces_weight": 100.0, "ema_decay": 0.0},
)


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.update(count=0, fail_every=0, fail_until=10**9, interrupt_at=-1)


@pytest.fixture
def structure(tmp_path):
    path = tmp_path / "h2o.xyz"
    write(path, molecule("H2O"))
    return str(path)


def test_reference_specs_are_checked():
    with pytest.raises(ValueError, match="pyscf:XC/BASIS"):
        make_reference("pyscf:pbe")
    with pytest.raises(ValueError, match="unknown"):
        make_reference("orca")
    with pytest.raises(ValueError, match="cannot import"):
        make_reference("no_such_module:calc")
    assert isinstance(make_reference(REFERENCE)(), CountingEMT)


def test_label_turns_every_failure_into_a_reason():
    atoms = molecule("H2O")
    CALLS["fail_every"] = 1
    assert label(atoms, counting_emt()) == "RuntimeError: SCF not converged"

    class NaNForces(EMT):
        def calculate(self, *args, **kwargs):
            super().calculate(*args, **kwargs)
            self.results["forces"][0, 0] = np.nan

    assert label(atoms, NaNForces()) == "non-finite energy or forces"
    CALLS["fail_every"] = 0
    energy, forces = label(atoms, counting_emt())
    assert np.isfinite(energy) and forces.shape == (3, 3)


def test_spin_of_lone_atoms_follows_hund_and_molecules_the_electron_parity():
    assert [_spin(np.array([z]), 0) for z in (1, 2, 6, 7, 8, 9, 26)] == [1, 0, 2, 3, 2, 1, 4]
    assert _spin(np.array([8, 1, 1]), 0) == 0 and _spin(np.array([8, 1]), 0) == 1


def test_pyscf_forces_are_the_gradient_of_its_energy():
    pytest.importorskip("pyscf")
    from se3t_calc.learn.references import PySCFCalculator

    atoms = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.8]])
    calc = PySCFCalculator(xc="pbe", basis="sto-3g")
    forces = label(atoms, calc)[1]
    h = 1e-4
    energies = []
    for step in (h, -h):
        moved = atoms.copy()
        moved.positions[1, 2] += step
        energies.append(label(moved, calc)[0])
    assert forces[1, 2] == pytest.approx(-(energies[0] - energies[1]) / (2 * h), abs=1e-4)
    assert forces[0, 2] == pytest.approx(-forces[1, 2], abs=1e-8)


def _exploration(sigma, ends=(), trajectory=None):
    frames = [Atoms("H", positions=[[k, 0, 0]]) for k in range(len(sigma))]
    trajectory = np.zeros(len(sigma), dtype=int) if trajectory is None else np.array(trajectory)
    return Exploration(frames, np.array(sigma), 10 * len(sigma), ["x"] * len(ends), list(ends), trajectory)


def test_selection_takes_the_most_uncertain_apart_and_where_md_ended():
    found = _exploration([0.1, 0.5, 0.45, 0.4, 0.05, 0.3, 0.35, 0.2, 0.01, 0.02])
    chosen = [int(f.positions[0, 0]) for f in select(found, threshold=0.15, count=3, min_gap=3)]
    assert chosen == [1, 6]  # 2 and 3 are too close to 1, 5 and 7 to 6; the rest below the threshold
    two = _exploration([0.1, 0.5, 0.45, 0.4], trajectory=[0, 0, 1, 1])  # neighbours, but two trajectories
    assert [int(f.positions[0, 0]) for f in select(two, threshold=0.15, count=3, min_gap=3)] == [1, 2]
    two = _exploration([0.1, 0.5, 0.45, 0.4], trajectory=[0, 0, 1, 1])  # neighbours, but two trajectories
    assert [int(f.positions[0, 0]) for f in select(two, threshold=0.15, count=3, min_gap=3)] == [1, 2]
    ended = [int(f.positions[0, 0]) for f in select(_exploration([0.1] * 6, ends=[5]), 0.15, 3)]
    assert ended == [5]  # below the threshold everywhere, but the trajectory ended there
    assert _exploration([0.1] * 5).converged(0.15, planned=50)
    assert not _exploration([0.1, 0.2]).converged(0.15, planned=20)


def _config(structure, tmp_path, **changes):
    return LearnConfig(structure=structure, output_dir=str(tmp_path / "run"), **{**TINY, **changes})


def test_learning_run_writes_a_usable_folder(structure, tmp_path):
    CALLS.update(fail_every=7, fail_until=20)  # the validation MD after the 20 calls does not fail
    config = _config(structure, tmp_path, max_calls=20, workers=2)  # two members side by side
    folder = LearningRun.new(config).run()
    state = json.loads((folder / "state.json").read_text())
    rounds = json.loads((folder / "rounds.json").read_text())
    data = read_structures(folder / "data.xyz")  # what se3t train reads
    assert state["stop"] == "max_calls" and state["calls"] == 20 and len(state["failed"]) >= 2
    assert len(data) + len(state["failed"]) == 20 - 2  # two lone atoms for E0
    assert "SCF not converged" in (folder / "learn.log").read_text()
    assert rounds[0]["frames"] <= len(data) and all("valid_forces_mae_meV_per_A" in r for r in rounds)
    ids = [frame.info["learn_id"] for frame in read(folder / "data.xyz", ":")]
    assert len(ids) == len(set(ids))
    committee = SE3TCalculator(str(folder), dtype="float64")
    assert committee.num_members == 2
    water = molecule("H2O")
    water.calc = committee
    assert np.isfinite(water.get_forces()).all() and "forces_std" in committee.results
    scores = json.loads((folder / "validation.json").read_text())
    assert set(scores) == {"300K", "600K"} and scores["300K"]["structures"] == 3
    assert (folder / "learning_curve.png").stat().st_size > 0
    card = json.loads((folder / "card.json").read_text())
    assert card["reference_calls"] == 20 and card["validation"] == scores and card["frames"] == len(data)


def test_killed_run_resumes_without_labelling_a_frame_twice(structure, tmp_path):
    config = _config(structure, tmp_path, max_calls=16, validation_frames=0)
    CALLS["interrupt_at"] = 6  # E0 (2 calls), then the 4th initial frame
    with pytest.raises(KeyboardInterrupt):
        LearningRun.new(config).run()
    folder = Path(config.output_dir)
    kept = read(folder / "data.xyz", ":")
    assert len(kept) == 3 and (folder / "pending.xyz").is_file()
    with pytest.raises(ValueError, match="--resume"):
        LearningRun.new(config)
    CALLS.update(count=0, interrupt_at=-1)
    run = LearningRun.resume(str(folder), {"max_calls": 16})
    run.run()
    state = json.loads((folder / "state.json").read_text())
    assert CALLS["count"] == 16 - 5 and state["calls"] == 16  # nothing labelled twice
    data = read(folder / "data.xyz", ":")
    assert [f.info["learn_id"] for f in data[:3]] == [f.info["learn_id"] for f in kept]
    assert np.array_equal(data[0].get_forces(), kept[0].get_forces())
    more = LearningRun.resume(str(folder), {"max_calls": 19})  # a larger budget extends it
    assert more.state["stop"] is None
    more.run()
    assert json.loads((folder / "state.json").read_text())["calls"] == 19


def test_cli_refuses_changed_settings_on_resume(structure, tmp_path):
    for argv, message in [
        (["learn", structure], "--reference"),
        (["learn", "--resume", str(tmp_path), "--threshold", "0.2"], "--threshold"),
        (["learn", "--resume", str(tmp_path)], "no learning run"),
    ]:
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert message in str(stop.value.code)


def test_xtb_reference_labels_a_molecule_and_its_lone_atoms():
    pytest.importorskip("tblite")
    from se3t_calc.learn.references import isolated_atom_energies

    factory = make_reference("xtb")
    water = molecule("H2O")
    energy, forces = label(water, factory())
    e0 = isolated_atom_energies(("H", "O"), factory)
    assert -1000 < energy < 0 and np.abs(forces.sum(axis=0)).max() < 1e-6  # no net force
    assert energy < 2 * e0["H"] + e0["O"] - 5.0  # water is bound by about 10 eV in GFN2-xTB
    moved = water.copy()
    moved.positions[1, 0] += 1e-4
    slope = (label(moved, factory())[0] - energy) / 1e-4
    assert forces[1, 0] == pytest.approx(-slope, abs=2e-3)


def test_walkers_side_by_side_do_not_feel_each_other(tmp_path):
    import torch

    from se3t_calc import SE3TModel
    from se3t_calc.config import ModelConfig
    from se3t_calc.learn.explore import _restart, _side_by_side, explore

    torch.manual_seed(0)
    members = [SE3TModel(ModelConfig(species=("H", "O"), **TINY["model"])) for _ in "ab"]
    committee = SE3TCalculator(members, dtype="float64")
    water = molecule("H2O")
    system, offsets = _side_by_side(water, 3, cutoff=3.5)
    system.calc = committee
    forces = system.get_forces()
    water.calc = committee
    alone = water.get_forces()
    for k in range(3):
        np.testing.assert_allclose(forces[3 * k : 3 * k + 3], alone, atol=1e-12)
    system.set_momenta(np.ones((9, 3)))
    _restart(system, slice(3, 6), water.positions + offsets[1], 300.0, np.random.default_rng(0))
    np.testing.assert_allclose(system.positions[3:6], water.positions + offsets[1])
    assert np.abs(system.get_momenta()[3:6].sum(axis=0)).max() < 1e-12  # no drift
    assert (system.get_momenta()[:3] == 1).all()  # the other walkers untouched
    found = explore(water, committee, temperature_K=300, steps=20, threshold=10, wanted=5, seed=0, cutoff=3.5)
    assert len(found.frames) == 2 * 4 and found.steps == 20  # 4 walkers, a snapshot every 10 steps
    for frame in found.frames:  # each snapshot is one water near the start, not the whole system
        assert len(frame) == 3 and np.abs(frame.positions - water.positions).max() < 1.0
    assert len(found.walkers) == 4 and np.abs(found.walkers[0].get_momenta()).max() > 0
    settings = dict(temperature_K=300, threshold=10, wanted=5, seed=1, cutoff=3.5)
    going_on = explore(water, committee, steps=1, resume=found.walkers, **settings)
    for before, after in zip(found.walkers, going_on.walkers, strict=True):  # a step on from where they were
        assert 0 < np.abs(after.positions - before.positions).max() < 0.05


def test_cli_learns_from_a_settings_file_and_resumes_with_a_larger_budget(structure, tmp_path):
    settings = tmp_path / "small.toml"
    settings.write_text(
        '[model]\nr_cut = 3.5\nlmax = 1\nhidden_irreps = "8x0e+4x1o"\nnum_heads = 2\nnum_layers = 1\n'
        "[train]\nbatch_size = 2\nvalid_size = 2\nema_decay = 0.0\n"
    )
    out = str(tmp_path / "run")
    flags = ["--committee", "2", "--initial-frames", "8", "--first-steps", "6", "--steps", "2"]
    flags += ["--workers", "1", "--explore-ps", "0.01", "--validation-frames", "2", "--threshold", "0.01"]
    flags += ["--max-calls", "12", "--output-dir", out, "--settings", str(settings)]
    main(["learn", structure, "--reference", REFERENCE, *flags])
    stored = json.loads((tmp_path / "run" / "settings.json").read_text())
    assert stored["model"]["hidden_irreps"] == "8x0e+4x1o" and stored["train"]["forces_weight"] == 1000.0
    assert json.loads((tmp_path / "run" / "card.json").read_text())["reference_calls"] == 12
    main(["learn", "--resume", out, "--max-calls", "15"])
    card = json.loads((tmp_path / "run" / "card.json").read_text())
    assert card["reference_calls"] == 15 and card["stop"] == "max_calls"
    with pytest.raises(SystemExit) as stop:
        main(["learn", "--resume", out, "--settings", str(settings)])
    assert "--settings" in str(stop.value.code)


def test_a_reference_that_always_fails_ends_the_run_with_a_reason(structure, tmp_path):
    CALLS.update(fail_every=1, fail_until=10**9)
    with pytest.raises(ReferenceFailure, match="lone H atom") as failure:  # E0 comes first
        LearningRun.new(_config(structure, tmp_path)).run()
    assert "SCF not converged" in str(failure.value)
    CALLS.update(count=0, fail_every=3)  # E0 (calls 1, 2), then every third call fails
    config = _config(structure, tmp_path / "few", max_calls=6)
    with pytest.raises(ReferenceFailure, match="only 2 frames labelled after 6 reference calls"):
        LearningRun.new(config).run()


def test_a_reference_module_in_the_working_folder_is_found(tmp_path, monkeypatch):
    (tmp_path / "my_reference_here.py").write_text(
        "from ase.calculators.emt import EMT\n\ndef make():\n    return EMT()\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", str(tmp_path))])
    assert isinstance(make_reference("my_reference_here:make")(), EMT)


def test_a_new_run_refuses_a_folder_with_files_it_would_replace(tmp_path):
    write(tmp_path / "data.xyz", molecule("H2O"))  # the user's data, and the structure to learn from
    config = LearnConfig(structure=str(tmp_path / "data.xyz"), output_dir=str(tmp_path), **TINY)
    with pytest.raises(ValueError, match=r"holds data\.xyz, which a learning run would replace"):
        LearningRun.new(config)
    assert len(read(tmp_path / "data.xyz", ":")) == 1


def test_the_time_budget_keeps_room_for_another_round(structure, tmp_path):
    """--max-time stops the learning when another round as long as the last would not fit,
    rather than after the budget has run out."""
    import time

    run = LearningRun.new(_config(structure, tmp_path, max_time="100s"))
    run.elapsed_before, run.clock = 70.0, time.monotonic()
    run.cycle_s = 20.0
    assert run.out_of_budget() is None
    run.cycle_s = 40.0
    assert run.out_of_budget() == "max_time"


def test_a_failed_start_does_not_block_the_corrected_command(structure, tmp_path):
    """A reference that fails on the lone atoms (E0) leaves nothing labelled: the same
    --output-dir with a working reference starts afresh; a bad spec writes no folder at all."""
    with pytest.raises(ValueError, match="--reference pyscf: unknown"):
        LearningRun.new(_config(structure, tmp_path, reference="pyscf"))
    assert not (tmp_path / "run").exists()
    with pytest.raises(ReferenceFailure, match=r"returned int, not an ASE calculator"):
        LearningRun.new(
            _config(structure, tmp_path, reference=f"{Path(__file__).stem}:not_a_calculator")
        ).run()
    with pytest.raises(
        ReferenceFailure, match=r"calling it to make a calculator failed \(RuntimeError: boom\)"
    ):
        LearningRun.new(_config(structure, tmp_path, reference=f"{Path(__file__).stem}:raising")).run()
    run = LearningRun.new(_config(structure, tmp_path, max_calls=6))  # the folder of the failures
    assert run.run() == tmp_path / "run"


def not_a_calculator() -> int:
    return 42


def raising() -> EMT:
    raise RuntimeError("boom")


def test_what_cannot_be_learned_is_refused_before_any_reference_call(structure, tmp_path):
    lone = tmp_path / "h.xyz"
    write(lone, Atoms("H"))
    with pytest.raises(ValueError, match="needs at least 2"):
        LearningRun.new(_config(str(lone), tmp_path))
    with pytest.raises(ValueError, match=r"--max-calls 2: the 2 lone atoms \(E0\) take 2 reference calls"):
        LearningRun.new(_config(structure, tmp_path, max_calls=2))
    with pytest.raises(ValueError, match=r"--initial-frames 4 with valid_size 0.1 .* holds out 0 frame"):
        _config(str(lone), tmp_path, initial_frames=4, train={"valid_size": 0.1}).check()
    assert CALLS["count"] == 0
