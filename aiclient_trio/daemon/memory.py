"""Memory a big request used is given back once the daemon is idle (issue 14 item 3).

A request's objects are freed when it ends, but two things keep the process big: objects in
reference cycles (an error's traceback holds the frames that hold the request) wait for a
full garbage collection, which runs at an arbitrary later moment, perhaps in the middle of
another request; and the C allocator keeps freed pages. So when the last request ends and
the process has grown by `growth` bytes since the last time, the daemon collects (nothing
waits on it: no request is running) and hands free heap pages back (glibc).
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
from collections.abc import Callable

import trio
from trio_util import AsyncValue

__all__ = ["give_back_memory", "release_when_idle", "rss_bytes"]

log = logging.getLogger("aiclient.daemon")

GROWTH = 64 * 1024 * 1024


def rss_bytes() -> int:
    """This process's resident memory (Linux; 0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:  # glibc's, from the symbols already loaded; macOS and musl have none
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
        return trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _find_malloc_trim()


def give_back_memory() -> None:
    gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


async def release_when_idle(
    active_requests: AsyncValue[int],
    *,
    growth: int = GROWTH,
    settle: float = 1.0,
    measure: Callable[[], int] = rss_bytes,
    release: Callable[[], None] = give_back_memory,
) -> None:
    """Forever: each time the requests in flight fall to 0 and stay there for `settle`
    seconds (the last one's answer is on its way out, its objects freed) with the process
    `growth` bytes bigger than after the last release (or the start), `release()`."""
    floor = measure()
    while True:
        await active_requests.wait_value(lambda n: n > 0)
        await active_requests.wait_value(lambda n: n == 0)
        with trio.move_on_after(settle):
            await active_requests.wait_value(lambda n: n > 0)
            continue  # busy again: wait for the next idle moment
        before = measure()
        if before - floor < growth:
            continue
        release()
        floor = measure()
        log.debug("idle: memory %d -> %d MB", before >> 20, floor >> 20)
