"""The SQLite usage ledger: rows, durability, grouping, and never failing a request."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from aiclient_trio import ir
from aiclient_trio.ledger import Ledger, LedgerUnavailable, UsageQuery, parse_time_bound
from aiclient_trio.record import RequestRecord


def _record(
    request_id: str,
    *,
    started_at: float | None = None,
    provider: str = "copilot",
    model: str = "gpt-4.1",
    usage: ir.Usage | None = None,
    outcome: str = "ok",
    stream: bool = False,
    initiator: str | None = "user",
) -> RequestRecord:
    return RequestRecord(
        request_id=request_id,
        endpoint="/v1/chat/completions",
        method="POST",
        http_status=200 if outcome == "ok" else 499,
        outcome=outcome,  # type: ignore[arg-type]
        started_at=time.time() if started_at is None else started_at,
        duration=0.25,
        stream=stream,
        provider=provider,
        client_model=f"{provider}/{model}",
        upstream_model=model,
        usage=usage,
        time_to_first_byte=0.01,
        initiator=initiator,
    )


async def _with_ledger(path: Path, body) -> None:  # type: ignore[no-untyped-def]
    ledger = Ledger(path)
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run)
        await body(ledger)
        nursery.cancel_scope.cancel()


async def test_rows_keep_exact_and_estimated_numbers(tmp_path: Path) -> None:
    async def body(ledger: Ledger) -> None:
        ledger.record(
            _record(
                "r1", usage=ir.Usage(input_tokens=4, output_tokens=3, cache_read_input_tokens=8)
            )
        )
        ledger.record(
            _record(
                "r2",
                stream=True,
                usage=ir.Usage(input_tokens=100, output_tokens=7, input_estimated=True),
                initiator="agent",
            )
        )
        ledger.record(_record("r3", outcome="cancelled", stream=True))
        # A token count reaches no provider: no row, and no "-/-" group in the report.
        counted = _record("r4", usage=ir.Usage(input_tokens=50, input_estimated=True))
        counted = replace(counted, endpoint="/v1/messages/count_tokens", provider=None)
        ledger.record(replace(counted, client_model=None, upstream_model=None, initiator=None))
        summary = await ledger.summary(UsageQuery(group="model"))
        assert [g["key"] for g in summary["groups"]] == ["copilot/gpt-4.1"]
        totals = summary["totals"]
        assert totals["requests"] == 3
        assert totals["ok"] == 2 and totals["errors"] == 1
        assert (totals["input_tokens"], totals["output_tokens"]) == (104, 10)
        assert totals["cache_read_tokens"] == 8
        assert totals["estimated_rows"] == 1
        assert totals["premium_requests"] == 2  # r1 and r3 were user-initiated
        assert summary["premium_requests"]["today"] == 2

    await _with_ledger(tmp_path / "usage.db", body)


async def test_a_recorded_row_is_on_disk_one_batch_delay_later(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    """The promise behind `kill -9 loses at most a second of rows`, on virtual time: the
    writer commits what was recorded once `batch_delay` has passed, with no other trigger."""
    ledger = Ledger(tmp_path / "usage.db")
    assert ledger.batch_delay <= 1.0  # the daemon's ledger uses the default

    def on_disk() -> set[str]:
        conn = sqlite3.connect(tmp_path / "usage.db")
        try:
            return {r[0] for r in conn.execute("SELECT request_id FROM requests")}
        finally:
            conn.close()

    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run)
        ledger.record(_record("r1"))
        await trio.testing.wait_all_tasks_blocked()  # the writer waits out its batch delay
        assert on_disk() == set()
        mock_clock.jump(ledger.batch_delay)
        await _within_real_seconds(60, ledger.durable.wait_value(lambda written: written >= 1))
        assert on_disk() == {"r1"}
        nursery.cancel_scope.cancel()


async def _within_real_seconds(seconds: float, work: Awaitable[object]) -> None:
    """Await `work`, failing (not hanging) if it has not ended after `seconds` of real time:
    virtual time stands still, so a writer that never commits would wait forever."""
    ended = threading.Event()

    async def guard() -> None:
        if not await trio.to_thread.run_sync(ended.wait, seconds):
            raise AssertionError(f"not done within {seconds} s of real time")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(guard)
        try:
            await work
        finally:
            ended.set()


async def test_rows_survive_a_restart_and_shutdown_flushes(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    ledger = Ledger(path)
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run)
        for i in range(50):
            ledger.record(_record(f"r{i}"))
        # cancelled before the writer got a turn: the shielded final flush must keep them all
        nursery.cancel_scope.cancel()

    async def body(reopened: Ledger) -> None:
        summary = await reopened.summary(UsageQuery())
        assert summary["totals"]["requests"] == 50

    await _with_ledger(path, body)


async def test_grouping_and_time_filters(tmp_path: Path) -> None:
    day = 86400.0
    now = time.time()

    async def body(ledger: Ledger) -> None:
        ledger.record(_record("old", started_at=now - 10 * day, provider="kiro", model="m1"))
        ledger.record(_record("a", started_at=now - 60, provider="kiro", model="m1"))
        ledger.record(_record("b", started_at=now - 30, provider="copilot", model="m2"))
        ledger.record(_record("c", started_at=now - 20, provider="copilot", model="m2"))
        by_provider = await ledger.summary(
            UsageQuery(since=parse_time_bound("7d", now=now), group="provider")
        )
        assert {g["key"]: g["requests"] for g in by_provider["groups"]} == {"copilot": 2, "kiro": 1}
        by_model = await ledger.summary(UsageQuery(group="model"))
        assert {g["key"]: g["requests"] for g in by_model["groups"]} == {
            "copilot/m2": 2,
            "kiro/m1": 2,
        }
        by_day = await ledger.summary(UsageQuery(group="day"))
        assert sum(g["requests"] for g in by_day["groups"]) == 4
        assert len(by_day["groups"]) == 2
        until = await ledger.summary(UsageQuery(until=now - day))
        assert until["totals"]["requests"] == 1
        assert await ledger.clear(before=now - day) == 1
        assert await ledger.clear() == 3
        assert (await ledger.summary(UsageQuery()))["totals"]["requests"] == 0

    await _with_ledger(tmp_path / "usage.db", body)


async def test_corrupted_database_never_fails_recording(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    path.write_bytes(b"this is not a sqlite database" * 100)

    async def body(ledger: Ledger) -> None:
        ledger.record(_record("r1"))  # must not raise
        await ledger.flush()
        assert not ledger.healthy
        assert ledger.last_error is not None and "usage.db" in ledger.last_error
        with pytest.raises(LedgerUnavailable):
            await ledger.summary(UsageQuery())

    await _with_ledger(path, body)


async def test_locked_database_never_fails_recording(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"

    async def create(ledger: Ledger) -> None:
        ledger.record(_record("r1"))

    await _with_ledger(path, create)
    other = sqlite3.connect(path)
    other.execute("BEGIN EXCLUSIVE")
    try:
        ledger = Ledger(path, busy_timeout=0.05)
        async with trio.open_nursery() as nursery:
            await nursery.start(ledger.run)
            ledger.record(_record("r2"))
            await ledger.flush()
            assert not ledger.healthy
            assert "locked" in (ledger.last_error or "")
            other.rollback()
            await ledger.flush()  # the lock is gone: the queued row is written now
            assert ledger.healthy and ledger.written == 1
            nursery.cancel_scope.cancel()
    finally:
        other.close()


async def test_read_only_directory_never_fails_recording(tmp_path: Path) -> None:
    # A database path whose parent is a file cannot be created, even by root.
    blocker = tmp_path / "blocker"
    blocker.write_text("x")

    async def body(ledger: Ledger) -> None:
        ledger.record(_record("r1"))
        await ledger.flush()
        assert not ledger.healthy

    await _with_ledger(blocker / "usage.db", body)


def test_time_bounds() -> None:
    now = 1_000_000.0
    assert parse_time_bound("24h", now=now) == now - 86400
    assert parse_time_bound("7d", now=now) == now - 7 * 86400
    assert parse_time_bound("2026-11-01") == 1_793_491_200.0
    assert parse_time_bound("2026-11-01T01:00:00Z") == 1_793_494_800.0
    with pytest.raises(ValueError, match="24h"):
        parse_time_bound("yesterday")
