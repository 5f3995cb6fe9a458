"""Premium requests follow Copilot's billing (model multiplier for a user turn,
nothing for included 0x models or agent turns) instead of counting every user-initiated call;
ledgers written before the `premium` column keep their old counts."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import trio
from copilot_helpers import start_provider, start_simulators
from fakes import Records, make_gateway, serve

from aiclient_trio.ledger import _MIGRATIONS, Ledger, UsageQuery
from aiclient_trio.record import RequestRecord
from aiclient_trio.server.app import create_app
from aiclient_trio.simulator.copilot_kit import SimState


def _record(request_id: str, model: str, premium: float | None, initiator: str) -> RequestRecord:
    return RequestRecord(
        request_id=request_id,
        endpoint="/v1/messages",
        method="POST",
        http_status=200,
        outcome="ok",
        started_at=time.time(),
        duration=0.1,
        provider="copilot",
        client_model=f"copilot/{model}",
        upstream_model=model,
        initiator=initiator,
        premium=premium,
    )


async def test_ledger_sums_premium_and_migrates_schema_1(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    old = sqlite3.connect(path)
    with old:
        old.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            + _MIGRATIONS[1]
            + "INSERT INTO meta VALUES ('schema_version', '1');"
        )
        old.execute(
            "INSERT INTO requests (ts, request_id, endpoint, provider, upstream_model, stream, "
            "status, http_status, duration_ms, initiator) "
            "VALUES (?, 'old', '/v1/messages', 'copilot', 'claude-sonnet-4.5', 0, 'ok', 200, 1, "
            "'user')",
            (time.time(),),
        )
    old.close()
    ledger = Ledger(path)
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run)
        ledger.record(_record("free", "gpt-4.1", 0.0, "user"))
        ledger.record(_record("agent", "claude-opus-4.1", 0.0, "agent"))
        ledger.record(_record("opus", "claude-opus-4.1", 10.0, "user"))
        summary = await ledger.summary(UsageQuery(group="model"))
        nursery.cancel_scope.cancel()
    by_model = {g["key"]: g["premium_requests"] for g in summary["groups"]}
    assert by_model == {
        "copilot/claude-sonnet-4.5": 1,  # a schema-1 row: one per user call, as before
        "copilot/gpt-4.1": 0,
        "copilot/claude-opus-4.1": 10,
    }
    assert summary["totals"]["premium_requests"] == 11
    assert summary["premium_requests"] == {"today": 11, "this_month": 11}


async def test_copilot_reports_the_multiplier_of_user_turns(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        # An account still billed per premium request (annual Pro/Pro+ since 2026-06-01).
        sim = await start_simulators(nursery, SimState(token_billing=False))
        provider = await start_provider(nursery, tmp_path, sim)
        assert provider.billing == "premium_requests"
        multipliers = {m.id: m.premium_multiplier for m in provider.models()}
        assert multipliers["gpt-4.1"] == 0 and multipliers["claude-sonnet-4.5"] == 1
        gateway = make_gateway(provider)
        records = Records(gateway)
        async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as http:
            for model in ("gpt-4.1", "claude-sonnet-4.5"):
                for path, body in (
                    ("/v1/chat/completions", {}),
                    ("/v1/messages", {"max_tokens": 16}),
                ):
                    reply = await http.post(
                        path,
                        json={
                            "model": f"copilot/{model}",
                            "messages": [{"role": "user", "content": "hi"}],
                            **body,
                        },
                    )
                    assert reply.status_code == 200, reply.text
            recs = await records.wait(4)
        nursery.cancel_scope.cancel()
    costs = [(r.upstream_model, r.endpoint, r.initiator, r.premium) for r in recs]
    assert sorted(costs) == sorted(
        [
            ("gpt-4.1", "/v1/chat/completions", "user", 0.0),
            ("gpt-4.1", "/v1/messages", "user", 0.0),  # translated
            ("claude-sonnet-4.5", "/v1/chat/completions", "user", 1.0),
            ("claude-sonnet-4.5", "/v1/messages", "user", 1.0),  # passthrough
        ]
    )


async def test_a_refused_request_costs_no_premium_request(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        sim = await start_simulators(nursery, SimState(token_billing=False))
        provider = await start_provider(nursery, tmp_path, sim)
        gateway = make_gateway(provider)
        records = Records(gateway)
        ask = {"model": "copilot/claude-sonnet-4.5", "max_tokens": 16}
        ask["messages"] = [{"role": "user", "content": "hi"}]
        async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as http:
            for status in (400, 422):  # not retried: the client gets them
                sim.state.faults.queue_error(status, {"error": {"message": "refused"}})
                refused = await http.post("/v1/messages", json=ask)
                assert refused.status_code == status, refused.text
            assert (await http.post("/v1/messages", json=ask)).status_code == 200
            recs = await records.wait(3)
        nursery.cancel_scope.cancel()
    assert [(r.http_status, r.initiator, r.premium) for r in recs] == [
        (400, "user", 0.0),
        (422, "user", 0.0),
        (200, "user", 1.0),
    ]
