"""Speed against accuracy on rMD17: our models beside MACE, NequIP, TorchMD-Net ET and TensorNet.

Accuracy is the test force MAE on rMD17 (train_01, 950 + 50; all of test_01): ours as
measured in the model cards (``models/<name>.json``), the peers' as published (source per
row). Speed is the aspirin energy+forces call in ms from one interleaved run of
``bench_peers.py``, the same models at the same sizes on the same CPU.

Usage::

    python benchmarks/bench_peers.py --systems aspirin --threads 1 2 --dtypes float32 \\
        --models se3t se3t-fast se3t-accurate se3t-accurate-ethanol se3t-accurate-malonaldehyde \\
        se3t-accurate-uracil mace nequip torchmd-et tensornet --calls 80 --rounds 16 \\
        --allocator retain --json runs/peers_aspirin.json
    python benchmarks/speed_accuracy.py runs/peers_aspirin.json \\
        --png benchmarks/figures/speed_accuracy.png

``benchmarks/figures/peers_aspirin.json`` keeps the medians of the run quoted in docs/speed.md
and ``benchmarks/NOTES.md`` (2-core AMD EPYC, to 0.1 ms), so that the table and the
plot can be redrawn when a model card changes without timing the peers again.

``--quick``: that file (unless timings are given), the plot in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import quick
from peers.shipped import PER_MOLECULE, SHIPPED
from published_rmd17 import SOURCE, published

from se3t_calc.pretrained import available_models, model_card
from se3t_calc.train.plots import save_figure

MOLECULES = ("ethanol", "malonaldehyde", "uracil", "aspirin")
KEPT = Path(__file__).parent / "figures" / "peers_aspirin.json"  # the medians quoted in the docs

# bench_peers model -> the shipped model it stands for, per molecule (ours), or published
# force MAE, meV/Å (peers)
OURS = {
    model: {molecule: name.replace("aspirin", molecule) for molecule in MOLECULES}
    if model in PER_MOLECULE
    else {name.split("-")[1]: name}
    for model, name in SHIPPED.items()
}
PUBLISHED = {
    peer: ({m: published(m)[name][1] for m in MOLECULES}, SOURCE)
    for peer, name in (("mace", "MACE"), ("nequip", "NequIP"), ("tensornet", "TensorNet"))
}
# ET's paper reports the original MD17 (aspirin 11.0, ethanol 4.7 meV/Å), not rMD17
PUBLISHED["torchmd-et"] = (
    dict.fromkeys(MOLECULES),
    "no rMD17 figure found (its paper reports the original MD17)",
)
LABELS = {
    "se3t": "se3t default",
    "se3t-fast": "se3t fast",
    **{model: f"se3t accurate ({next(iter(names))})" for model, names in OURS.items() if len(names) == 1},
    "mace": "MACE",
    "nequip": "NequIP",
    "torchmd-et": "TorchMD-Net ET",
    "tensornet": "TensorNet",
}


def force_mae(model: str) -> tuple[dict[str, float | None], str]:
    """Test force MAE per molecule (meV/Å) and where it comes from."""
    if model in PUBLISHED:
        return PUBLISHED[model]
    shipped, names = available_models(), OURS[model]
    maes = {
        molecule: model_card(names[molecule])["test_metrics"]["forces_mae_meV_per_A"]
        if names.get(molecule) in shipped
        else None
        for molecule in MOLECULES
    }
    if len(names) > 1:  # one model per molecule, the same settings
        card = names["aspirin"].replace("aspirin", "<molecule>")
    else:
        (card,) = names.values()
    return maes, f"measured, models/{card}.json"


def timings(path: Path) -> dict[tuple[str, int], float]:
    """``(model, threads) -> ms`` for float32 aspirin calls in a ``bench_peers.py --json`` file."""
    rows = json.loads(path.read_text())
    return {
        (r["model"], r["threads"]): r["ms"]
        for r in rows
        if r["mode"] == "call" and r["system"] == "aspirin" and r["dtype"] == "float32" and r["ms"]
    }


def table(ms: dict[tuple[str, int], float]) -> list[tuple]:
    """Rows (label, ms at 1 thread, ms at 2 threads, force MAE per molecule of MOLECULES..., source)."""
    rows = []
    for model, label in LABELS.items():
        if not any(key[0] == model for key in ms):
            continue
        maes, source = force_mae(model)
        rows.append((label, ms.get((model, 1)), ms.get((model, 2)), *(maes[m] for m in MOLECULES), source))
    return rows


def markdown(rows: list[tuple]) -> str:
    def cell(value, fmt):
        return "--" if value is None else format(value, fmt)

    header = ["model", "aspirin ms, 1 thread", "2 threads"]
    header += [f"{molecule} F MAE (meV/Å)" for molecule in MOLECULES] + ["accuracy from"]
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 2) + " --- |"]
    for label, *values, source in rows:
        cells = [cell(value, ".1f") for value in values]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {source} |")
    return "\n".join(lines)


def _log_ticks(values: list[float]) -> list[float]:
    """Ticks 1, 2, 5, 10, ... spanning the values, with room on the left for labels."""
    decades = range(math.floor(math.log10(min(values))) - 1, math.ceil(math.log10(max(values))) + 1)
    ticks = [m * 10.0**d for d in decades for m in (1, 2, 5)]
    low = max(t for t in ticks if t < min(values) / 1.5)
    high = min(t for t in ticks if t > max(values))
    return [t for t in ticks if low <= t <= high]


def plot(rows: list[tuple], path: Path) -> None:
    """Force MAE against ms per call (1 thread), one panel per molecule, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = min(len(MOLECULES), 2)
    nrows = math.ceil(len(MOLECULES) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3.8 * nrows), sharex=True, squeeze=False)
    ticks = _log_ticks([row[1] for row in rows if row[1] is not None])  # shared x axis
    panels = list(axes.flat)
    for ax in panels[len(MOLECULES) :]:
        ax.set_visible(False)
    for column, (ax, molecule) in enumerate(zip(panels, MOLECULES, strict=False), start=3):
        plotted = [row for row in rows if row[1] is not None and row[column] is not None]
        for i, row in enumerate(plotted):
            label, ms1, mae = row[0].split(" (")[0], row[1], row[column]  # the panel names the molecule
            ours = label.startswith("se3t")
            ax.scatter(ms1, mae, marker="o" if ours else "s", color="C0" if ours else "C1")
            left = ours and i % 2 == 1  # our points lie close together: alternate the labels
            offset, align = ((-5, -3), "right") if left else ((4, 4), "left")
            ax.annotate(label, (ms1, mae), textcoords="offset points", xytext=offset, fontsize=8, ha=align)
        ax.set(
            xscale="log",
            yscale="log",
            title=f"rMD17 {molecule}",
            xlabel="aspirin ms per call, 1 thread, float32",
        )
        ax.set_xlim(ticks[0], ticks[-1])
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.set_yticks([2, 5, 10, 20, 50], ["2", "5", "10", "20", "50"])
        ax.minorticks_off()
        ax.grid(True, alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("test force MAE (meV/Å)")
    fig.text(0.01, 0.01, "circles: ours, measured; squares: published", fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("timings", type=Path, nargs="?", help="bench_peers.py --json output")
    parser.add_argument("--png", type=quick.png_path, help="write the plot here (.png)")
    quick.add_options(parser)
    args = parser.parse_args()
    if args.quick:
        args.timings = args.timings or KEPT
        args.png = args.png or quick.folder(args.out) / "speed_accuracy.png"
    elif args.timings is None:
        parser.error("the following arguments are required: timings")
    rows = table(timings(args.timings))
    print(markdown(rows))
    if args.png:
        plot(rows, args.png)


if __name__ == "__main__":
    main()
