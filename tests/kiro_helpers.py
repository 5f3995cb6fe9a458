"""Wiring the Kiro provider to a fresh Kiro simulator over real loopback sockets."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import trio

from aiclient_trio import ir
from aiclient_trio.config_types import Config, KiroConfig, UpstreamConfig
from aiclient_trio.providers.base import RequestContext
from aiclient_trio.providers.kiro import KiroProvider
from aiclient_trio.providers.kiro.credentials import TokenStore, format_expires_at
from aiclient_trio.simulator.kiro import KiroSimulator, serve_kiro_simulator

__all__ = ["collect", "kiro_config", "start_kiro_for_tests", "user_request", "write_token"]


def kiro_config(sim: KiroSimulator, **kiro: Any) -> Config:
    return Config(
        upstream=UpstreamConfig(connect_timeout=5.0, idle_timeout=10.0),
        kiro=KiroConfig(api_url=sim.base_url, auth_url=sim.base_url, oidc_url=sim.base_url, **kiro),
    )


def write_token(path: Path, issued: dict[str, Any], *, kind: str = "social", **extra: Any) -> None:
    record: dict[str, Any] = {
        "accessToken": issued["accessToken"],
        "refreshToken": issued["refreshToken"],
        "expiresAt": format_expires_at(time.time() + issued["expiresIn"]),
        "authMethod": "social" if kind == "social" else "IdC",
        "region": "us-east-1",
        **extra,
    }
    if "profileArn" in issued:
        record["profileArn"] = issued["profileArn"]
    TokenStore(path).save(record, replace=True)


async def _own(provider: KiroProvider, *, task_status: trio.TaskStatus[None]) -> None:
    try:
        await provider.run(task_status=task_status)
    finally:
        with trio.CancelScope(shield=True):
            await provider.aclose()


async def start_kiro_for_tests(
    nursery: trio.Nursery, tmp_path: Path, *, kind: str = "social", **kiro: Any
) -> tuple[KiroProvider, KiroSimulator]:
    """A running provider signed in to a new simulator; both stop with `nursery`."""
    sim: KiroSimulator = await nursery.start(serve_kiro_simulator)
    token_path = tmp_path / "aiclient" / "kiro" / "token.json"
    write_token(token_path, sim.accounts.issue(kind), kind=kind)
    provider = KiroProvider(kiro_config(sim, **kiro), token_path=token_path)
    await nursery.start(_own, provider)
    return provider, sim


def user_request(text: str, **fields: Any) -> ir.Request:
    message = ir.Message("user", (ir.TextBlock(text),))
    return ir.Request(model="claude-sonnet-4.5", messages=(message,), **fields)


async def collect(
    provider: KiroProvider, request: ir.Request, model: str = "claude-sonnet-4.5"
) -> list[ir.StreamEvent]:
    ctx = RequestContext(request_id="req-1", inbound_format="anthropic", client_model=model)
    info = provider.resolve_model(model)
    async with provider.open_stream(request, info, ctx) as events:
        return [event async for event in events]
