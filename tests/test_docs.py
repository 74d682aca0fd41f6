"""README stays a landing page, and the relative links of README and docs/ reach their files.

The documentation site itself is built strictly in CI (``mkdocs build --strict``); these
checks need no MkDocs and also cover what GitHub shows of the markdown files.
"""

from __future__ import annotations

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
