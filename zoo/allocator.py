"""Keep freed memory in the process instead of handing it back to the OS (glibc's malloc, Linux).

PyTorch's CPU allocator takes every activation from ``malloc`` and frees it when the tensor dies.
glibc serves big blocks with ``mmap`` (above a threshold that starts at 128 KiB) and gives freed
memory at the top of the heap back to the OS (above ``M_TRIM_THRESHOLD``), so the next forward pass
faults the same pages in again, each one zeroed by the kernel. Measured here on densenet121 at batch
8 and 224x224 (2 threads): 40,000-70,000 minor page faults per forward pass (160-280 MB), 10-15% of
its time, and a count that swings with the allocation order, which makes two runs of the same
network differ by 10% or more. With mmap and trimming off, the same pass takes no page fault after
the first and runs 10-15% faster (``mallopt(3)``; PyTorch's CPU performance guide recommends
jemalloc or tcmalloc, preloaded with ``LD_PRELOAD``, for the same reason).

The cost: the process keeps its high-water mark of freed memory until `release_free_memory`. Both
functions do nothing, and return False, where glibc is not the C library (musl, macOS, Windows).
"""

from __future__ import annotations

import ctypes
import functools
import os

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's <malloc.h>
KEEP_ENV = "ARCHZOO_KEEP_FREED_MEMORY"
OFF_VALUES = ("0", "false", "no", "off")


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
        libc.gnu_get_libc_version  # noqa: B018 -- only glibc has it; musl and macOS raise here
    except (OSError, TypeError, AttributeError):  # TypeError: Windows has no CDLL(None)
        return None
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc


def keep_freed_memory() -> bool:
    """Make glibc take blocks from its heap instead of fresh mappings (``M_MMAP_MAX=0``; a thread
    arena may still map a block over 64 MB) and stop trimming the heap's free top below 2 GiB, so
    memory a tensor frees is reused by the next one without a page fault. True when glibc took both
    settings.

    ``ARCHZOO_KEEP_FREED_MEMORY=0`` (or false/no/off) turns this off; the `zoo` command calls it at
    start-up."""
    libc = _glibc()
    if libc is None or os.environ.get(KEEP_ENV, "1").strip().lower() in OFF_VALUES:
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


def release_free_memory() -> bool:
    """Give the heap's free pages back to the OS now (``malloc_trim(0)``), so a peak measured after
    it counts live memory, not what earlier work freed. True when glibc released any."""
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))
