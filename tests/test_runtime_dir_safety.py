"""Issue 14 item 5: a runtime directory, PID file or control socket that another local user
planted (the /tmp fallback when XDG_RUNTIME_DIR is unset) is never used: `status`, `env` and
`start` refuse with the reason, and `stop` signals no process it has not verified as our
own daemon.

The planted files belong to this test's real uid; the CLI under test runs in-process as
another uid (os.getuid patched), so the test needs no second account and no root."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import XdgHome

from aiclient_trio.cli.main import main
from aiclient_trio.config import paths
from aiclient_trio.daemon.pidfile import is_our_daemon, running_pid

EVIL_URL = "http://127.0.0.1:6666"


@pytest.fixture
def victim_process() -> Iterator[subprocess.Popen[bytes]]:
    """A process of ours an attacker would like `aiclient stop` to kill."""
    # It blocks reading its stdin until the test ends (no timer to outlive or to race).
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.kill()
        proc.wait()


@pytest.fixture
def planted(
    xdg_home: XdgHome, victim_process: subprocess.Popen[bytes]
) -> Iterator[tuple[Path, socket.socket]]:
    """The runtime dir created by "another user": a PID file naming our victim process,
    locked, and a control socket that answers `status` with the attacker's URL."""
    import fcntl

    runtime = paths.runtime_dir()
    runtime.mkdir(mode=0o755)
    pid_path = runtime / "aiclient.pid"
    pid_path.write_text(f"{victim_process.pid}\n")
    holder = os.open(pid_path, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(runtime / "ctl.sock"))
    server.listen(8)
    try:
        yield runtime, server
    finally:
        server.close()
        os.close(holder)


@pytest.fixture
def as_other_user(monkeypatch: pytest.MonkeyPatch) -> int:
    me = os.getuid() + 1
    monkeypatch.setattr(os, "getuid", lambda: me)
    return me


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_status_env_stop_and_start_refuse_a_planted_runtime_dir(
    planted: tuple[Path, socket.socket],
    victim_process: subprocess.Popen[bytes],
    as_other_user: int,
) -> None:
    runtime, _server = planted
    for args in (["status"], ["status", "--json"], ["env", "claude-code"], ["stop"]):
        result = _cli(*args)
        assert result.exit_code != 0, (args, result.output)
        assert "not to you" in result.output, (args, result.output)
        assert str(runtime) in result.output
        assert EVIL_URL not in result.output
    assert victim_process.poll() is None  # nothing was signalled
    with pytest.raises(paths.UnsafePath):
        paths.ensure_runtime_dir()


def test_a_symbolic_link_in_place_of_the_runtime_dir_is_refused(xdg_home: XdgHome) -> None:
    elsewhere = xdg_home.root / "elsewhere"
    elsewhere.mkdir()
    paths.runtime_dir().symlink_to(elsewhere)
    with pytest.raises(paths.UnsafePath, match="symbolic link"):
        paths.ensure_runtime_dir()
    with pytest.raises(paths.UnsafePath, match="symbolic link"):
        running_pid(paths.pid_file())
    result = _cli("status")
    assert result.exit_code == 1 and "symbolic link" in result.output


def test_a_planted_pid_file_or_socket_in_our_own_dir_is_refused(
    xdg_home: XdgHome, victim_process: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = paths.ensure_runtime_dir()
    (runtime / "aiclient.pid").symlink_to(xdg_home.root / "theirs.pid")
    (xdg_home.root / "theirs.pid").write_text(f"{victim_process.pid}\n")
    with pytest.raises(paths.UnsafePath, match="symbolic link"):
        running_pid(paths.pid_file())
    result = _cli("stop")
    assert result.exit_code == 1 and "symbolic link" in result.output
    assert victim_process.poll() is None


def test_stop_signals_only_a_process_that_is_our_daemon(
    xdg_home: XdgHome, victim_process: subprocess.Popen[bytes]
) -> None:
    """Our own dir, our own locked PID file, but the PID is not an aiclient daemon (a PID
    reused after a crash, or written by mistake): nothing is signalled."""
    import fcntl

    runtime = paths.ensure_runtime_dir()
    pid_path = runtime / "aiclient.pid"
    pid_path.write_text(f"{victim_process.pid}\n")
    holder = os.open(pid_path, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        assert running_pid(pid_path) == victim_process.pid
        assert not is_our_daemon(victim_process.pid)
        result = _cli("stop")
    finally:
        os.close(holder)
    assert result.exit_code == 1
    assert "not an aiclient daemon of yours" in result.output
    assert victim_process.poll() is None
