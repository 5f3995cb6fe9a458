"""daemon.memory: what a big request left behind is given back once the daemon is idle."""

from __future__ import annotations

import gc
from functools import partial

import trio
from trio.testing import wait_all_tasks_blocked
from trio_util import AsyncValue

from aiclient_trio.daemon.memory import give_back_memory, release_when_idle, rss_bytes

MB = 1024 * 1024


async def test_memory_is_released_when_the_last_request_ends_after_growth(
    mock_clock: trio.testing.MockClock,
) -> None:
    active = AsyncValue(0)
    rss = [100 * MB]
    released: list[int] = []

    def release() -> None:
        released.append(rss[0])
        rss[0] = 130 * MB  # what the collection could not give back

    async def request(grows_to: int, *, overlapping: bool = False) -> None:
        active.value += 1
        await wait_all_tasks_blocked()
        rss[0] = grows_to
        if overlapping:  # the next request starts within the settle time: still busy
            active.value -= 1
            await wait_all_tasks_blocked()
            mock_clock.jump(0.5)
            active.value += 1
            await wait_all_tasks_blocked()
            mock_clock.jump(5)
            assert grows_to not in released
        active.value -= 1
        await wait_all_tasks_blocked()
        assert grows_to not in released  # not before the answer had time to go out
        mock_clock.jump(1)
        await wait_all_tasks_blocked()

    watch = partial(release_when_idle, active, growth=64 * MB, measure=lambda: rss[0])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(watch, release=release))
        await wait_all_tasks_blocked()
        await request(150 * MB)  # grew less than 64 MB: nothing to do
        assert released == []
        await request(400 * MB, overlapping=True)  # released once idle, not while busy
        assert released == [400 * MB]
        await request(180 * MB)  # the floor is what the release left (130 MB)
        assert released == [400 * MB]
        await request(200 * MB)
        assert released == [400 * MB, 200 * MB]
        nursery.cancel_scope.cancel()


def test_giving_back_returns_the_pages_of_cyclic_garbage() -> None:
    gc.collect()
    gc.disable()  # the garbage waits for us, as it would for the next full collection
    try:
        start = rss_bytes()
        nodes: list[list[object]] = [[] for _ in range(1_000_000)]
        for node in nodes:
            node.append(node)  # each list holds itself: freed only by a collection
        del nodes, node
        grown = rss_bytes()
        give_back_memory()
        after = rss_bytes()
    finally:
        gc.enable()
    assert grown - start > 64 * MB
    assert grown - after > (grown - start) // 2
