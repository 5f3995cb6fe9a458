"""Usage ledger through the real daemon: rows for stream and non-stream requests that reach
the disk while it runs (the ledger's own timer commits them; that it does so within its batch
delay, so `kill -9` loses at most a second of rows, is tested on virtual time in
test_ledger.py), a cancelled stream, no rows lost when SIGTERM arrives with requests in
flight, and rows that survive restarts.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from conftest import XdgHome
from test_daemon import CONFIG, Cli, wait_for, wait_for_exit
from test_ledger import _record

from aiclient_trio.daemon.control import ControlClient, ControlError
from aiclient_trio.daemon.pidfile import running_pid
from aiclient_trio.ledger import Ledger


@pytest.fixture
def cli(xdg_home: XdgHome) -> Iterator[Cli]:
    xdg_home.config_file.parent.mkdir(parents=True)
    xdg_home.config_file.write_text(CONFIG.replace("drain_timeout = 10.0", "drain_timeout = 5.0"))
    runner = Cli(xdg_home, profile="usage")
    yield runner
    pid = running_pid(runner.pid_file)
    if pid is not None and pid > 0:
        os.kill(pid, signal.SIGKILL)
        wait_for_exit(pid, "the daemon to die")


def _db(cli: Cli) -> Path:
    return cli.xdg.state / "aiclient" / "usage.db"


def _rows(cli: Cli) -> dict[str, dict[str, Any]]:
    """Rows by request id, read by another process as `kill -9` would leave them."""
    path = _db(cli)
    if not path.exists():
        return {}
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return {r["request_id"]: dict(r) for r in conn.execute("SELECT * FROM requests")}
    except sqlite3.OperationalError:  # the daemon has not created the table yet
        return {}
    finally:
        conn.close()


def _chat(model: str, stream: bool) -> dict[str, Any]:
    return {
        "model": f"steady/{model}",
        "stream": stream,
        "messages": [{"role": "user", "content": "hello"}],
    }


def _first_delta(lines: Iterator[str]) -> None:
    for line in lines:
        if line.startswith("data: ") and '"content"' in line:
            return
    raise AssertionError("the stream ended before its first text delta")


def _old_ledger_with_one_row(cli: Cli) -> None:
    """A ledger under the name used before the rename to usage.db."""
    ledger = Ledger(cli.xdg.state / "aiclient" / "usage.sqlite3")

    async def write() -> None:
        ledger.record(_record("from-old-file"))
        await ledger.flush()
        await trio.to_thread.run_sync(ledger._close)

    trio.run(write)


def test_rows_are_durable_cancelled_streams_recorded_and_sigterm_loses_none(cli: Cli) -> None:
    _old_ledger_with_one_row(cli)
    cli("start", "--port", "0")
    assert not (cli.xdg.state / "aiclient" / "usage.sqlite3").exists()
    assert "from-old-file" in _rows(cli)
    url = cli.status()["url"]
    with httpx.Client(base_url=url, timeout=30) as client:
        # Non-stream and stream requests with exact upstream usage; client ids are kept.
        quick = client.post(
            "/v1/chat/completions",
            json=_chat("quick", False),
            headers={"x-request-id": "audit-quick-1"},
        )
        assert quick.status_code == 200 and quick.headers["x-request-id"] == "audit-quick-1"
        with client.stream(
            "POST",
            "/v1/chat/completions",
            json=_chat("quick", True),
            headers={"x-request-id": "audit-quick-2"},
        ) as streamed:
            assert "data: [DONE]" in list(streamed.iter_lines())
        # On disk while the daemon runs: nothing but the ledger's timer wrote them.
        wait_for(
            lambda: {"audit-quick-1", "audit-quick-2"} <= set(_rows(cli)),
            "rows on disk",
            _db(cli).parent,
        )
        rows = _rows(cli)
        for rid, stream in (("audit-quick-1", 0), ("audit-quick-2", 1)):
            row = rows[rid]
            assert (row["status"], row["stream"], row["provider"]) == ("ok", stream, "steady")
            assert (row["input_tokens"], row["output_tokens"]) == (11, 7)
            assert (row["input_estimated"], row["output_estimated"]) == (0, 0)
            assert row["endpoint"] == "/v1/chat/completions"
            assert row["upstream_model"] == "quick" and row["initiator"] == "user"
            assert row["ttfb_ms"] is not None and row["duration_ms"] >= row["ttfb_ms"]
        assert "id=audit-quick-1" in cli.log_text()

        # A client that walks away mid-stream leaves a `cancelled` row.
        with client.stream(
            "POST",
            "/v1/chat/completions",
            json=_chat("hang", True),
            headers={"x-request-id": "audit-hang-1"},
        ) as hanging:
            _first_delta(hanging.iter_lines())
        wait_for(
            lambda: "audit-hang-1" in _rows(cli), "the cancelled stream's row", _db(cli).parent
        )
        assert _rows(cli)["audit-hang-1"]["status"] == "cancelled"

    # kill -9: what was already written stays; a stale PID file does not stop the next start.
    killed = cli.status()["pid"]
    os.kill(killed, signal.SIGKILL)
    wait_for_exit(killed, "the killed daemon to go")
    assert running_pid(cli.pid_file) is None
    assert {"audit-quick-1", "audit-quick-2", "audit-hang-1"} <= set(_rows(cli))

    # SIGTERM with two streams in flight: both finish during the drain and both rows land.
    cli("start", "--port", "0")
    info = cli.status()
    with (
        httpx.Client(base_url=info["url"], timeout=30) as client,
        client.stream(
            "POST",
            "/v1/chat/completions",
            json=_chat("slow", True),
            headers={"x-request-id": "audit-slow-1"},
        ) as one,
        client.stream(
            "POST",
            "/v1/chat/completions",
            json=_chat("slow", True),
            headers={"x-request-id": "audit-slow-2"},
        ) as two,
    ):
        lines_one, lines_two = one.iter_lines(), two.iter_lines()
        _first_delta(lines_one)
        _first_delta(lines_two)
        assert not {"audit-slow-1", "audit-slow-2"} & set(_rows(cli))
        os.kill(info["pid"], signal.SIGTERM)
        assert "data: [DONE]" in list(lines_one)
        assert "data: [DONE]" in list(lines_two)
    wait_for_exit(info["pid"], "the daemon to exit")
    assert running_pid(cli.pid_file) is None
    rows = _rows(cli)
    for rid in ("audit-slow-1", "audit-slow-2"):
        assert rows[rid]["status"] == "ok"
        assert (rows[rid]["input_tokens"], rows[rid]["output_tokens"]) == (11, 7)

    # The rows survive restarts and are what `aiclient usage` reports.
    cli("start", "--port", "0")
    usage = json.loads(cli("usage", "--json", "--by", "model").stdout)
    assert usage["totals"]["requests"] == 6
    assert usage["totals"]["ok"] == 5 and usage["totals"]["errors"] == 1
    groups = {g["key"]: g["requests"] for g in usage["groups"]}
    assert groups == {
        "copilot/gpt-4.1": 1,
        "steady/quick": 2,
        "steady/hang": 1,
        "steady/slow": 2,
    }
    cli("stop")


def test_sigint_drain_ends_stuck_api_streams_with_an_error_in_each_format(cli: Cli) -> None:
    """Issue 2: start flags --api-key/--log-file/--host, status shows version and uptime,
    SIGINT drains like SIGTERM and a stream still open at the deadline ends with the client
    format's own terminal error event instead of a cut connection."""
    cli.xdg.config_file.write_text(CONFIG.replace("drain_timeout = 10.0", "drain_timeout = 1.0"))
    log_file = cli.xdg.root / "custom.log"
    started = cli(
        "start",
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--api-key",
        "audit-key-123",
        "--log-file",
        str(log_file),
    )
    assert "running at http://127.0.0.1:" in started.stdout
    info = cli.status()
    text = cli("status").stdout
    assert f"aiclient {info['version']} running (PID {info['pid']}), up " in text
    assert info["uptime"] >= 0 and info["url"] in text
    assert "audit-key-123" not in text
    # `config reload` re-reads an edited file: hot keys apply, the port needs a restart.
    cli.xdg.config_file.write_text(
        CONFIG.replace("drain_timeout = 10.0", "drain_timeout = 1.0\nport = 1")
        + '\n[logging]\nlevel = "debug"\n'
    )
    reloaded = cli("config", "reload").stdout
    assert "running daemon updated: logging.level" in reloaded
    assert "needs restart to apply: server.port" not in reloaded  # --port 0 beats the file
    assert cli.status()["reloads"]["ok"] >= 1
    assert json.loads(cli("config", "show", "--json").stdout)["logging"]["level"] == "debug"
    # Control methods the CLI does not all use: logs.tail, config.show (secret masked), usage.
    ctl = ControlClient(cli.pid_file.parent / "ctl.sock")
    tail = ctl.call("logs.tail", {"lines": 3})
    assert tail["path"] == str(log_file) and 0 < len(tail["lines"]) <= 3
    with pytest.raises(ControlError, match="lines"):
        ctl.call("logs.tail", {"lines": -1})
    shown = json.dumps(ctl.call("config.show"))
    assert "audit-key-123" not in shown
    assert ctl.call("usage", {"group": "provider"})["group"] == "provider"
    auth = {"authorization": "Bearer audit-key-123"}
    with httpx.Client(base_url=info["url"], timeout=30) as client:
        assert client.get("/v1/models").status_code == 401
        assert client.get("/v1/models", headers=auth).status_code == 200
        anthropic_body = {
            "model": "steady/hang",
            "max_tokens": 20,
            "stream": True,
            "messages": [{"role": "user", "content": "hello"}],
        }
        with (
            client.stream(
                "POST", "/v1/chat/completions", json=_chat("hang", True), headers=auth
            ) as chat,
            client.stream("POST", "/v1/messages", json=anthropic_body, headers=auth) as messages,
        ):
            chat_lines, message_lines = chat.iter_lines(), messages.iter_lines()
            _first_delta(chat_lines)
            for line in message_lines:
                if line.startswith("event: content_block_delta"):
                    break
            os.kill(info["pid"], signal.SIGINT)
            chat_rest = [line for line in chat_lines if line.startswith("data: ")]
            message_rest = list(message_lines)
    # OpenAI Chat: a final error object (no silent truncation).
    errors = [json.loads(line[6:]) for line in chat_rest if line != "data: [DONE]"]
    assert errors and "server shutting down" in errors[-1]["error"]["message"]
    # Anthropic: `event: error` with overloaded_error.
    assert "event: error" in message_rest
    data = message_rest[message_rest.index("event: error") + 1]
    assert json.loads(data[6:])["error"]["type"] == "overloaded_error"
    wait_for_exit(info["pid"], "the daemon to exit")
    assert running_pid(cli.pid_file) is None
    log = log_file.read_text()
    assert "SIGINT: draining" in log and "drain timeout" in log and "aiclient stopped" in log
    assert "audit-key-123" not in log
