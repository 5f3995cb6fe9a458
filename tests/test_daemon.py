"""The daemon through the real `aiclient` command: lifecycle, reload, control, drain.

Each test starts one real daemon (subprocess, port 0, temporary XDG home) with a test
provider from daemon_hooks; the real providers are disabled so nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import XdgHome

from aiclient_trio.daemon.control import ControlClient
from aiclient_trio.daemon.pidfile import running_pid

TESTS = Path(__file__).resolve().parent
CONFIG = """\
[server]
drain_timeout = 10.0

[providers.copilot]
enabled = false

[providers.kiro]
enabled = false
"""


class Cli:
    """`aiclient` as a user runs it, with the test providers of `profile` (aiclient_entry.py)."""

    def __init__(self, xdg: XdgHome, profile: str = "steady") -> None:
        self.xdg = xdg
        self.profile = profile
        env = {k: v for k, v in os.environ.items() if not k.startswith("AICLIENT_")}
        env.update(xdg.env)
        self.env = env
        self.pid_file = xdg.runtime / "aiclient" / "aiclient.pid"

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, str(TESTS / "aiclient_entry.py"), self.profile, *args]

    def __call__(self, *args: str, code: int | None = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.argv(*args),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if code is not None:
            assert result.returncode == code, (args, result.stdout, result.stderr)
        return result

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self("status", "--json").stdout)
        return data

    def log_text(self) -> str:
        return (self.xdg.state / "aiclient" / "aiclient.log").read_text()


_libc = ctypes.CDLL(None, use_errno=True)
_IN_CHANGES = 0x2 | 0x8 | 0x80 | 0x100 | 0x200  # MODIFY, CLOSE_WRITE, MOVED_TO, CREATE, DELETE


_IGNORED = {""}


def _changed_names(events: bytes) -> set[str]:
    """Names in a buffer of `struct inotify_event`; SQLite readers' own `-shm` touches dropped."""
    names, offset = set(), 0
    while offset < len(events):
        _wd, _mask, _cookie, size = struct.unpack_from("iIII", events, offset)
        offset += 16
        name = events[offset : offset + size].rstrip(b"\0").decode(errors="replace")
        offset += size
        names.add("" if name.endswith("-shm") else name)
    return names


def wait_for(condition: Callable[[], bool], what: str, watch: Path, timeout: float = 60.0) -> None:
    """Wait until `condition` (about files another process writes under `watch`) holds.

    Event-driven: the condition is re-checked each time inotify reports a change in the
    directory, never on a timer. The timeout only ends a hang; a loaded machine makes this
    slower, never failing.
    """
    fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    try:
        if _libc.inotify_add_watch(fd, os.fsencode(watch), _IN_CHANGES) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {watch}")
        deadline = time.monotonic() + timeout
        while not condition():  # checked after the watch exists: no change is missed
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError(f"timed out waiting for {what}")
            if not _changed_names(os.read(fd, 65536)) - _IGNORED:
                continue  # only our own reads touched the files; nothing new to check
    finally:
        os.close(fd)


def wait_for_exit(pid: int, what: str, timeout: float = 60.0) -> None:
    """Block until process `pid` (the detached daemon, not our child) has ended.

    A pidfd becomes readable when the process exits, after the kernel released its PID-file
    lock; the timeout only ends a hang, so a loaded machine makes this slower, never failing.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # already gone
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    if not ready:
        raise AssertionError(f"timed out waiting for {what} (PID {pid})")


@pytest.fixture
def cli(xdg_home: XdgHome) -> Iterator[Cli]:
    xdg_home.config_file.parent.mkdir(parents=True)
    xdg_home.config_file.write_text(CONFIG)
    runner = Cli(xdg_home)
    yield runner
    pid = running_pid(runner.pid_file)
    if pid is not None and pid > 0:  # a failed test left its daemon running
        os.kill(pid, signal.SIGKILL)
        wait_for_exit(pid, "the daemon to die")
        assert running_pid(runner.pid_file) is None


def test_start_status_restart_stop_through_the_cli(cli: Cli) -> None:
    # A stale PID file and socket from a crashed daemon are recovered.
    cli.pid_file.parent.mkdir(mode=0o700)
    cli.pid_file.write_text("999999\n")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(cli.pid_file.parent / "ctl.sock"))
    stale.close()

    started = cli("start", "--port", "0")
    assert "running at http://127.0.0.1:" in started.stdout
    info = cli.status()
    assert info["running"] is True
    assert f"(PID {info['pid']})" in started.stdout
    assert info["url"] in started.stdout
    assert "replaced a stale PID file (PID 999999 is not running)" in cli.log_text()
    assert httpx.get(info["url"] + "/healthz").json()["status"] == "ok"
    runtime = cli.pid_file.parent
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in (runtime, runtime / "ctl.sock")}
    assert modes == {runtime: 0o700, runtime / "ctl.sock": 0o600}
    assert stat.S_IMODE((cli.xdg.state / "aiclient" / "aiclient.log").stat().st_mode) == 0o600

    text = cli("status").stdout
    assert f"running (PID {info['pid']})" in text
    assert "steady   ready  (42 of 50 requests left)" in text
    assert "kiro     disabled" in text
    assert "fix: aiclient provider enable kiro" in text
    assert info["providers"]["steady"]["state"] == "ready"
    assert info["rss_bytes"] > 1_000_000
    assert info["active_requests"] == 0
    assert info["quota"] == {"steady": {"remaining": 42, "limit": 50, "unit": "requests"}}

    refused = cli("start", "--port", "0", code=1)
    assert f"already running (PID {info['pid']})" in refused.stderr

    assert info["start_flags"] == {"server.port": 0}
    restarted = cli("restart")  # reuses --port 0 from the running daemon's start
    assert "aiclient stopped" in restarted.stdout
    new = cli.status()
    assert new["pid"] != info["pid"]
    assert new["url"] in restarted.stdout

    assert f"aiclient stopped (PID {new['pid']})" in cli("stop").stdout
    assert "not running" in cli("status", code=3).stdout
    assert not cli.pid_file.exists()
    assert "not running" in cli("stop").stdout


def test_reload_hot_keys_sighup_broken_file_and_control_garbage(cli: Cli) -> None:
    cli("start", "--port", "0")
    pid = cli.status()["pid"]

    # A hot key applies to the running daemon at once; host/port are reported as needing restart.
    out = cli("config", "set", "logging.level", "debug").stdout
    assert "running daemon updated: logging.level" in out
    out = cli("config", "set", "server.host", "127.0.0.2").stdout
    assert "needs restart to apply: server.host" in out
    # --port given to start beats the file, so a port change in the file changes nothing.
    assert "(no change)" in cli("config", "set", "server.port", "1").stdout
    shown = json.loads(cli("config", "show", "--json").stdout)
    assert shown["logging"]["level"] == "debug"

    # SIGHUP with a broken file keeps the running config and logs why.
    cli.xdg.config_file.write_text("[server\nport = 1\n")
    before = cli.status()["reloads"]["finished"]
    os.kill(pid, signal.SIGHUP)
    # The daemon answers reloads.wait once the SIGHUP reload has finished (no polling).
    waited = ControlClient(cli.pid_file.parent / "ctl.sock", timeout=70).call(
        "reloads.wait", {"after": before, "timeout": 60}
    )
    assert waited["finished"] == before + 1
    info = cli.status()
    assert "not valid TOML" in info["reloads"]["last_error"]
    assert "config reload failed, keeping the running config" in cli.log_text()
    assert json.loads(cli("config", "show", "--json").stdout)["logging"]["level"] == "debug"
    failed = cli("config", "reload", code=1)
    assert "the running config is unchanged" in failed.stderr
    cli.xdg.config_file.write_text(CONFIG)

    # Garbage on the control socket gets an error reply; the daemon keeps serving.
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(cli.pid_file.parent / "ctl.sock"))
        sock.sendall(b"{not json\n")
        reply = json.loads(sock.makefile("rb").readline())
    assert reply["error"]["code"] == "parse_error"

    # Usage from the ledger the daemon runs, with each provider's quota.
    usage = json.loads(cli("usage", "--json", "--since", "1h").stdout)
    assert usage["totals"]["requests"] == 0
    assert usage["quota"] == {"steady": {"remaining": 42, "limit": 50, "unit": "requests"}}
    assert "total" in cli("usage").stdout
    assert json.loads(cli("usage", "--json", "--by", "day").stdout)["group"] == "day"
    assert "invalid time 'soon'" in cli("usage", "--since", "soon", code=1).stderr

    # Runtime disable/enable of a provider, models through the control socket.
    models = json.loads(cli("models", "--json").stdout)
    assert [m["id"] for m in models["models"]] == ["steady/test-model"]
    cli("provider", "disable", "steady")
    assert cli.status()["providers"]["steady"]["state"] == "disabled"
    cli("provider", "enable", "steady")
    assert cli.status()["providers"]["steady"]["state"] == "ready"
    cli("provider", "enable", "kiro")
    assert "enabled = true" in cli.xdg.config_file.read_text()
    cli("provider", "disable", "kiro")
    assert cli.status()["providers"]["kiro"]["state"] == "disabled"
    assert "kiro not listed, it is disabled" in cli("models", "--provider", "kiro").stdout
    cli("stop")


def test_sigterm_drain_lets_a_slow_request_finish_and_ends_a_stuck_one_at_the_deadline(
    cli: Cli,
) -> None:
    # The slow request's 0.5 s of work must end well inside the drain even when a loaded
    # machine starves the daemon for seconds: a 5 s drain leaves it a wide margin.
    cli.xdg.config_file.write_text(CONFIG.replace("drain_timeout = 10.0", "drain_timeout = 5.0"))
    cli("start", "--port", "0")
    info = cli.status()
    with (
        httpx.Client(timeout=30) as client,
        client.stream("GET", info["url"] + "/test/slow") as slow,
        client.stream("GET", info["url"] + "/test/stuck") as stuck,
    ):
        slow_lines, stuck_lines = slow.iter_lines(), stuck.iter_lines()
        assert next(slow_lines) == "started"
        assert next(stuck_lines) == "started"
        os.kill(info["pid"], signal.SIGTERM)
        assert list(slow_lines) == ["finished"]
        began = time.monotonic()
        assert list(stuck_lines) == ["drain expired"]
        assert time.monotonic() - began < 25  # ended by the drain, not by a client timeout
    wait_for_exit(info["pid"], "the daemon to exit")
    assert running_pid(cli.pid_file) is None
    log = cli.log_text()
    assert "SIGTERM: draining" in log
    assert "drain timeout (5s): ending" in log
    assert "aiclient stopped" in log
    with pytest.raises(httpx.ConnectError):
        httpx.get(info["url"] + "/healthz")


def test_start_failure_prints_the_reason_and_last_log_lines(cli: Cli) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        failed = cli("start", "--port", str(port), code=1)
    assert "the daemon exited with status 1 during start-up" in failed.stderr
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in failed.stderr
    assert running_pid(cli.pid_file) is None


def test_pid_lock_is_exclusive_and_replaces_stale_files(tmp_path: Path) -> None:
    from aiclient_trio.daemon.pidfile import AlreadyRunning, PidLock

    path = tmp_path / "run" / "aiclient.pid"
    path.parent.mkdir()
    path.write_text("999999\n")  # left by a daemon killed with -9: nobody holds the lock
    assert running_pid(path) is None
    first = PidLock(path)
    first.acquire()
    try:
        assert first.stale_pid == 999999
        assert running_pid(path) == os.getpid()
        with pytest.raises(AlreadyRunning, match=f"PID {os.getpid()}"):
            PidLock(path).acquire()
    finally:
        first.release()
    assert not path.exists()
    assert running_pid(path) is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("::", False),
        ("example.com", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    from aiclient_trio.config.load import is_loopback

    assert is_loopback(host) is loopback


async def test_reload_applies_hot_keys_and_restarts_changed_providers(xdg_home: XdgHome) -> None:
    """In-process: the reload logic itself, with a test provider standing in for copilot."""
    import trio
    from daemon_hooks import FlakyProvider, SteadyProvider
    from trio_util import AsyncValue

    from aiclient_trio.config import paths
    from aiclient_trio.config.file import set_value
    from aiclient_trio.config.load import ConfigError, load_config
    from aiclient_trio.daemon.main import Daemon, DaemonOptions, Extensions
    from aiclient_trio.gateway import Gateway

    path = xdg_home.config_file
    path.parent.mkdir(parents=True)
    path.write_text(CONFIG)
    options = DaemonOptions(
        cli_overrides={"server.port": 0},
        config_path=path,
        stderr_logging=False,
        extensions=Extensions(providers={"copilot": SteadyProvider}),
    )
    gateway = Gateway(config=AsyncValue(load_config(cli_overrides={"server.port": 0}, path=path)))
    daemon = Daemon(gateway, options, path)
    paths.ensure_private_dir(paths.runtime_dir())
    async with trio.open_nursery() as nursery:
        await nursery.start(daemon.run)
        assert "copilot" not in gateway.providers

        set_value(path, "providers.copilot.enabled", True)
        assert await daemon.reload() == {
            "changed": ["providers.copilot.enabled"],
            "needs_restart": [],
        }
        first = gateway.providers["copilot"]
        assert isinstance(first, FlakyProvider)
        await first.status.wait_value(lambda s: s.ready)

        set_value(path, "providers.copilot.small_model", "gpt-4.1")  # restarts the provider
        await daemon.reload()
        assert gateway.providers["copilot"] is not first
        assert first.closed

        for key, value in [
            ("api_key", "new-key-0123456789"),
            ("default_provider", "kiro"),
            ("output_format", "anthropic"),
            ("models.aliases.fast", ("copilot/gpt-4.1", "kiro/claude-haiku-4.5")),
        ]:
            set_value(path, key, value)
        result = await daemon.reload()
        assert result == {
            "changed": ["api_key", "default_provider", "models.aliases", "output_format"],
            "needs_restart": [],
        }
        config = gateway.config.value
        assert (config.api_key, config.default_provider, config.output_format) == (
            "new-key-0123456789",
            "kiro",
            "anthropic",
        )
        assert config.aliases["fast"] == ("copilot/gpt-4.1", "kiro/claude-haiku-4.5")

        set_value(path, "server.host", "127.0.0.2")
        assert (await daemon.reload())["needs_restart"] == ["server.host"]

        # A public bind without an API key is refused: `config set` writes nothing, and a file
        # edited by hand into that state is refused by the reload; the running config stays.
        set_value(path, "api_key", None)
        before = path.read_text()
        with pytest.raises(ConfigError, match="without an api_key"):
            set_value(path, "server.host", "0.0.0.0")
        assert path.read_text() == before
        path.write_text(before.replace('host = "127.0.0.2"', 'host = "0.0.0.0"'))
        assert 'host = "0.0.0.0"' in path.read_text()
        with pytest.raises(ConfigError, match="without an api_key"):
            await daemon.reload()
        assert gateway.config.value.api_key == "new-key-0123456789"
        path.write_text(before)

        set_value(path, "providers.copilot.enabled", False)
        set_value(path, "server.host", "127.0.0.1")
        await daemon.reload()
        assert "copilot" not in gateway.providers
        gateway.draining.set()
