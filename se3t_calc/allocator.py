"""glibc allocator settings that keep freed memory in the process (large CPU systems)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def retain_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it to the OS.

    Each force call allocates and frees the same large edge-sized buffers; by default
    glibc maps blocks above a threshold fresh from the OS and unmaps them when freed,
    so every call pays page faults on them again. This turns that off for the whole
    process (large blocks come from the heap, which is neither trimmed nor shrunk):
    about 2x faster calls for a box of 1536 water atoms on CPU, at the cost of the
    process keeping its peak memory. The ``se3t`` command does this; call it at the
    start of your own script to get the same.

    Returns
    -------
    bool
        True where the settings were applied (Linux with glibc), False elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    settings = ((_M_MMAP_THRESHOLD, 1 << 30), (_M_TRIM_THRESHOLD, (1 << 31) - 1), (_M_TOP_PAD, 1 << 30))
    return all(mallopt(param, value) == 1 for param, value in settings)
