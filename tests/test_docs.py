"""README stays a landing page, and the relative links of README and docs/ reach their files.

The documentation site itself is built strictly in CI (``mkdocs build --strict``); these
checks need no MkDocs and also cover what GitHub shows of the markdown files.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
# inline links and images: [text](target) / [text](target "title") / ![alt](target)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def relative_links(text: str) -> list[str]:
    """Link targets that name a file: no URL scheme (http, mailto, ...), not an anchor alone."""
    text = CODE_SPAN.sub("", FENCE.sub("", text))
    targets = [match.group(1) for match in LINK.finditer(text)]
    return [t for t in targets if not SCHEME.match(t) and not t.startswith("#")]


def test_readme_is_a_landing_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines, more than {README_MAX_LINES}: "
        "move the detail into a page of docs/ and link it"
    )


def test_docs_pages_exist():
    assert (ROOT / "docs" / "index.md").is_file()
    assert (ROOT / "mkdocs.yml").is_file()


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_files(path):
    missing = []
    for target in relative_links(path.read_text(encoding="utf-8")):
        file_part = unquote(target.split("#", 1)[0].split("?", 1)[0])
        if not (path.parent / file_part).exists():
            missing.append(target)
    assert not missing, f"{path.relative_to(ROOT)} links to files that do not exist: {missing}"


def test_the_link_check_sees_broken_links():
    text = "[a](docs/nowhere.md) [b](https://example.org) [c](#anchor) `[d](no.md)` ![e](x.png)"
    assert relative_links(text) == ["docs/nowhere.md", "x.png"]


# a value with its unit in a table cell; meV/atom/ps (a drift) is not an error
QUOTED = {
    "energy_mae_meV_per_atom": re.compile(r"(\d+\.?\d*) meV/atom(?!/)"),
    "forces_mae_meV_per_A": re.compile(r"(\d+\.?\d*) meV/Å"),
    "energy_mae_meV": re.compile(r"(\d+\.?\d*) meV(?![/\w])"),
}
PARAMETERS = re.compile(r"^(?:(\d+) x )?(\d{1,3}(?: \d{3})+)$|\((?:[^()]*?)(\d{1,3}(?: \d{3})+) parameters\)")
FILE_SIZE = re.compile(r"^(?:(\d+) x )?(\d+\.?\d*) (kB|MB)$")


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def _model_rows(path: Path) -> list[tuple[str, list[str]]]:
    """(model name, cells) of every table row whose first cell names a shipped model."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `([a-z0-9-]+)`[^|]*\|(.*)\|\s*$", line)
        if match and (ROOT / "models" / f"{match.group(1)}.json").is_file():
            rows.append((match.group(1), [cell.strip() for cell in match.group(2).split("|")]))
    return rows


@pytest.mark.parametrize("page", ["README.md", "models/README.md", "docs/trained-models.md"])
def test_model_tables_quote_the_cards(page):
    """Every error, parameter count and file size quoted in a models table is its card's,
    rounded as printed: the tables cannot drift from the shipped models."""
    import json

    rows = _model_rows(ROOT / page)
    assert rows, f"{page}: no models table found"
    for name, cells in rows:
        card = json.loads((ROOT / "models" / f"{name}.json").read_text())
        members = card.get("members") if isinstance(card.get("members"), int) else 1
        for cell in cells:
            for key, pattern in QUOTED.items():
                for quoted in pattern.findall(cell):
                    value = card["test_metrics"][key]
                    assert abs(float(quoted) - value) <= 0.5 * 10 ** -_decimals(quoted) + 1e-9, (
                        f"{page}: {name} quotes {quoted} for {key}, its card says {value:.4g}"
                    )
            if match := PARAMETERS.search(cell):
                count = int((match.group(2) or match.group(3)).replace(" ", ""))
                assert count * int(match.group(1) or 1) == card["parameters"], f"{page}: {name} {cell}"
            if match := FILE_SIZE.match(cell):
                size = float(match.group(2)) * (1e3 if match.group(3) == "kB" else 1e6)
                per_file = card["file_size_bytes"] / members
                assert abs(size - per_file) <= 0.5 * 10 ** -_decimals(match.group(2)) * size / float(
                    match.group(2)
                ), f"{page}: {name} file {cell}, card {per_file:.0f} bytes"


PER_CALL = re.compile(r"^(\d+\.\d+)x$")  # a ratio to the default model; "2.9x one member" is not one


def _load_shipped():
    """benchmarks/peers/shipped.py: which ``bench_peers.py`` model times each shipped rMD17 model."""
    spec = importlib.util.spec_from_file_location("shipped", ROOT / "benchmarks" / "peers" / "shipped.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_timed_as = _load_shipped().timed_as


@pytest.mark.parametrize("page", ["README.md", "docs/trained-models.md"])
def test_per_call_ratios_quote_the_kept_timings(page):
    """Every per-call ratio to the default model in a models table is the ratio of the
    1-thread medians in benchmarks/figures/peers_aspirin.json, rounded as printed."""
    import json

    rows = json.loads((ROOT / "benchmarks" / "figures" / "peers_aspirin.json").read_text())
    ms = {r["model"]: r["ms"] for r in rows if r["threads"] == 1 and r["mode"] == "call"}
    quoted = 0
    for name, cells in _model_rows(ROOT / page):
        for cell in cells:
            if match := PER_CALL.match(cell):
                ratio = ms[_timed_as(name)] / ms["se3t"]
                assert abs(float(match.group(1)) - ratio) <= 0.5 * 10 ** -_decimals(match.group(1)) + 1e-9, (
                    f"{page}: {name} per call {cell}, the kept timings give {ratio:.3f}x"
                )
                quoted += 1
    assert quoted >= 5, f"{page}: {quoted} per-call ratios found"
