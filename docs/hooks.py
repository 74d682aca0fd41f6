"""MkDocs hooks of the se3t_calc documentation (registered under ``hooks:`` in mkdocs.yml).

- Repository files that the pages link to outside ``docs/`` (``../benchmarks/NOTES.md``,
  ``../benchmarks/figures/*.png``, ``../models/README.md``) join the site under their
  repository paths, and those links are rewritten to them, so that one link works both on
  GitHub and in the built site.
- The models table of ``docs/trained-models.md`` (the marker ``<!-- models-table -->``) is
  generated from the model cards ``models/*.json`` at build time: the numbers live in the
  cards only.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.se3t")

MODELS_MARKER = "<!-- models-table -->"
# inline markdown links and images: [text](target "title") / ![alt](target)
LINK = re.compile(r"(!?\[[^\]]*\])\(([^)\s]+)((?:\s+\"[^\"]*\")?)\)")
# fenced code blocks, whose content is left alone
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def _repo_root(config: Any) -> Path:
    return Path(config.config_file_path).resolve().parent


def _docs_prefix(config: Any) -> str:
    """``docs_dir`` relative to the repository root, in posix form (e.g. ``"docs"``)."""
    return Path(config.docs_dir).resolve().relative_to(_repo_root(config)).as_posix()


def _outside_target(page_src_uri: str, target: str, docs_prefix: str) -> str | None:
    """Repository path of a relative link that leaves the docs folder, else None."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith(("#", "/")):
        return None
    path = target.split("#", 1)[0]
    if not path:
        return None
    repo_path = posixpath.normpath(posixpath.join(docs_prefix, posixpath.dirname(page_src_uri), path))
    if repo_path == docs_prefix or repo_path.startswith(docs_prefix + "/") or repo_path.startswith(".."):
        return None
    return repo_path


def _links(markdown: str) -> list[str]:
    return [m.group(2) for m in LINK.finditer(FENCE.sub("", markdown))]


def on_files(files: Files, config: Any) -> Files:
    """Add the repository files that documentation pages link to outside ``docs/``."""
    root, prefix = _repo_root(config), _docs_prefix(config)
    wanted: set[str] = set()
    for file in list(files):
        if not file.is_documentation_page() or file.abs_src_path is None:
            continue
        text = Path(file.abs_src_path).read_text(encoding="utf-8")
        for target in _links(text):
            repo_path = _outside_target(file.src_uri, target, prefix)
            if repo_path is not None and (root / repo_path).is_file():
                wanted.add(repo_path)
    for repo_path in sorted(wanted):
        if files.get_file_from_path(repo_path) is None:
            files.append(File.generated(config, repo_path, abs_src_path=str(root / repo_path)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Point links that leave ``docs/`` at the copies in the site; fill the models table."""
    prefix = _docs_prefix(config)
    src_uri = page.file.src_uri
    page_dir = posixpath.dirname(src_uri)
    in_docs = page.file.abs_src_path is not None and Path(page.file.abs_src_path).resolve().is_relative_to(
        Path(config.docs_dir).resolve()
    )

    def relink(match: re.Match) -> str:
        label, target, title = match.groups()
        repo_path = _outside_target(src_uri, target, prefix) if in_docs else None
        if repo_path is None or files.get_file_from_path(repo_path) is None:
            return match.group(0)
        anchor = target[len(target.split("#", 1)[0]) :]
        return f"{label}({posixpath.relpath(repo_path, page_dir or '.')}{anchor}{title})"

    # code blocks keep their text: relink only outside fences
    pieces, last = [], 0
    for fence in FENCE.finditer(markdown):
        pieces.append(LINK.sub(relink, markdown[last : fence.start()]))
        pieces.append(fence.group(0))
        last = fence.end()
    pieces.append(LINK.sub(relink, markdown[last:]))
    markdown = "".join(pieces)

    if src_uri == "trained-models.md":
        if MODELS_MARKER not in markdown:
            log.warning("docs/trained-models.md: the marker %s is missing; no models table", MODELS_MARKER)
        else:
            markdown = markdown.replace(MODELS_MARKER, models_table(_repo_root(config) / "models"))
    return markdown


def _number(value: float) -> str:
    """Three significant figures, as the model cards are quoted (0.781, 1.80, 21.7, 153)."""
    text = f"{value:#.3g}"
    return text.rstrip(".") if "e" not in text else f"{value:.3g}"


def _grouped(count: int) -> str:
    return f"{count:,}".replace(",", " ")


def models_table(models_dir: Path) -> str:
    """Markdown table of the shipped models and committees, from ``models_dir/*.json``."""
    rows = []
    for card_path in sorted(models_dir.glob("*.json")):
        name = card_path.stem
        model_file = models_dir / f"{name}.pt"
        committee_dir = models_dir / name
        if not model_file.is_file() and not committee_dir.is_dir():
            log.warning("%s: no model %s.pt and no committee folder %s/", card_path, name, name)
            continue
        card = json.loads(card_path.read_text(encoding="utf-8"))
        try:
            metrics = card["test_metrics"]
            energy = metrics["energy_mae_meV"]
            energy_atom = metrics["energy_mae_meV_per_atom"]
            forces = metrics["forces_mae_meV_per_A"]
            species, parameters = card["species"], int(card["parameters"])
        except (KeyError, TypeError) as err:
            log.warning("%s: missing field %s; left out of the models table", card_path, err)
            continue
        members = card.get("members")
        if isinstance(members, int) and members > 1 and parameters % members == 0:
            params = f"{members} x {_grouped(parameters // members)}"
        else:
            params = _grouped(parameters)
        kind = f"committee of {members}" if committee_dir.is_dir() else "model"
        rows.append(
            f"| `{name}` | {kind} | {' '.join(species)} | {_number(energy)} | {_number(energy_atom)} "
            f"| {_number(forces)} | {params} |"
        )
    if not rows:
        log.warning("%s: no model cards found; empty models table", models_dir)
    header = (
        "| model | kind | species | test energy MAE (meV) | test energy MAE (meV/atom) "
        "| test force MAE (meV/Å) | parameters |\n"
        "| --- | --- | --- | ---: | ---: | ---: | ---: |\n"
    )
    return header + "\n".join(rows) + "\n"


# Sphinx roles in docstrings (":func:`load_model`") reach the HTML as ":func:<code>...</code>"
SPHINX_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj|const):(<code>)~?")


def on_page_content(html: str, page: Any, config: Any, files: Files) -> str:
    """Drop the Sphinx role prefixes that mkdocstrings leaves in rendered docstrings."""
    return SPHINX_ROLE.sub(r"\1", html)
