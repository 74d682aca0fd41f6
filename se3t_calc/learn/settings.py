"""Settings of ``se3t learn``, with the model and training settings of its committees."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from se3t_calc.train.config import parse_duration

# a small model: a learning run trains it again every round, so its cost sets the pace
MODEL = {
    "r_cut": 5.0,
    "lmax": 2,
    "hidden_irreps": "32x0e+8x1o+8x2e",
    "num_heads": 4,
    "num_layers": 2,
    "radial_basis": "bessel",
}
TRAIN = {
    "batch_size": 4,
    "lr": 0.01,
    "schedule": "cosine",
    "ema_decay": 0.99,
    "energy_weight": 10.0,
    "forces_weight": 1000.0,
    "valid_size": 0.1,
}
POSITIVE = ("temperature_K", "max_calls", "committee", "initial_frames", "frames_per_round", "threshold",
            "explore_ps", "walkers", "timestep_fs", "first_steps", "validation_factor", "workers",
            "hot_factor")  # fmt: skip
# settings that may change when a run is resumed
BUDGETS = ("max_time", "max_calls", "threads", "workers")


@dataclass
class LearnConfig:
    """What ``se3t learn`` does; every field is a command-line flag of the same name.

    Attributes
    ----------
    structure : str
        Starting structure (any file ``ase.io.read`` reads).
    reference : str
        See :func:`se3t_calc.learn.references.make_reference`.
    temperature_K : float
        Target temperature of the exploration MD, K.
    output_dir : str
        Run folder.
    max_time : str or None
        Budget of wall time ("8m", "2h", seconds); the validation is not counted.
    max_calls : int
        Budget of reference calls (E0 and training frames; not the validation MD).
    committee : int
        Members of the committee.
    initial_frames : int
        Rattled copies of the structure labelled first.
    frames_per_round : int
        Largest number of frames added per round.
    threshold : float
        Force uncertainty (largest per-atom norm of the committee's force standard
        deviation), eV/Å, above which a frame is labelled.
    explore_ps : float
        Length of the exploration MD per round, ps; the run has converged when every
        walker runs this long below ``threshold`` throughout.
    walkers : int
        Copies of a molecule explored side by side in one MD, out of each other's reach.
    ramp_rounds : int
        Exploration temperature rises linearly to ``temperature_K`` over this many
        rounds (0: the target from the start).
    hot_factor : float
        Every second exploration MD runs this many times hotter, so that the model
        also holds somewhat above the target temperature (1: never).
    timestep_fs : float
    first_steps, steps : int
        Optimiser steps of each member in the first round (random weights) and in every
        later one (warm start), whatever the number of frames: a round costs the same
        with 20 frames or 500.
    final_steps : int
        Optimiser steps of a last, longer training of the committee on all frames
        once the learning has stopped (0: none); not counted in ``max_time``.
    validation_frames : int
        Frames of each independent reference MD scored at the end (0: none).
    validation_factor : float
        The second validation temperature, as a multiple of ``temperature_K``.
    seed : int
    threads : int or None
        CPU threads of torch.
    workers : int
        Members trained side by side, one process of one thread each, at most one per
        CPU core (1: one after another in this process, with ``threads``).
    """

    structure: str
    reference: str
    temperature_K: float = 300.0
    output_dir: str = "runs/learn"
    max_time: str | None = None
    max_calls: int = 500
    committee: int = 3
    initial_frames: int = 20
    frames_per_round: int = 20
    threshold: float = 0.1
    explore_ps: float = 1.0
    walkers: int = 4
    ramp_rounds: int = 0
    hot_factor: float = 1.5
    timestep_fs: float = 0.5
    first_steps: int = 400
    steps: int = 200
    final_steps: int = 0
    validation_frames: int = 50
    validation_factor: float = 2.0
    seed: int = 0
    threads: int | None = None
    workers: int = 2
    model: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(MODEL))
    train: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(TRAIN))

    def check(self) -> None:
        """Raise ValueError naming the first setting out of range."""
        for name in POSITIVE:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"--{name.replace('_', '-')} must be a positive number, got {value!r}")
        if self.committee < 2:
            raise ValueError(f"--committee {self.committee}: the uncertainty needs at least 2 members")
        for name in ("ramp_rounds", "steps", "final_steps", "validation_frames", "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.max_time is not None:
            parse_duration(self.max_time)
        valid = self.train.get("valid_size", TRAIN["valid_size"])
        held = round(valid * self.initial_frames) if 0 < valid < 1 else int(valid)
        if held < 1 or self.initial_frames - held < 2:
            raise ValueError(
                f"--initial-frames {self.initial_frames} with valid_size {valid} (the [train] settings) "
                f"holds out {held} frame(s) and fits {self.initial_frames - held}: the first round needs "
                "at least 1 to validate and 2 to fit; raise --initial-frames (e.g. 20)"
            )

    def temperature_at(self, round_: int, exploration: int) -> float:
        """Temperature of the ``exploration``-th committee MD (0-based), after training round
        ``round_``, K: every second one runs ``hot_factor`` hotter."""
        ramp = 1.0 if self.ramp_rounds <= 0 else min(1.0, (round_ + 1) / self.ramp_rounds)
        return self.temperature_K * ramp * (self.hot_factor if exploration % 2 else 1.0)

    def validation_temperatures(self) -> tuple[float, float]:
        """The target temperature and the higher one, K."""
        return self.temperature_K, self.validation_factor * self.temperature_K

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for ``settings.json``."""
        return dataclasses.asdict(self)

    @classmethod
    def resumed(cls, stored: dict[str, Any], budgets: dict[str, Any]) -> LearnConfig:
        """The stored settings of a run, with the budgets and threads given now.

        ``budgets`` maps names of :data:`BUDGETS` to new values; any other name is
        refused, since the rounds already run used the stored settings.
        """
        refused = sorted(set(budgets) - set(BUDGETS))
        if refused:
            raise ValueError(
                f"a resumed run keeps its settings; only {', '.join(BUDGETS)} may change, not {refused}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        return dataclasses.replace(cls(**{k: v for k, v in stored.items() if k in known}), **budgets)


# training settings a learning run sets itself
CONTROLLED = ("train_file", "valid_file", "test_file", "atomic_energies", "output_dir", "init_from", "epochs",
              "max_time", "seed", "split_seed", "threads", "device")  # fmt: skip


def read_settings(path: str) -> dict[str, dict[str, Any]]:
    """``model`` and ``train`` of a :class:`LearnConfig` from a ``se3t train`` settings file.

    Values in the file replace those of :data:`MODEL` and :data:`TRAIN`; the training
    settings that the learning run sets itself (:data:`CONTROLLED`) are refused.
    """
    from se3t_calc.train.config import read_config_file

    settings = read_config_file(path)
    refused = sorted(set(settings["train"]) & set(CONTROLLED))
    if refused:
        raise ValueError(f"{path}: se3t learn sets {refused} itself; remove them from [train]")
    return {"model": {**MODEL, **settings["model"]}, "train": {**TRAIN, **settings["train"]}}
