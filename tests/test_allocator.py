import platform
import sys

import pytest

from se3t_calc import retain_freed_memory


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="needs glibc"
)
def test_glibc_accepts_the_allocator_settings():
    assert retain_freed_memory() is True
