"""Wiring the Kiro provider to a fresh Kiro simulator over real loopback sockets."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import trio
from fakes import make_gateway, serve

from aiclient_trio import ir
from aiclient_trio.config.types import Config, KiroConfig, UpstreamConfig
from aiclient_trio.gateway import Gateway
from aiclient_trio.providers.base import RequestContext
from aiclient_trio.providers.kiro import KiroProvider
from aiclient_trio.providers.kiro.credentials import TokenStore, format_expires_at
from aiclient_trio.server.app import create_app
from aiclient_trio.simulator.kiro import KiroSimulator, serve_kiro_simulator, urls_for

__all__ = ["collect", "kiro_config", "start_kiro_for_tests", "user_request", "write_token"]


def kiro_config(sim: KiroSimulator, **kiro: Any) -> Config:
    return Config(
        upstream=UpstreamConfig(connect_timeout=5.0, idle_timeout=10.0),
        kiro=KiroConfig(**{**urls_for(sim), **kiro}),
    )


def write_token(path: Path, issued: dict[str, Any], *, kind: str = "social", **extra: Any) -> None:
    """A token file as `aiclient auth kiro` writes it for an account of `kind` (social, idc,
    builder_id)."""
    record: dict[str, Any] = {
        "accessToken": issued["accessToken"],
        "refreshToken": issued["refreshToken"],
        "expiresAt": format_expires_at(time.time() + issued["expiresIn"]),
        "authMethod": "social" if kind == "social" else "IdC",
        "region": "us-east-1",
        **extra,
    }
    if kind == "builder_id":
        record["provider"] = "BuilderId"
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
    nursery: trio.Nursery,
    tmp_path: Path,
    *,
    kind: str = "social",
    region: str = "us-east-1",
    **kiro: Any,
) -> tuple[KiroProvider, KiroSimulator]:
    """A running provider signed in (as a `kind` account of `region`: social, idc,
    builder_id or api_key) to a new simulator; both stop with `nursery`."""
    sim: KiroSimulator = await nursery.start(serve_kiro_simulator)
    token_path = tmp_path / "aiclient" / "kiro" / "token.json"
    if kind == "api_key":
        key = sim.accounts.issue_api_key(region)
        TokenStore(token_path).save(
            {"authMethod": "api_key", "accessToken": key, "region": region}, replace=True
        )
    else:
        write_token(token_path, sim.accounts.issue(kind, region), kind=kind, region=region)
    provider = KiroProvider(kiro_config(sim, **kiro), token_path=token_path)
    await nursery.start(_own, provider)
    return provider, sim


def kiro_gateway(provider: KiroProvider) -> Gateway:
    """A gateway with `provider` as the default and no retries: the tests built on it check
    how each upstream answer or fault reaches the client, and count the upstream calls."""
    config = Config(
        default_provider="kiro", upstream=UpstreamConfig(connect_timeout=5.0, retries=0)
    )
    return make_gateway(provider, config=config)


async def chat_after_http_fault(
    tmp_path: Path, fault: str, path: str = "/v1/chat/completions", **fields: Any
) -> tuple[httpx.Response, KiroProvider, KiroSimulator]:
    """POST one request for `kiro/claude-sonnet-4.5` (a chat completion unless `path` says
    otherwise; `fields` join the body) through the gateway while the simulator answers with
    the HTTP fault `fault`; return the answer, the (stopped) provider and the simulator."""
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        sim.faults.http_errors.append(fault)
        async with (
            serve(create_app(kiro_gateway(provider))) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            answer = await http.post(
                path,
                json={
                    "model": "kiro/claude-sonnet-4.5",
                    **fields,
                    "messages": [{"role": "user", "content": "x"}],
                },
            )
        nursery.cancel_scope.cancel()
    return answer, provider, sim


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


def summarize(events: list[ir.StreamEvent]) -> dict[str, Any]:
    """What a client would see, after checking the event order is well formed."""
    assert isinstance(events[0], ir.MessageStart)
    open_blocks: dict[int, ir.Block] = {}
    seen: set[int] = set()
    text: list[str] = []
    thinking: list[str] = []
    signature: list[str] = []
    tools: list[list[Any]] = []
    tool_json: dict[int, list[str]] = {}
    out: dict[str, Any] = {"error": None, "stop_reason": None, "usage": None}
    for event in events[1:]:
        assert out["error"] is None, "nothing may follow a StreamError"
        match event:
            case ir.BlockStart(index=index, block=block):
                assert index not in seen and not open_blocks, "one block open at a time"
                seen.add(index)
                open_blocks[index] = block
                if isinstance(block, ir.ToolUseBlock):
                    tools.append([block.name, None])
                    tool_json[index] = []
            case ir.TextDelta(index=index, text=delta):
                assert isinstance(open_blocks[index], ir.TextBlock)
                text.append(delta)
            case ir.ThinkingDelta(index=index, thinking=delta):
                assert isinstance(open_blocks[index], ir.ThinkingBlock)
                thinking.append(delta)
            case ir.SignatureDelta(index=index, signature=delta):
                assert isinstance(open_blocks[index], ir.ThinkingBlock)
                signature.append(delta)
            case ir.ToolInputDelta(index=index, partial_json=delta):
                tool_json[index].append(delta)
            case ir.BlockStop(index=index):
                block = open_blocks.pop(index)
                if isinstance(block, ir.ToolUseBlock):
                    tools[-1][1] = ir.parse_tool_arguments("".join(tool_json[index]))
            case ir.MessageDelta(stop_reason=reason, usage=usage):
                assert not open_blocks
                out["stop_reason"], out["usage"] = reason, usage
            case ir.MessageStop():
                assert out["stop_reason"] is not None
            case ir.StreamError(error=error):
                out["error"] = error
    out.update(
        text="".join(text),
        thinking="".join(thinking),
        signature="".join(signature) or None,
        tools=tools,
        finished=isinstance(events[-1], ir.MessageStop),
    )
    return out
