"""Wiring for Copilot tests: the GitHub + Copilot simulators and a provider pointed at them.

`start_copilot_for_tests(nursery, tmp_path)` returns a running, ready provider and the
simulator handle; everything stops when the nursery is cancelled.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import trio
from fakes import make_gateway, serve

from aiclient_trio.config.types import Config, UpstreamConfig
from aiclient_trio.gateway import Gateway
from aiclient_trio.providers.base import RequestContext
from aiclient_trio.providers.copilot import CopilotProvider
from aiclient_trio.providers.copilot.auth import StoredCredential, save_credential
from aiclient_trio.server.app import create_app
from aiclient_trio.simulator.copilot import CopilotSimulator, serve_copilot_simulators
from aiclient_trio.simulator.copilot_kit import SimState

DATA = Path(__file__).parent / "data" / "copilot"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def copilot_config(sim: CopilotSimulator, base: Config | None = None, **changes: Any) -> Config:
    """`base` (default Config()) with its copilot section pointed at the simulators."""
    base = base or Config()
    copilot = dataclasses.replace(
        base.copilot, github_url=sim.github_url, github_api_url=sim.github_url
    )
    return dataclasses.replace(base, copilot=dataclasses.replace(copilot, **changes))


async def start_simulators(
    nursery: trio.Nursery, state: SimState | None = None
) -> CopilotSimulator:
    sim: CopilotSimulator = await nursery.start(serve_copilot_simulators, state)
    return sim


async def _close_on_cancel(
    provider: CopilotProvider, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    task_status.started()
    try:
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            await provider.aclose()


async def start_provider(
    nursery: trio.Nursery,
    tmp_path: Path,
    sim: CopilotSimulator,
    *,
    github_token: str | None = "gho_test",
    config: Config | None = None,
    **config_changes: Any,
) -> CopilotProvider:
    directory = tmp_path / "copilot"
    if github_token is not None:
        save_credential(StoredCredential(github_token=github_token), directory)
    provider = CopilotProvider(
        copilot_config(sim, config, **config_changes), credentials_dir=directory
    )
    await nursery.start(_close_on_cancel, provider)
    await nursery.start(provider.run)
    return provider


async def start_copilot_for_tests(
    nursery: trio.Nursery, tmp_path: Path, **config_changes: Any
) -> tuple[CopilotProvider, CopilotSimulator]:
    sim = await start_simulators(nursery)
    provider = await start_provider(nursery, tmp_path, sim, **config_changes)
    return provider, sim


def copilot_gateway(provider: CopilotProvider, **upstream: Any) -> Gateway:
    """A gateway with `provider` as the default; `upstream` changes the upstream limits
    (a 5 s connect timeout unless given)."""
    limits: dict[str, Any] = {"connect_timeout": 5.0} | upstream
    return make_gateway(
        provider, config=Config(default_provider="copilot", upstream=UpstreamConfig(**limits))
    )


async def stream_messages(
    tmp_path: Path, model: str, content: str, *, timeout: float = 5.0
) -> httpx.Response:
    """POST one streamed /v1/messages request (`content` to `copilot/<model>`) through a
    Copilot gateway of its own; return the whole answer once the stream has ended."""
    async with trio.open_nursery() as nursery:
        provider, _ = await start_copilot_for_tests(nursery, tmp_path)
        async with serve(create_app(copilot_gateway(provider))) as url, httpx.AsyncClient() as http:
            body = {
                "model": f"copilot/{model}",
                "max_tokens": 64,
                "stream": True,
                "messages": [{"role": "user", "content": content}],
            }
            response = await http.post(url + "/v1/messages", json=body, timeout=timeout)
        nursery.cancel_scope.cancel()
    return response


def ctx(fmt: str, model: str = "", headers: dict[str, str] | None = None) -> RequestContext:
    return RequestContext(
        request_id=f"req-{fmt}-{model}-{uuid.uuid4().hex[:8]}",  # each call its own, as served
        inbound_format=fmt,  # type: ignore[arg-type]
        client_model=model,
        headers=headers or {},
    )
