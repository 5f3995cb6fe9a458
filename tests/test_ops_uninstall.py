"""`aiclient uninstall`: shows what goes, asks, and leaves nothing under the XDG directories."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import XdgHome
from test_ops_service import FakeTools

from aiclient_trio.cli import service
from aiclient_trio.cli.main import main
from aiclient_trio.daemon.pidfile import running_pid

TESTS = Path(__file__).resolve().parent
CONFIG = """\
[server]
port = 0

[providers.copilot]
enabled = false

[providers.kiro]
enabled = false
"""


def run(*args: str, code: int = 0, stdin: str | None = None) -> click.testing.Result:
    result = CliRunner().invoke(main, list(args), input=stdin)
    assert result.exit_code == code, (args, result.output, result.stderr)
    return result


@pytest.fixture
def tools(xdg_home: XdgHome, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTools]:
    fake = FakeTools()
    monkeypatch.setattr(service, "TOOLS", fake)
    yield fake


def populate(xdg: XdgHome) -> dict[str, Path]:
    """Files as months of use leave them: config, both credentials, ledger, logs, runtime."""
    files = {
        "config": xdg.config_file,
        "copilot": xdg.config / "aiclient" / "copilot" / "github_token.json",
        "kiro": xdg.config / "aiclient" / "kiro" / "token.json",
        "ledger": xdg.state / "aiclient" / "usage.db",
        "log": xdg.state / "aiclient" / "aiclient.log",
        "old log": xdg.state / "aiclient" / "aiclient.log.1",
        "pid": xdg.runtime / "aiclient" / "aiclient.pid",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    files["config"].write_text(CONFIG)
    for name in ("copilot", "kiro", "ledger", "log", "old log", "pid"):
        files[name].write_text(f"{name} contents\n")
    return files


def leftovers(xdg: XdgHome) -> list[Path]:
    return sorted(p for root in (xdg.config, xdg.state, xdg.runtime) for p in root.rglob("*"))


def test_shows_everything_asks_then_leaves_nothing(tools: FakeTools, xdg_home: XdgHome) -> None:
    files = populate(xdg_home)
    run("service", "install")
    unit = xdg_home.config / "systemd" / "user" / "aiclient.service"
    assert unit.exists()

    refused = run("uninstall", code=1, stdin="n\n")
    out = refused.output
    assert f"remove the systemd service  {unit}" in out
    assert f"delete config file  {files['config']}" in out
    assert f"delete copilot credentials  {files['copilot'].parent}" in out
    assert f"delete kiro credentials  {files['kiro'].parent}" in out
    assert f"delete usage ledger and logs  {xdg_home.state / 'aiclient'}  (3 files" in out
    assert (
        f"delete runtime files (PID file, control socket)  {xdg_home.runtime / 'aiclient'}" in out
    )
    assert "Go ahead?" in out and "Aborted" in out + refused.stderr
    assert all(path.exists() for path in files.values()), "nothing goes before the answer"

    tools.calls.clear()
    done = run("uninstall", stdin="y\n").output
    assert ("systemctl", "--user", "disable", "--now", "aiclient.service") in tools.calls
    assert leftovers(xdg_home) == []
    assert "pip uninstall aiclient-trio" in done.splitlines()[-1]
    assert "nothing of aiclient's is on disk" in run("uninstall", "--yes").output


def test_keep_config_keeps_only_the_config_file(tools: FakeTools, xdg_home: XdgHome) -> None:
    files = populate(xdg_home)
    out = run("uninstall", "--yes", "--keep-config").output
    assert "(keeping the config file)" in out
    assert leftovers(xdg_home) == [xdg_home.config / "aiclient", files["config"]]
    assert files["config"].read_text() == CONFIG


def test_a_config_and_log_file_elsewhere_are_removed_too(
    tools: FakeTools, xdg_home: XdgHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = xdg_home.root / "elsewhere"
    elsewhere.mkdir()
    config, log = elsewhere / "aiclient.toml", elsewhere / "gw.log"
    config.write_text(f'[logging]\nfile = "{log}"\n')
    log.write_text("line\n")
    (elsewhere / "gw.log.1").write_text("older\n")
    monkeypatch.setenv("AICLIENT_CONFIG", str(config))
    out = run("uninstall", "--yes").output
    assert f"deleted {config}" in out and f"deleted {log}" in out
    assert list(elsewhere.iterdir()) == []


def test_stops_a_running_daemon_first(xdg_home: XdgHome) -> None:
    """A real daemon (subprocess, test provider); `aiclient uninstall --yes` as a user runs it."""
    xdg_home.config_file.parent.mkdir(parents=True)
    xdg_home.config_file.write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICLIENT_")}
    env.update(xdg_home.env)
    # No systemd user manager may be touched from a test: hide systemctl/launchctl.
    env["PATH"] = str(Path(sys.executable).parent)

    def aiclient(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, str(TESTS / "aiclient_entry.py"), "steady", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    pid_file = xdg_home.runtime / "aiclient" / "aiclient.pid"
    aiclient("start", "--port", "0")
    pid = running_pid(pid_file)
    assert pid is not None and pid > 0
    try:
        out = aiclient("uninstall", "--yes").stdout
        assert f"stop the running daemon (PID {pid})" in out
        assert f"aiclient stopped (PID {pid})" in out
        assert leftovers(xdg_home) == []
    finally:
        if running_pid(pid_file) is not None:
            os.kill(pid, 9)
            # The kernel drops the daemon's lock when it dies: taking it waits for exactly that.
            with pid_file.open("rb") as held:
                fcntl.flock(held, fcntl.LOCK_EX)
