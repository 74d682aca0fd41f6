"""Copy a training run's best model into ``models/`` with its metrics file.

    python benchmarks/publish_model.py runs/rmd17_ethanol_60m rmd17-ethanol \\
        --recipe "bash examples/train_rmd17.sh ethanol 60m --threads 1" --commit 75a98cb
    python benchmarks/publish_model.py --stability stab.json rmd17-ethanol   # add MD results later

``<name>.pt`` is the run's ``best.pt`` as written by ``se3t train`` (in the current model
format); ``<name>.json``
holds the test errors, settings, parameter count, training time (to the best epoch and
in all, ``wall_time_min``) and hardware, the data
files with their SHA-256, the commit, the recipe, validation force MAE against training
time, and (with ``--stability``) the output of ``benchmarks/stability.py``; for an rMD17 molecule
also the published errors of other potentials on it (``published_rmd17.py``). A run started
with ``--init-from`` a shipped model also records that model's training (read from its
card before the card is replaced) and its file's SHA-256, and its learning curve goes on
from the earlier training's minutes.

A committee folder (``se3t train --committee N``) is published as ``<name>/member_k.pt``
with one card holding the committee's test errors and each member's card.

``--out DIR`` publishes into ``DIR`` instead of ``models/``. ``--quick`` trains a tiny model
for one epoch on EMT-labelled ethanol stand-ins (``quick.py``) and publishes it as NAME
(default ``quick-model``) into ``--out`` (default: a temporary folder), never ``models/``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
from pathlib import Path

import torch

from se3t_calc.checkpoint import atomic_save, atomic_write_text, model_from_dict, read_checkpoint
from se3t_calc.pretrained import MEMBER_GLOB, model_path

HERE = Path(__file__).resolve().parents[1] / "models"  # where shipped models live
MINUTES = (1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480, 600, 720, 960, 1200)


def card_from_run(run: Path, recipe: str, commit: str | None, hardware: str | None) -> dict:
    """Metrics file contents for the best model of a finished run."""
    data = torch.load(run / "best.pt", map_location="cpu", weights_only=True)
    training = data["metadata"]["training"]
    train_config = training["train_config"]
    before = _warm_start(train_config.get("init_from"))
    earlier = before.get("valid_forces_mae_vs_minutes", {})
    curve = {**earlier, **_learning_curve(run / "metrics.jsonl", max(map(float, earlier), default=0.0))}
    card = {
        "species": data["metadata"]["species"],
        "parameters": sum(p.numel() for p in model_from_dict(data).parameters()),
        "test_metrics": training["test_metrics"],
        "valid_metrics": training["metrics"],
        "config": data["config"],
        "training": {
            "recipe": recipe,
            "commit": commit or training.get("commit"),
            "best_epoch": training["epoch"],
            "elapsed_at_best_min": round(training["elapsed_s"] / 60, 1),
            "wall_time_min": max(map(float, curve)),  # all of its training, warm starts included
            "hardware": hardware or training["hardware"],
            "versions": data["versions"],
            "train_config": train_config,
            "valid_forces_mae_vs_minutes": curve,
        },
        "data": {key: _file_record(train_config[key]) for key in ("train_file", "test_file")},
    }
    if before:
        card["training"]["warm_start"] = before
    return card


def card_from_committee(run: Path, recipe: str, commit: str | None, hardware: str | None) -> dict:
    """Metrics file contents for a finished ``se3t train --committee`` folder.

    The committee's own test errors (its mean) from ``test_metrics.json``, and every
    member's card as :func:`card_from_run` makes it.
    """
    members = [card_from_run(folder, recipe, commit, hardware) for folder in _member_runs(run)]
    first = members[0]
    return {
        "species": first["species"],
        "members": len(members),
        "parameters": sum(m["parameters"] for m in members),
        "test_metrics": json.loads((run / "test_metrics.json").read_text()),
        "config": first["config"],
        "training": {
            "recipe": recipe,
            "commit": first["training"]["commit"],
            "hardware": first["training"]["hardware"],
            "elapsed_min": round(sum(m["training"]["elapsed_at_best_min"] for m in members), 1),
        },
        "data": first["data"],
        "member_cards": members,
    }


def _member_runs(run: Path) -> list[Path]:
    folders = sorted(p.parent / p.stem for p in run.glob(MEMBER_GLOB))
    if not folders:
        raise FileNotFoundError(f"{run} holds no {MEMBER_GLOB}: not a committee folder")
    return folders


def _warm_start(source: str | None) -> dict:
    """The training record of the shipped model a run started from (empty if it started fresh).

    A model without a card here (a file, or a name found in ``$SE3T_MODELS_DIR``) is
    recorded by its file's name and SHA-256 alone.
    """
    if not source:
        return {}
    card, weights = HERE / f"{source}.json", HERE / f"{source}.pt"
    if not card.exists():
        return {"model": _file_record(str(model_path(source)))}
    training = json.loads(card.read_text())["training"]
    kept = {k: v for k, v in training.items() if k not in ("versions", "train_config")}
    return {"model": _file_record(str(weights)) | {"path": f"models/{source}.pt"}, **kept}


def _learning_curve(path: Path, offset: float = 0.0) -> dict[str, float]:
    """Best validation force MAE (meV/Å) reached within each of ``MINUTES``, and at the end.

    ``offset`` (minutes) is the training that came before this run (a warm start).
    """
    records = [json.loads(line) for line in path.read_text().splitlines()]
    key, end = "valid_forces_mae_meV_per_A", offset + records[-1]["elapsed_s"] / 60
    curve = {}
    for mark in (m for m in MINUTES if offset < m < end):
        reached = [r[key] for r in records if offset + r["elapsed_s"] / 60 <= mark]
        if reached:
            curve[str(mark)] = round(min(reached), 2)
    curve[f"{end:.1f}"] = round(min(r[key] for r in records), 2)
    return curve


def published_errors(card: dict) -> dict:
    """``{"published_rmd17": ...}``: other potentials' published errors on the card's rMD17
    molecule (read from its test file's name), beside its own; empty for other data."""
    from published_rmd17 import SOURCE, molecule_in, published

    molecule = molecule_in(card["data"]["test_file"]["path"])
    if molecule is None:
        return {}
    errors = published(molecule)
    models = {m: {"energy_mae_meV": e, "forces_mae_meV_per_A": f} for m, (e, f) in errors.items()}
    return {"published_rmd17": {"source": SOURCE, "models": models}}


def _file_record(path: str) -> dict[str, str]:
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return {"path": Path(path).name, "sha256": digest}


def quick_run(out: Path) -> Path:
    """A finished ``se3t train`` run in ``out/run``: a tiny model, one epoch on EMT-labelled ethanol."""
    import quick

    from se3t_calc.train import TrainConfig, train

    config = TrainConfig(
        train_file=str(quick.write_labelled(out / "train.xyz", "ethanol", 10, seed=1)),
        test_file=str(quick.write_labelled(out / "test.xyz", "ethanol", 3, seed=2)),
        valid_size=2,
        epochs=1,
        device="cpu",
        output_dir=str(out / "run"),
    )
    model = {"r_cut": 4.0, "lmax": 2, "hidden_irreps": "8x0e+4x1o", "num_heads": 2, "head_channels": 2}
    with contextlib.redirect_stdout(io.StringIO()):
        train(config, model)
    return out / "run"


def parse_args() -> argparse.Namespace:
    # benchmarks/quick.py, importable when this file runs as a script (tests import this module by path)
    import quick

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", type=Path, help="se3t train output folder")
    parser.add_argument("name", nargs="?", help="model name, e.g. rmd17-ethanol (required)")
    parser.add_argument("--recipe", help="command that reproduces the run")
    parser.add_argument("--commit", help="commit that trained it (default: as the run recorded it)")
    parser.add_argument("--hardware", help="describe the training machine (default: as the run recorded it)")
    parser.add_argument("--stability", type=Path, help="JSON from benchmarks/stability.py to add")
    quick.add_options(parser, out=False)
    parser.add_argument("--out", type=Path, help="publish into this folder instead of models/")
    args = parser.parse_args()
    if args.name is None and args.run is not None:  # a single positional is the name
        args.run, args.name = None, str(args.run)
    if args.quick:
        args.out = quick.folder(args.out)
        args.name, args.recipe = args.name or "quick-model", args.recipe or "publish_model.py --quick"
        args.run = args.run or quick_run(args.out)
    elif args.name is None:
        parser.error("the following arguments are required: name")
    if args.run is not None and not args.recipe:
        parser.error("publishing a run needs --recipe")
    return args


def main() -> None:
    args = parse_args()
    models = args.out or HERE
    card_path = models / f"{args.name}.json"
    if args.run is not None and any(args.run.glob(MEMBER_GLOB)):
        card = card_from_committee(args.run, args.recipe, args.commit, args.hardware)
        folder = models / args.name
        folder.mkdir(exist_ok=True)
        for member in sorted(args.run.glob(MEMBER_GLOB)):
            atomic_save(read_checkpoint(member), folder / member.name)
        card["file_size_bytes"] = sum(p.stat().st_size for p in folder.glob(MEMBER_GLOB))
    elif args.run is not None:
        card = card_from_run(args.run, args.recipe, args.commit, args.hardware)
        # in the current model format (older runs are migrated), written atomically
        atomic_save(read_checkpoint(args.run / "best.pt"), models / f"{args.name}.pt")
        card["file_size_bytes"] = (models / f"{args.name}.pt").stat().st_size
    else:
        card = json.loads(card_path.read_text())
    if args.stability:
        card["stability"] = json.loads(args.stability.read_text())
    card.update(published_errors(card))
    atomic_write_text(card_path, json.dumps(card, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {card_path}")


if __name__ == "__main__":
    main()
