"""Ledger retention pruning, and the metric families the usage issue lists
(time-to-first-byte histogram, every token kind, refresh successes, provider readiness).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import trio
from prometheus_client.parser import text_string_to_metric_families
from test_ledger import _record

from aiclient_trio import ir
from aiclient_trio.ledger import Ledger, UsageQuery
from aiclient_trio.metrics import GatewayMetrics
from aiclient_trio.record import RequestRecord

DAY = 86400.0


async def test_prune_removes_rows_older_than_the_retention_only(tmp_path: Path) -> None:
    now = time.time()
    # No run() task here, so nothing prunes behind the test's back.
    ledger = Ledger(tmp_path / "usage.db", retention_days=30)
    try:
        ledger.record(_record("ancient", started_at=now - 45 * DAY))
        ledger.record(_record("old", started_at=now - 31 * DAY))
        ledger.record(_record("recent", started_at=now - 29 * DAY))
        ledger.record(_record("fresh"))
        await ledger.flush()
        assert await ledger.prune() == 2
        assert await ledger.prune() == 0
        assert (await ledger.summary(UsageQuery()))["totals"]["requests"] == 2

        ledger.retention_days = 0  # 0 keeps everything
        ledger.record(_record("older", started_at=now - 400 * DAY))
        await ledger.flush()
        assert await ledger.prune() == 0
        assert (await ledger.summary(UsageQuery()))["totals"]["requests"] == 3
    finally:
        await trio.to_thread.run_sync(ledger._close)
    conn = sqlite3.connect(tmp_path / "usage.db")
    try:
        ids = {r[0] for r in conn.execute("SELECT request_id FROM requests")}
    finally:
        conn.close()
    assert ids == {"recent", "fresh", "older"}


class _Watched(Ledger):
    def __init__(self, path: Path) -> None:
        super().__init__(path, retention_days=7)
        self.pruned: list[int] = []
        self.prune_done = trio.Event()

    async def prune(self) -> int:
        removed = await super().prune()
        self.pruned.append(removed)
        self.prune_done.set()
        return removed


async def test_the_running_ledger_prunes_after_its_first_write(tmp_path: Path) -> None:
    ledger = _Watched(tmp_path / "usage.db")
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run)
        ledger.record(_record("stale", started_at=time.time() - 8 * DAY))
        ledger.record(_record("new"))
        with trio.fail_after(10):
            await ledger.prune_done.wait()
        assert ledger.pruned == [1]
        # Later writes do not prune again within the day.
        ledger.record(_record("another"))
        summary = await ledger.summary(UsageQuery())
        assert summary["totals"]["requests"] == 2
        assert ledger.pruned == [1]
        nursery.cancel_scope.cancel()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_ttfb_histogram_token_kinds_refresh_success_and_readiness() -> None:
    ready = {"kiro": True, "copilot": False}
    metrics = GatewayMetrics(provider_ready=lambda: dict(ready))
    rec = _record(
        "m1",
        provider="kiro",
        model="claude",
        usage=ir.Usage(
            input_tokens=3,
            output_tokens=4,
            cache_read_input_tokens=50,
            cache_creation_input_tokens=6,
        ),
    )
    metrics.observe(rec)  # time_to_first_byte 0.01 s, duration 0.25 s
    metrics.refresh_result("copilot", ok=True)
    ready["copilot"] = True
    s = _samples(metrics.render())
    endpoint = (("endpoint", "/v1/chat/completions"),)
    assert s[("aiclient_time_to_first_byte_seconds_count", endpoint)] == 1
    assert s[("aiclient_time_to_first_byte_seconds_bucket", (*endpoint, ("le", "0.025")))] == 1
    assert s[("aiclient_time_to_first_byte_seconds_bucket", (*endpoint, ("le", "0.005")))] == 0
    kinds = {dict(k[1])["kind"]: v for k, v in s.items() if k[0] == "aiclient_tokens_total"}
    assert kinds == {"input": 3, "output": 4, "cache_read": 50, "cache_write": 6}
    assert (
        s[("aiclient_credential_refreshes_total", (("provider", "copilot"), ("result", "success")))]
        == 1
    )
    assert s[("aiclient_provider_ready", (("provider", "copilot"),))] == 1
    assert s[("aiclient_provider_ready", (("provider", "kiro"),))] == 1


async def test_every_row_field_is_stored(tmp_path: Path) -> None:
    """One row per request with every field the issue lists, read back with plain sqlite3."""
    started = time.time() - 5
    rec = RequestRecord(
        request_id="req_fields",
        endpoint="/v1/messages",
        method="POST",
        http_status=502,
        outcome="upstream_error",
        started_at=started,
        duration=1.5,
        stream=True,
        provider="kiro",
        client_model="claude-sonnet",
        upstream_model="claude-sonnet-4.5",
        usage=ir.Usage(
            input_tokens=12,
            output_tokens=34,
            cache_read_input_tokens=56,
            cache_creation_input_tokens=78,
            input_estimated=True,
        ),
        time_to_first_byte=0.125,
        initiator="agent",
        credits=0.42,
        credits_estimated=True,
        premium=0.0,
        error_kind="overloaded",
        fallback_from=("copilot/a", "copilot/b"),
    )
    ledger = Ledger(tmp_path / "usage.db")
    try:
        ledger.record(rec)
        await ledger.flush()
    finally:
        await trio.to_thread.run_sync(ledger._close)
    conn = sqlite3.connect(tmp_path / "usage.db")
    conn.row_factory = sqlite3.Row
    try:
        row = dict(conn.execute("SELECT * FROM requests").fetchone())
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()
    assert mode == "wal"
    assert row == {
        "id": 1,
        "ts": started,
        "request_id": "req_fields",
        "endpoint": "/v1/messages",
        "provider": "kiro",
        "client_model": "claude-sonnet",
        "upstream_model": "claude-sonnet-4.5",
        "stream": 1,
        "status": "upstream_error",
        "http_status": 502,
        "input_tokens": 12,
        "output_tokens": 34,
        "cache_read_tokens": 56,
        "cache_write_tokens": 78,
        "input_estimated": 1,
        "output_estimated": 0,
        "ttfb_ms": 125.0,
        "duration_ms": 1500.0,
        "initiator": "agent",
        "credits": 0.42,
        "error_kind": "overloaded",
        "fallback_from": "copilot/a,copilot/b",
        "premium": 0.0,
        "credits_estimated": 1,
    }
