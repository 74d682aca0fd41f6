"""``se3t learn``: label, train a committee, explore with it, select what it is unsure of, repeat.

The run folder and its files: :mod:`se3t_calc.learn.folder`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from se3t_calc.config import ModelConfig
from se3t_calc.learn.explore import explore, rattled, select
from se3t_calc.learn.folder import (
    RUN_FILES,
    labelled_nothing,
    new_state,
    read_frames,
    read_json,
    write_frames,
    write_json,
)
from se3t_calc.learn.references import ReferenceFailure, isolated_atom_energies, label, make_reference
from se3t_calc.learn.settings import LearnConfig
from se3t_calc.learn.training import member_pool, train_round
from se3t_calc.learn.validate import labelled_copy, reference_md, score
from se3t_calc.structures import read_structure
from se3t_calc.train.config import parse_duration


class LearningRun:
    """One ``se3t learn`` run folder: its settings, state and data.

    Parameters
    ----------
    config : LearnConfig
    """

    def __init__(self, config: LearnConfig):
        config.check()
        self.config = config
        self.factory = make_reference(config.reference)  # a bad spec is refused before any file
        self.dir = Path(config.output_dir)
        start = self.dir / "start.xyz"
        if not start.is_file():
            structure = read_structure(config.structure)
            _check_structure(structure, config)
            self.dir.mkdir(parents=True, exist_ok=True)
            write_frames(start, [structure])
        self.start = read_structure(start)
        write_json(self.dir / "settings.json", config.to_dict())
        self.state = read_json(self.dir / "state.json", new_state())
        self.rounds: list[dict[str, Any]] = read_json(self.dir / "rounds.json", [])
        self.data = read_frames(self.dir / "data.xyz")
        self.clock = time.monotonic()
        self.elapsed_before = float(self.state["elapsed_s"])
        self.budget = parse_duration(config.max_time) if config.max_time else None
        self.cycle_s = 0.0  # seconds of the last round (explore, label, train): the next one's estimate
        self.pool: Executor | None = None

    @classmethod
    def new(cls, config: LearnConfig) -> LearningRun:
        """A run in a folder that holds none yet."""
        folder = Path(config.output_dir)
        if (folder / "settings.json").is_file() and labelled_nothing(folder):
            for name in RUN_FILES:  # a start that failed before its first label: begin afresh
                (folder / name).unlink(missing_ok=True)
        if (folder / "settings.json").is_file():
            raise ValueError(f"{folder} already holds a learning run; continue it with --resume {folder}")
        taken = sorted(p.name for p in folder.glob("*") if p.name in RUN_FILES or p.match("member_*.pt"))
        if taken:
            raise ValueError(
                f"{folder} holds {', '.join(taken)}, which a learning run would replace: "
                "choose another --output-dir"
            )
        return cls(config)

    @classmethod
    def resume(cls, folder: str, budgets: dict[str, Any]) -> LearningRun:
        """The run in ``folder``, with new budgets (:meth:`LearnConfig.resumed`)."""
        stored = Path(folder) / "settings.json"
        if not stored.is_file():
            raise FileNotFoundError(f"{folder} holds no learning run to resume (no settings.json)")
        config = LearnConfig.resumed(json.loads(stored.read_text()), budgets)
        run = cls(dataclasses.replace(config, output_dir=str(folder)))
        if run.state["stop"] in ("max_time", "max_calls") and run.out_of_budget() is None:
            run.state["stop"] = None  # a larger budget continues a run that ran out
        return run

    # --- bookkeeping -------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        """Seconds spent on this run, over all resumes."""
        return self.elapsed_before + time.monotonic() - self.clock

    def out_of_budget(self) -> str | None:
        """``"max_time"`` or ``"max_calls"`` when that budget is spent, else None; the time is
        spent when another round as long as the last one would not end within it."""
        if self.budget is not None and self.elapsed + self.cycle_s >= self.budget:
            return "max_time"
        return "max_calls" if self.state["calls"] >= self.config.max_calls else None

    def say(self, text: str) -> None:
        """Print and append to ``learn.log``."""
        line = f"[{self.elapsed:7.0f} s] {text}"
        print(line, flush=True)
        with open(self.dir / "learn.log", "a") as log:
            log.write(line + "\n")

    def save(self) -> None:
        """Write the state, the rounds and the data atomically."""
        self.state["elapsed_s"] = self.elapsed
        write_json(self.dir / "state.json", self.state)
        write_json(self.dir / "rounds.json", self.rounds)

    # --- stages ------------------------------------------------------------------------

    def run(self) -> Path:
        """Learn until converged or out of budget, then validate; returns the committee folder."""
        workers = min(self.config.workers, self.config.committee, os.cpu_count() or 1)
        with member_pool(workers) if workers > 1 else contextlib.nullcontext() as self.pool:
            return self._run()

    def _run(self) -> Path:
        if not (self.dir / "isolated_atoms.xyz").is_file():
            self._label_isolated_atoms()
        if not self.data and not (self.dir / "pending.xyz").is_file():
            rng = np.random.default_rng(self.config.seed)
            frames = rattled(self.start, self.config.initial_frames, self.config.temperature_K, rng)
            self._set_pending(frames, source="rattled", round_=0)
        while self.state["stop"] is None:
            cycle_start = self.elapsed
            self._label_pending()
            if len(self.data) < 3:
                raise ReferenceFailure(
                    f"only {len(self.data)} frames labelled after {self.state['calls']} reference calls "
                    f"(failures in {self.dir / 'learn.log'}); training needs at least 3: raise --max-calls "
                    "or fix the reference"
                )
            if not self.rounds or self.rounds[-1]["frames"] < len(self.data):
                self._train(len(self.rounds), self.config.steps if self.rounds else self.config.first_steps)
            self.state["stop"] = self.out_of_budget()
            if self.state["stop"] is None:
                self._explore(len(self.rounds) - 1)
            self.cycle_s = self.elapsed - cycle_start if len(self.rounds) > 1 else 0.0
            self.save()
            self._plot()
        self.say(f"stopped: {self.state['stop']}")
        if self.config.final_steps and not self.rounds[-1].get("final"):
            self._train(len(self.rounds), self.config.final_steps, final=True)
            self.save()
            self._plot()
        if self.config.validation_frames:
            self._validate()
        self._write_card()
        return self.dir

    def _write_card(self) -> None:
        """``card.json``: what was learned, at what cost, and how well it holds on unseen MD."""
        last = self.rounds[-1]
        card = {
            "structure": self.start.get_chemical_formula(),
            "reference": self.config.reference,
            "temperature_K": self.config.temperature_K,
            "stop": self.state["stop"],
            "rounds": len(self.rounds),
            "frames": len(self.data),
            "reference_calls": self.state["calls"],
            "reference_failures": len(self.state["failed"]),
            "reference_s": round(self.state["reference_s"], 1),
            "learning_s": round(self.elapsed, 1),
            "committee": self.config.committee,
            "valid_forces_mae_meV_per_A": last["valid_forces_mae_meV_per_A"],
            "validation": read_json(self.dir / "validation.json", {}),
            "validation_reference_calls": self.state["validation_calls"],
        }
        write_json(self.dir / "card.json", card)

    def _label_isolated_atoms(self) -> None:
        species = sorted(set(self.start.get_chemical_symbols()))
        t0 = time.monotonic()
        energies = isolated_atom_energies(tuple(species), self.factory)
        self.state["calls"] += len(species)
        self.state["reference_s"] += time.monotonic() - t0
        lone = [labelled_copy(Atoms(s), e, np.zeros((1, 3))) for s, e in energies.items()]
        write_frames(self.dir / "isolated_atoms.xyz", lone)
        self.say("isolated atoms (E0, eV): " + ", ".join(f"{s} {e:.4f}" for s, e in energies.items()))
        self.save()

    def _set_pending(self, frames: list[Atoms], *, source: str, round_: int) -> None:
        first = int(self.state["next_id"])
        for k, frame in enumerate(frames):
            frame.info.update(learn_id=first + k, learn_round=round_, learn_source=source)
        self.state["next_id"] = first + len(frames)
        write_frames(self.dir / "pending.xyz", frames)
        self.save()

    def _label_pending(self) -> None:
        """Label the pending frames one by one; each result is saved before the next call."""
        pending = self.dir / "pending.xyz"
        if not pending.is_file():
            return
        done = {int(f.info["learn_id"]) for f in self.data} | {f["id"] for f in self.state["failed"]}
        calculator = self.factory()
        for frame in read_frames(pending):
            frame_id = int(frame.info["learn_id"])
            if frame_id in done:
                continue
            if self.state["calls"] >= self.config.max_calls:
                self.say(
                    f"max_calls {self.config.max_calls} reached; the remaining pending frames stay unlabelled"
                )
                return
            t0 = time.monotonic()
            result = label(frame, calculator)
            self.state["calls"] += 1
            self.state["reference_s"] += time.monotonic() - t0
            if isinstance(result, str):
                self.state["failed"].append({"id": frame_id, "reason": result})
                self.say(f"reference failed on frame {frame_id}, skipped: {result}")
                calculator = self.factory()  # a failed calculator may hold a broken state
            else:
                labelled = labelled_copy(frame, *result)
                labelled.info.update(frame.info)
                self.data.append(labelled)
                write_frames(self.dir / "data.xyz", self.data)
            self.save()
        pending.unlink()

    def _train(self, round_: int, steps: int, *, final: bool = False) -> None:
        """Train the committee of ``round_`` on all data, warm-started from the last round;
        the ``final`` one after the learning, without a time limit."""
        t0 = time.monotonic()
        folder = self.dir / f"round_{round_}"
        remaining = None if self.budget is None or final else max(self.budget - self.elapsed, 1.0)
        frames = len(self.data)
        validation = train_round(
            self.config, self.dir, round_, frames=frames, steps=steps, seconds=remaining, pool=self.pool
        )
        for path in folder.glob("member_*.pt"):
            shutil.copyfile(path, self.dir / f".{path.name}.tmp")
            (self.dir / f".{path.name}.tmp").replace(self.dir / path.name)
        record = {
            "round": round_,
            "frames": len(self.data),
            "reference_calls": self.state["calls"],
            "reference_failures": len(self.state["failed"]),
            "reference_s": round(self.state["reference_s"], 1),
            "train_s": round(time.monotonic() - t0, 1),
            "valid_forces_mae_meV_per_A": validation,
            "final": final,
        }
        self.rounds.append(record)
        self.say(
            f"round {round_}: {len(self.data)} frames, {self.state['calls']} reference calls; committee "
            f"trained in {record['train_s']:.0f} s, validation force MAE {validation:.1f} meV/Å"
        )

    def _explore(self, round_: int) -> None:
        """Committee MD; frames above the threshold become the next round's pending frames."""
        from se3t_calc import SE3TCalculator

        config = self.config
        steps = round(1000 * config.explore_ps / config.timestep_fs)
        temperature = config.temperature_at(round_, self.state["explorations"])
        t0 = time.monotonic()
        committee = SE3TCalculator(str(self.dir), device="cpu", dtype="float32")
        found = explore(
            self.start,
            committee,
            temperature_K=temperature,
            steps=steps,
            threshold=config.threshold,
            wanted=config.frames_per_round,
            seed=config.seed + 1000 * (self.state["explorations"] + 1),
            cutoff=float(config.model.get("r_cut", ModelConfig.r_cut)),
            walkers=config.walkers,
            resume=read_frames(self.dir / "walkers.xyz") or None,
            timestep_fs=config.timestep_fs,
        )
        write_frames(self.dir / "walkers.xyz", found.walkers)
        self.state["explorations"] += 1
        record = self.rounds[-1]
        record.update(
            explore_temperature_K=temperature,
            explore_steps=found.steps,
            explore_s=round(time.monotonic() - t0, 1),
            max_force_std_meV_per_A=round(1000 * float(found.sigma.max(initial=0.0)), 1),
            mean_force_std_meV_per_A=round(1000 * float(found.sigma.mean()) if found.sigma.size else 0.0, 1),
            above_threshold=int((found.sigma > config.threshold).sum()),
            explore_stops=found.stops,
        )
        if found.converged(config.threshold, steps):
            self.state["stop"] = "converged"
            self.say(
                f"converged: {found.steps} steps at {temperature:.0f} K with every force uncertainty below "
                f"{config.threshold} eV/Å (largest {record['max_force_std_meV_per_A']:.0f} meV/Å)"
            )
            return
        chosen = select(found, config.threshold, config.frames_per_round)
        if not chosen:
            self.state["stop"] = "nothing to add"
            self.say(f"explored {found.steps} steps: no snapshot to add ({found.stops})")
            return
        self.say(
            f"explored {found.steps} steps at {temperature:.0f} K: largest force uncertainty "
            f"{record['max_force_std_meV_per_A']:.0f} meV/Å, {record['above_threshold']} snapshots above "
            f"{1000 * config.threshold:.0f}; {len(chosen)} chosen"
            + (f"; ended early: {found.stops[-1]}" if found.stops else "")
        )
        self._set_pending(chosen, source="committee MD", round_=round_ + 1)

    def _validate(self) -> None:
        """Reference MD at the target and a higher temperature, scored with the committee."""
        from se3t_calc import SE3TCalculator

        config = self.config
        committee = SE3TCalculator(str(self.dir), device="cpu", dtype="float64")
        results = {}
        for k, temperature in enumerate(config.validation_temperatures()):
            path = self.dir / f"validation_{temperature:.0f}K.xyz"
            if not path.is_file():
                t0 = time.monotonic()
                frames = self._reference_md(
                    self.start,
                    self.factory,
                    temperature_K=temperature,
                    frames=config.validation_frames,
                    seed=config.seed + 10**6 + k,
                    timestep_fs=config.timestep_fs,
                )
                if frames is None:
                    continue
                write_frames(path, frames[0])
                self.state["validation_calls"] += frames[1]
                self.state["validation_s"] += time.monotonic() - t0
                self.save()
                self.say(
                    f"validation set {path.name}: {frames[1]} reference calls, {time.monotonic() - t0:.0f} s"
                )
            results[f"{temperature:.0f}K"] = scores = score(read_frames(path), committee)
            self.say(
                f"validation at {temperature:.0f} K ({scores['structures']} frames of reference MD): "
                f"forces MAE {scores['forces_mae_meV_per_A']:.1f} meV/Å, "
                f"energy MAE {scores['energy_mae_meV']:.1f} meV"
            )
        write_json(self.dir / "validation.json", results)

    def _reference_md(self, *args: Any, **kwargs: Any) -> tuple[list[Atoms], int] | None:
        """:func:`reference_md`, or None with the reason logged when the reference fails."""
        try:
            return reference_md(*args, **kwargs)
        except Exception as err:  # a reference may raise anything
            temperature = kwargs["temperature_K"]
            self.say(f"validation MD at {temperature:.0f} K failed, skipped: {type(err).__name__}: {err}")
            return None

    def _plot(self) -> None:
        from se3t_calc.train.plots import rounds_curve

        rounds_curve(self.rounds, self.config.threshold, self.dir / "learning_curve.png")


def learn(config: LearnConfig) -> Path:
    """Run ``se3t learn`` in a new folder; see :class:`LearningRun`."""
    return LearningRun.new(config).run()


def _check_structure(atoms: Atoms, config: LearnConfig) -> None:
    """Refuse, before any reference call, a structure with nothing to learn between atoms, or a
    budget of calls that the lone atoms (E0) and a first training set would exceed."""
    if len(atoms) < 2:
        raise ValueError(
            f"{config.structure} holds {len(atoms)} atom: se3t learn fits the interactions between "
            "atoms, so the structure needs at least 2 (a lone atom's energy is its E0)"
        )
    elements = len(set(atoms.numbers))
    if config.max_calls < elements + 3:
        raise ValueError(
            f"--max-calls {config.max_calls}: the {elements} lone atoms (E0) take {elements} reference "
            f"calls and the first training needs at least 3 labelled frames; give at least "
            f"{elements + 3} (more to learn anything: e.g. {elements + config.initial_frames})"
        )
