"""The code of README and docs/ runs as written.

Python blocks run page by page, in order, in one fresh interpreter per page (a block may
use what an earlier block of its page defined), in a scratch folder that sees the
repository's ``examples/``. Two loops are shortened (``SHORTER``); nothing else changes.
``se3t`` command lines of the shell blocks are parsed by the command's own parser, so a
renamed or removed subcommand or flag fails here; they are not run (they train models,
learn for minutes or build LAMMPS). Lines that show a synopsis (``[...]``, ``a|b``,
``...``) are not commands and are skipped.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from se3t_calc.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
# runs of thousands of steps, shortened: what the block shows is the call, not the length
SHORTER = {"n_steps=1000": "n_steps=5", "dyn.run(10_000)": "dyn.run(20)"}


def blocks(page: Path, language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(page.read_text(encoding="utf-8")) if lang == language]


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


PYTHON_PAGES = [page for page in PAGES if blocks(page, "python")]


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_name)
def test_python_blocks_run(page, tmp_path):
    code = "\n".join(blocks(page, "python"))
    for long, short in SHORTER.items():
        code = code.replace(long, short)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "blocks.py").write_text(code)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, "blocks.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{_name(page)}:\n{code}\n--- stderr:\n{done.stderr[-3000:]}"


def se3t_lines(page: Path) -> list[str]:
    """Concrete ``se3t`` command lines of the shell blocks (continuations joined, comments cut)."""
    lines = []
    for body in blocks(page, "bash"):
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("se3t ") and not re.search(r"\[|\||\.\.\.", line):
                lines.append(line)
    return lines


COMMANDS = [(page, line) for page in PAGES for line in se3t_lines(page)]


@pytest.mark.parametrize(("page", "line"), COMMANDS, ids=[f"{_name(p)}: {line}" for p, line in COMMANDS])
def test_se3t_command_lines_parse(page, line, capsys):
    argv = shlex.split(line)[1:]
    try:
        build_parser().parse_args(argv)
    except SystemExit as stop:  # --help and --version exit 0 after printing
        assert stop.code == 0, f"{_name(page)}: `{line}` is refused: {capsys.readouterr().err}"


def test_the_docs_hold_commands_and_code():
    assert len(COMMANDS) >= 10 and len(PYTHON_PAGES) >= 4
