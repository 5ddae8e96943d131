"""Keep freed memory in the process heap during training, instead of handing it back to the kernel.

glibc serves every allocation above 32 MiB with its own ``mmap`` and ``munmap``s it on free. A dPL
training step allocates and frees several such tensors (the LSTM's per-step gates alone are
``T x B x 4H`` floats, 190 MB for 730 days x 256 basins x hidden 64), so each step made the kernel
map, fault in and zero about a gigabyte again: 235,000 minor page faults and 0.35 s of system time
per step on the 2-core development machine, more than the whole fused XAJ. With ``mmap`` disabled
and trimming raised, freed blocks stay in the heap and the next step reuses them (0 page faults; the
step went from 0.46 s to 0.26 s). The cost is that the process keeps its peak heap until it exits,
which is what a training worker wants anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# Largest trim threshold mallopt accepts (an int); the heap top is returned only above 2 GiB free.
_TRIM_THRESHOLD_BYTES = 2**31 - 1


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Tell glibc malloc to reuse freed large blocks; True when it took effect.

    Call it once at the start of a training or benchmark process. On a C library without
    ``mallopt`` (musl, macOS, Windows) it does nothing and returns False.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES))
