"""glibc allocator tuning (``mallopt``), in one place; ctypes only, so importing it is cheap and safe anywhere.

Large numpy/torch temporaries are, by default, fresh ``mmap`` blocks that are unmapped on free, so every new one
page-faults on first touch. Callers that make many such temporaries keep freed memory in the heap instead, each with
its own settings (see :func:`automix.mixing.reuse_freed_memory` and :mod:`automix.fxnorm.workers`).
"""

from __future__ import annotations

import ctypes
import logging
import sys

logger = logging.getLogger(__name__)

# mallopt parameter numbers (glibc malloc.h)
M_TRIM_THRESHOLD = -1  # free memory above this many bytes at the top of the heap is given back to the system
M_MMAP_THRESHOLD = -3  # allocations of at least this many bytes are mmap-backed (glibc caps it at 32 MiB)
M_MMAP_MAX = -4  # the most mmap-backed allocations at a time (0: none)


def tune_glibc_malloc(mmap_threshold: int | None = None, trim_threshold: int | None = None,
                      mmap_max: int | None = None) -> bool:
    """Set the given glibc ``mallopt`` parameters for this process; the ones left ``None`` keep their values.

    Args:
        mmap_threshold: bytes; ``M_MMAP_THRESHOLD``.
        trim_threshold: bytes; ``M_TRIM_THRESHOLD``.
        mmap_max: count; ``M_MMAP_MAX``.

    Returns:
        True when applied, False off glibc (nothing changed; logged at debug level).
    """
    if not sys.platform.startswith("linux"):
        logger.debug("mallopt unavailable (not Linux); keeping the default allocator settings")
        return False
    settings = ((M_MMAP_MAX, mmap_max), (M_MMAP_THRESHOLD, mmap_threshold), (M_TRIM_THRESHOLD, trim_threshold))
    try:
        libc = ctypes.CDLL("libc.so.6")
        for parameter, value in settings:
            if value is not None:
                libc.mallopt(parameter, value)
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        logger.debug("mallopt unavailable (not glibc); keeping the default allocator settings")
        return False
    return True


def release_free_memory() -> bool:
    """Give the heap's free memory back to the system (glibc ``malloc_trim(0)``); False off glibc.

    For processes that keep freed memory for reuse (``trim_threshold`` above): called between tasks, so that an idle
    worker does not hold the peak of its last task.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        return False
    return True
