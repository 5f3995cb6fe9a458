"""`/v1/usage` filters (`since`/`until` as durations and ISO dates), groups
(provider, model, day) and `DELETE /v1/usage?before=` over a real socket, on a ledger with
rows at known times.
"""

from __future__ import annotations

import calendar
import time
from pathlib import Path

import httpx
import trio
from fakes import FakeProvider, make_gateway, serve
from test_ledger import _record

from aiclient_trio import ir
from aiclient_trio.ledger import Ledger
from aiclient_trio.server.app import create_app

DAY = 86400.0


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


async def test_usage_filters_groups_and_partial_clear(tmp_path: Path) -> None:
    gateway = make_gateway(FakeProvider("copilot"))
    ledger = Ledger(tmp_path / "usage.db", retention_days=0)
    gateway.ledger = ledger
    # Noon UTC today, so "today" and "3 days ago" are whole, distinct UTC days.
    now = time.time()
    today = time.gmtime(now)
    noon = float(calendar.timegm((today.tm_year, today.tm_mon, today.tm_mday, 12, 0, 0)))
    noon = min(noon, now - 60)
    usage = ir.Usage(input_tokens=100, output_tokens=10)
    rows = [
        ("k-old", noon - 3 * DAY, "kiro", "claude"),
        ("c-old", noon - 3 * DAY, "copilot", "gpt-4.1"),
        ("k-new", noon, "kiro", "claude"),
        ("c-new1", noon, "copilot", "gpt-4.1"),
        ("c-new2", noon, "copilot", "gpt-5"),
    ]
    for rid, ts, provider, model in rows:
        ledger.record(_record(rid, started_at=ts, provider=provider, model=model, usage=usage))

    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run)
        async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:

            async def get(**params: str) -> dict:  # type: ignore[type-arg]
                answer = await client.get("/v1/usage", params=params)
                assert answer.status_code == 200, answer.text
                return answer.json()  # type: ignore[no-any-return]

            everything = await get()
            assert everything["group"] == "model"
            assert everything["totals"]["requests"] == 5
            assert everything["totals"]["input_tokens"] == 500
            assert {g["key"]: g["requests"] for g in everything["groups"]} == {
                "copilot/gpt-4.1": 2,
                "copilot/gpt-5": 1,
                "kiro/claude": 2,
            }
            # since as a duration and as an ISO date-time give the same window
            recent = await get(since="2d", group="provider")
            assert {g["key"]: g["requests"] for g in recent["groups"]} == {"copilot": 2, "kiro": 1}
            iso = await get(since=_iso(noon - DAY), group="provider")
            assert iso["groups"] == recent["groups"]
            # until excludes the newer rows; an ISO date (no time) works too
            older = await get(until=_iso(noon - DAY))
            assert older["totals"]["requests"] == 2
            day_only = time.strftime("%Y-%m-%d", time.gmtime(noon - DAY))
            assert (await get(until=day_only))["totals"]["requests"] == 2
            window = await get(since="4d", until="1d")
            assert window["totals"]["requests"] == 2
            # by day: two UTC days, keyed by date
            by_day = await get(group="day")
            assert {g["key"]: g["requests"] for g in by_day["groups"]} == {
                time.strftime("%Y-%m-%d", time.gmtime(noon - 3 * DAY)): 2,
                time.strftime("%Y-%m-%d", time.gmtime(noon)): 3,
            }
            bad_group = await client.get("/v1/usage", params={"group": "week"})
            assert bad_group.status_code == 400
            assert bad_group.json()["error"]["param"] == "group"
            bad_until = await client.get("/v1/usage", params={"until": "later"})
            assert bad_until.status_code == 400

            # partial clear reports how many rows went, the rest stay
            cleared = await client.delete("/v1/usage", params={"before": "2d"})
            assert cleared.status_code == 200
            assert cleared.json() == {"deleted": 2}
            assert (await get())["totals"]["requests"] == 3
            bad_before = await client.delete("/v1/usage", params={"before": "someday"})
            assert bad_before.status_code == 400
            assert (await client.delete("/v1/usage")).json() == {"deleted": 3}
        nursery.cancel_scope.cancel()
