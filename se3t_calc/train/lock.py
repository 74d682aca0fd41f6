"""One training run per output folder: an OS lock on a file in it, and cleanup of stale saves."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

LOCK = ".lock"


@contextlib.contextmanager
def run_folder_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder/.lock`` (created, with the folder) while running.

    The operating system releases the lock when the process ends, however it ends,
    so a killed run never blocks the next one. Without ``fcntl`` (Windows) no lock
    is taken.

    Raises
    ------
    ValueError
        Another process holds the lock; the message names the folder and the process.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    with open(folder / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            raise ValueError(
                f"{folder} is in use by another training run (process {owner}); wait for it to "
                "end or choose another --output-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the hidden ``*.tmp`` files that an interrupted atomic save leaves in ``folder``.

    Call only while holding :func:`run_folder_lock`: no other save can be in progress.
    """
    stale = sorted(Path(folder).glob(".*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
