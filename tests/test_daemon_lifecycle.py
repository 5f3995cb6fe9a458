"""`aiclient stop` escalates to SIGKILL with a warning, the control
socket refuses another uid (SO_PEERCRED), the `aiclient` console script is installed, and
message content never reaches the logs above debug level.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest
import trio
from conftest import XdgHome
from fakes import FakeProvider, Records, Script, make_gateway, serve

from aiclient_trio.daemon import control
from aiclient_trio.daemon.control import ControlServer
from aiclient_trio.daemon.pidfile import running_pid
from aiclient_trio.errors import GatewayError
from aiclient_trio.server.app import create_app

_STUBBORN = textwrap.dedent(
    """
    import signal, sys
    from pathlib import Path
    from aiclient_trio.daemon.pidfile import PidLock
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    PidLock(Path(sys.argv[1])).acquire()
    print("ready", flush=True)
    signal.alarm(120)  # never outlive a failed test for long
    signal.pause()  # until SIGKILL
    """
)


def test_stop_escalates_to_sigkill_with_a_warning(xdg_home: XdgHome) -> None:
    pid_file = xdg_home.runtime / "aiclient" / "aiclient.pid"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICLIENT_")}
    env.update(xdg_home.env)
    # A "daemon" that holds the PID lock and ignores SIGTERM.
    stubborn = subprocess.Popen(
        [sys.executable, "-c", _STUBBORN, str(pid_file)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == "ready\n"
        assert running_pid(pid_file) == stubborn.pid
        stopped = subprocess.run(
            [sys.executable, "-m", "aiclient_trio", "stop", "--timeout", "1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert stopped.returncode == 0, stopped.stderr
        assert f"warning: PID {stubborn.pid} still running after 1s; sending SIGKILL" in (
            stopped.stderr
        )
        assert f"aiclient stopped (PID {stubborn.pid})" in stopped.stdout
        assert stubborn.wait(timeout=10) == -signal.SIGKILL
        assert running_pid(pid_file) is None
    finally:
        if stubborn.poll() is None:
            stubborn.kill()
            stubborn.wait()
        if stubborn.stdout is not None:
            stubborn.stdout.close()


async def test_control_socket_refuses_another_uid(
    xdg_home: XdgHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int | None] = []
    real_peer_uid = control._peer_uid

    def other_uid(sock: trio.socket.SocketType) -> int | None:
        uid = real_peer_uid(sock)  # the real SO_PEERCRED reading
        seen.append(uid)
        return None if uid is None else uid + 1

    called: list[object] = []

    async def status(params: object) -> object:
        called.append(params)
        return {"ok": True}

    monkeypatch.setattr(control, "_peer_uid", other_uid)
    server = ControlServer(xdg_home.runtime / "ctl.sock", {"status": status})
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        stream = await trio.open_unix_socket(str(server.path))
        async with stream:
            await stream.send_all(b'{"id": 1, "method": "status"}\n')
            reply = b""
            while not reply.endswith(b"\n"):
                data = await stream.receive_some(65536)
                if not data:
                    break
                reply += data
        assert b'"forbidden"' in reply
        assert called == []
        assert seen == [os.getuid()]
        nursery.cancel_scope.cancel()


def test_console_script_is_installed_and_runs(xdg_home: XdgHome) -> None:
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts["aiclient"] == "aiclient_trio.cli.main:main"
    script = Path(sys.executable).parent / "aiclient"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICLIENT_")}
    env.update(xdg_home.env)
    result = subprocess.run(
        [str(script), "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3 and "not running" in result.stdout


async def test_message_content_is_never_logged_above_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "PURPLE-ELEPHANT-PROMPT-7731"
    provider = FakeProvider("copilot", ("fake-model", "broken"))
    provider.scripts["broken"] = Script(
        error=GatewayError(f"upstream rejected: {secret}", status=502)
    )
    gateway = make_gateway(provider)
    records = Records(gateway)
    caplog.set_level(logging.DEBUG)
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as client:
        message = [{"role": "user", "content": f"please remember {secret}"}]
        ok = await client.post(
            "/v1/chat/completions", json={"model": "copilot/fake-model", "messages": message}
        )
        assert ok.status_code == 200
        failed = await client.post(
            "/v1/messages",
            json={"model": "copilot/broken", "max_tokens": 5, "messages": message},
        )
        assert failed.status_code >= 500
        invalid = await client.post(
            "/v1/chat/completions", json={"model": 7, "messages": [{"role": secret}]}
        )
        assert invalid.status_code == 400
        await records.wait(3)  # each request's log line is written as its exchange ends
    loud = [r for r in caplog.records if r.levelno > logging.DEBUG]
    assert any("/v1/chat/completions" in r.getMessage() for r in loud)  # request lines exist
    leaked = [r.getMessage() for r in loud if secret in r.getMessage()]
    assert leaked == []


def test_xdg_paths_and_their_fallbacks(xdg_home: XdgHome, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiclient_trio.config import paths

    assert paths.config_file() == xdg_home.config / "aiclient" / "config.toml"
    assert paths.pid_file() == xdg_home.runtime / "aiclient" / "aiclient.pid"
    assert paths.control_socket() == xdg_home.runtime / "aiclient" / "ctl.sock"
    assert paths.state_dir() == xdg_home.state / "aiclient"
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, "relative/dir")  # not absolute: ignored, as the spec says
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert paths.config_file() == xdg_home.home / ".config" / "aiclient" / "config.toml"
    assert paths.state_dir() == xdg_home.home / ".local" / "state" / "aiclient"
    assert paths.runtime_dir() == Path(f"/tmp/aiclient-{os.getuid()}")
    loose = xdg_home.root / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    assert paths.ensure_private_dir(loose) == loose
    assert loose.stat().st_mode & 0o777 == 0o700
    fresh = paths.ensure_private_dir(xdg_home.root / "a" / "b")
    assert fresh.stat().st_mode & 0o777 == 0o700


def test_status_text_is_readable_at_a_glance() -> None:
    from aiclient_trio.cli.lifecycle import format_status

    text = format_status(
        {
            "version": "1.2.3",
            "pid": 4242,
            "uptime": 3 * 86400 + 5 * 3600 + 7 * 60,
            "url": "http://127.0.0.1:9090",
            "active_requests": 2,
            "rss_bytes": 50 * 1048576,
            "log_file": "/x/aiclient.log",
            "providers": {
                "copilot": {"state": "ready"},
                "kiro": {
                    "state": "unauthenticated",
                    "reason": "no stored sign-in",
                    "fix": "aiclient auth kiro",
                },
                "other": {"state": "refreshing", "fix": "never shown while refreshing"},
                "broken": {"state": "error", "reason": "HTTP 500", "fix": "aiclient logs"},
            },
            "quota": {"copilot": {"remaining": 120, "limit": 300, "unit": "premium requests"}},
        }
    )
    lines = text.splitlines()
    assert lines[0] == "aiclient 1.2.3 running (PID 4242), up 3d 5h 07m"
    assert "http://127.0.0.1:9090" in lines[1]
    assert "2 active" in text and "50.0 MiB RSS" in text
    assert "copilot  ready  (120 of 300 premium requests left" in text
    assert "kiro     unauthenticated: no stored sign-in  -> fix: aiclient auth kiro" in text
    assert "broken   error: HTTP 500  -> fix: aiclient logs" in text
    assert "never shown" not in text


def test_foreground_logs_to_stderr_and_sigterm_exits_0(xdg_home: XdgHome) -> None:
    from test_daemon import CONFIG, Cli

    xdg_home.config_file.parent.mkdir(parents=True)
    xdg_home.config_file.write_text(CONFIG)
    cli = Cli(xdg_home)
    daemon = subprocess.Popen(
        cli.argv("start", "--foreground", "--port", "0"),
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # A hung start is ended by killing it, which ends its stderr (the read below).
    watchdog = threading.Timer(60, daemon.kill)
    watchdog.start()
    try:
        assert daemon.stderr is not None
        # The daemon logs "listening on" once its control socket and HTTP server are up.
        for line in daemon.stderr:
            if " listening on " in line:
                break
        else:
            raise AssertionError("the foreground daemon ended before listening")
        watchdog.cancel()
        info = cli.status()
        assert info["pid"] == daemon.pid
        assert httpx.get(info["url"] + "/healthz").status_code == 200
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=30)
    finally:
        watchdog.cancel()
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    assert daemon.returncode == 0
    assert "SIGTERM: draining" in err and "aiclient stopped" in err
    assert running_pid(cli.pid_file) is None
