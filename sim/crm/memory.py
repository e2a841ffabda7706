"""Memory a load has freed given back to the operating system, where the allocators would keep it.

A worker thread's freed memory stays with that thread: C's allocator (glibc) gives each thread its own arena, and
Arrow's allocator (mimalloc) its own heap, and neither hands a thread's freed pages to another thread or back to the
system on its own. When the history's columns are parsed in a second thread (`sim.crm.load._ReadAhead`), the
memory that thread used while parsing (about as much again as the columns it returns) would otherwise stay counted
in the process for the rest of the load, on top of what the main thread goes on to use: issue 28 measured about
30-100 MB more peak memory per million deals than a serial load (peak RSS, on a shared 2-core VM).
`give_back_freed_memory` returns it (2-10 ms a call there).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache

import pyarrow as pa


@cache
def _malloc_trim():
    """glibc's `malloc_trim`, or None where the C library has none (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


def give_back_freed_memory() -> None:
    """Return the freed memory of every thread's C arena (`malloc_trim`) and Arrow's pool to the system: a few
    milliseconds, for the moments a thread's work is done and its freed memory would otherwise be kept. Nothing that
    is in use moves; where neither allocator can give memory back, nothing happens."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    pa.default_memory_pool().release_unused()
