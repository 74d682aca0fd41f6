"""A one-line progress bar with ETA and a short note, shown only on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Redraws ``label [####....] k/n  eta  note`` in place on ``stream`` if it is a terminal."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, enabled: bool = True):
        # sys.stderr when called, not when imported: it may have been replaced since
        self.total, self.label, self.stream = total, label, sys.stderr if stream is None else stream
        self.enabled = enabled and self.stream.isatty()
        self.start = time.perf_counter()

    def update(self, done: int, note: str = "") -> None:
        """Show ``done`` of ``total`` finished, followed by ``note`` (e.g. a running loss)."""
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / max(done, 1) * (self.total - done)
        filled = int(30 * done / max(self.total, 1))
        bar = "#" * filled + "." * (30 - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} eta {_clock(eta)} {note}   ")
        self.stream.flush()

    def close(self) -> None:
        """Clear the line."""
        if self.enabled:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
