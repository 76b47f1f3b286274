"""Process-wide allocator setting for short-lived batch processes (``kejin points score``, the
bench): call :func:`keep_large_blocks` once, at the entry point, never from library code.

Why: glibc serves every allocation above its mmap threshold (at most 32 MB) with a fresh ``mmap``
and returns it with ``munmap`` when freed. Scoring 5M firms makes a few hundred per-row
temporaries of 40 MB, and each is then new pages the kernel must fault in and zero (about 0.7 ns
per element on the bench machine): that made the cost per row of a scoring rise 1.7× from 1M to
5M firms (docs/points.md, issue 20). Told to keep large blocks in its heap, glibc reuses the
freed pages. The setting is global to the process and lasts (glibc also stops adapting its mmap
threshold once ``mallopt`` is called), which is why a library function must not make it: in a
long-running service it would hold freed memory for every other caller.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_MAX = -4


def keep_large_blocks() -> bool:
    """Let glibc serve large blocks from its heap and keep up to 1 GB of freed top-of-heap memory
    for reuse, for the rest of the process. False where the C library is not glibc."""
    if sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl)
        return False
    if not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
