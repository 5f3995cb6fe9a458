"""Issue 14 item 6: an upload that never finishes gets 408 and its connection closed;
usage.db and its WAL/SHM files are 0600 whatever the umask; an upstream that refuses the
gateway's credential reaches the client as a 503 naming the sign-in command, the same for
both providers, never as the client's own 401."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path

import anthropic
import openai
import pytest
import trio
from fakes import FakeProvider, make_gateway, serve
from kiro_helpers import start_kiro_for_tests
from test_faults_copilot import NO_TIME_LIMITS, _config, copilot_rig

from aiclient_trio.config.types import Config, ServerConfig, UpstreamConfig
from aiclient_trio.gateway import RequestRecord
from aiclient_trio.ledger import Ledger
from aiclient_trio.server.app import create_app

BODY = b'{"model": "copilot/fake-model", "messages": [{"role": "user", "content": "hi"}]}'


async def _read_all(stream: trio.SocketStream) -> bytes:
    seen = b""
    while chunk := await stream.receive_some():
        seen += chunk
    return seen


@pytest.mark.parametrize(
    ("name", "head", "sent"),
    [
        (
            "short of its Content-Length",
            f"content-length: {len(BODY)}\r\n",
            BODY[:20],
        ),
        ("chunked without its last chunk", "transfer-encoding: chunked\r\n", b"14\r\n" + BODY[:20]),
        ("headers only", f"content-length: {len(BODY)}\r\n", b""),
    ],
)
async def test_an_upload_that_never_finishes_gets_408_and_the_connection_closes(
    name: str, head: str, sent: bytes
) -> None:
    config = Config(server=ServerConfig(body_timeout=0.5))
    gateway = make_gateway(FakeProvider("copilot"), config=config)
    async with serve(create_app(gateway)) as url:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            await stream.send_all(
                (
                    f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}\r\n"
                    f"content-type: application/json\r\n{head}\r\n"
                ).encode()
                + sent
            )
            # Nothing more is sent: the server must answer and close by itself.
            answer = await _read_all(stream)
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 408 " in status_line, (name, answer)
    assert b"connection: close" in rest.lower()
    assert b"did not arrive in full within 0.5 s" in rest
    assert b"server.body_timeout" in rest


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o000])
async def test_usage_db_and_its_wal_files_are_private_whatever_the_umask(
    tmp_path: Path, umask: int
) -> None:
    old = os.umask(umask)
    try:
        ledger = Ledger(tmp_path / "state" / "usage.db", batch_delay=0)
        await trio.to_thread.run_sync(ledger._open_quietly)
        ledger.record(
            RequestRecord("req_1", "/v1/messages", "POST", 200, "ok", 1.0, 0.1, client_model="m")
        )
        await ledger.flush()
        files = sorted(p.name for p in (tmp_path / "state").iterdir())
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "state").iterdir()}
        await trio.to_thread.run_sync(ledger._close)
    finally:
        os.umask(old)
    assert {"usage.db", "usage.db-wal", "usage.db-shm"} <= set(files)
    assert modes == {name: 0o600 for name in files}


async def test_an_older_world_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").touch(mode=0o644)
        os.chmod(f"{path}{suffix}", 0o644)
    ledger = Ledger(path, batch_delay=0)
    await trio.to_thread.run_sync(ledger._open_quietly)
    try:
        modes = [
            stat.S_IMODE(os.stat(f"{path}{suffix}").st_mode) for suffix in ("", "-wal", "-shm")
        ]
    finally:
        await trio.to_thread.run_sync(ledger._close)
    assert modes == [0o600] * 3


# -- upstream credential failures -------------------------------------------------------------


def _messages_error(url: str, model: str) -> anthropic.APIStatusError:
    with (
        anthropic.Anthropic(base_url=url, api_key="client-key", max_retries=0) as client,
        pytest.raises(anthropic.APIStatusError) as caught,
    ):
        client.messages.create(
            model=model, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    return caught.value


def _chat_error(url: str, model: str) -> openai.APIStatusError:
    with (
        openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0) as client,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    return caught.value


def _assert_gateway_credential_error(
    error: anthropic.APIStatusError | openai.APIStatusError, provider: str
) -> None:
    assert error.status_code == 503, error
    assert not isinstance(error, anthropic.AuthenticationError | openai.AuthenticationError)
    assert f"aiclient auth {provider}" in error.message
    assert error.response.headers.get("x-should-retry") == "false", error.response.text
    assert "authentication_error" not in error.response.text


async def test_kiro_refusing_the_gateways_token_is_a_503_not_the_clients_401(
    tmp_path: Path,
) -> None:
    config = Config(upstream=UpstreamConfig(retries=0))
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        gateway = make_gateway(provider, config=config)
        async with serve(create_app(gateway)) as url:
            for status in ("bearer_401", "bearer"):  # 401 and 403, refused again after refresh
                sim.faults.http_errors = [status, status]
                error = await trio.to_thread.run_sync(
                    _messages_error, url, "kiro/claude-sonnet-4.5"
                )
                _assert_gateway_credential_error(error, "kiro")
                assert "Kiro:" not in error.message
                sim.faults.http_errors = [status, status]
                chat = await trio.to_thread.run_sync(_chat_error, url, "kiro/claude-sonnet-4.5")
                _assert_gateway_credential_error(chat, "kiro")
        nursery.cancel_scope.cancel()


async def test_copilot_refusing_the_gateways_token_is_the_same_503(tmp_path: Path) -> None:
    async with copilot_rig(tmp_path, replace(_config(**NO_TIME_LIMITS), api_key=None)) as rig:
        # The Copilot token expires and the GitHub token behind it was revoked meanwhile:
        # the upstream answers 401 and the provider cannot mint another token.
        rig.sim.state.github_tokens.discard("gho_test")
        rig.sim.state.revoked.add("gho_test")
        rig.sim.state.expire_copilot_tokens()
        error = await trio.to_thread.run_sync(_messages_error, rig.url, "copilot/claude-sonnet-4.5")
        _assert_gateway_credential_error(error, "copilot")
        chat = await trio.to_thread.run_sync(_chat_error, rig.url, "copilot/gpt-4.1")
        _assert_gateway_credential_error(chat, "copilot")
