"""A corrupted, unwritable or locked ledger database never breaks request
serving (stream and non-stream answer normally, `/v1/usage` says what is wrong), and rows
queued while the database was locked land once it is free.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
import trio
from fakes import FakeProvider, Records, make_gateway, serve

from aiclient_trio.ledger import Ledger, UsageQuery
from aiclient_trio.server.app import create_app

BODY = {"model": "copilot/fake-model", "messages": [{"role": "user", "content": "hi"}]}


async def _serve_requests(ledger: Ledger) -> httpx.Response:
    """Two requests through a gateway whose ledger is `ledger`; returns GET /v1/usage."""
    gateway = make_gateway(FakeProvider("copilot"))
    gateway.ledger = ledger
    gateway.observers.append(ledger.record)
    records = Records(gateway)
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run)
        async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
            plain = await client.post("/v1/chat/completions", json=BODY)
            assert plain.status_code == 200
            assert plain.json()["choices"][0]["message"]["content"] == "Hello from fake"
            async with client.stream(
                "POST", "/v1/chat/completions", json={**BODY, "stream": True}
            ) as streamed:
                assert streamed.status_code == 200
                lines = [line async for line in streamed.aiter_lines()]
            assert "data: [DONE]" in lines
            await records.wait(2)
            assert (await client.get("/healthz")).status_code == 200
            usage = await client.get("/v1/usage")
        nursery.cancel_scope.cancel()
    return usage


@pytest.mark.parametrize("damage", ["corrupted", "unwritable"])
async def test_a_broken_database_does_not_break_serving(tmp_path: Path, damage: str) -> None:
    if damage == "corrupted":
        path = tmp_path / "usage.db"
        path.write_bytes(b"definitely not sqlite " * 200)
    else:  # the parent is a file: nobody, not even root, can create the database
        (tmp_path / "blocker").write_text("x")
        path = tmp_path / "blocker" / "usage.db"
    ledger = Ledger(path)
    usage = await _serve_requests(ledger)
    assert usage.status_code == 503
    assert "usage.db" in usage.json()["error"]["message"]
    assert not ledger.healthy


async def test_a_locked_database_keeps_serving_and_writes_later(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    sqlite3.connect(path).close()
    other = sqlite3.connect(path)
    other.execute("BEGIN EXCLUSIVE")
    try:
        ledger = Ledger(path, busy_timeout=0.05)
        usage = await _serve_requests(ledger)
        assert usage.status_code == 503
        assert "locked" in usage.json()["error"]["message"]
    finally:
        other.rollback()
        other.close()
    # The rows were kept in memory and land once the lock is gone (the shutdown flush
    # ran while locked, so they are still queued).
    await ledger.flush()
    assert ledger.healthy
    summary = await ledger.summary(UsageQuery())
    assert summary["totals"]["requests"] == 2
    await trio.to_thread.run_sync(ledger._close)
