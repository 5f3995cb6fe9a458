"""CLI commands that need no daemon: config files, help texts, clear errors without a daemon."""

from __future__ import annotations

import json
import os

import click
import pytest
from click.testing import CliRunner
from conftest import XdgHome
from test_daemon import CONFIG, Cli
from test_daemon import cli as cli  # the fixture: a config file, a CLI, no daemon left

from aiclient_trio.cli.main import main
from aiclient_trio.config.load import load_config
from aiclient_trio.daemon.pidfile import running_pid


def run(*args: str, code: int = 0, stdin: str | None = None) -> click.testing.Result:
    result = CliRunner().invoke(main, list(args), input=stdin)
    assert result.exit_code == code, (args, result.output, result.stderr)
    return result


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, (*prefix, name)))
    return found


@pytest.mark.usefixtures("xdg_home")
def test_every_command_has_help_with_examples() -> None:
    commands = all_commands(main)
    assert ("config", "set") in commands
    assert ("start",) in commands
    assert ("auth", "list") in commands
    for path in commands:
        text = run(*path, "--help").output
        assert "Usage:" in text
        if path[-1] not in {"copilot", "kiro"}:  # sign-in commands come from provider packages
            assert "Example" in text, path


def test_config_init_asks_before_overwriting(xdg_home: XdgHome) -> None:
    assert "wrote" in run("config", "init").output
    assert xdg_home.config_file.stat().st_mode & 0o777 == 0o600
    xdg_home.config_file.write_text("api_key = 'mine'\n")
    refused = run("config", "init", code=1, stdin="n\n")
    assert "Overwrite it?" in refused.output
    assert xdg_home.config_file.read_text() == "api_key = 'mine'\n"
    run("config", "init", stdin="y\n")
    assert "# aiclient configuration" in xdg_home.config_file.read_text()
    xdg_home.config_file.write_text("")
    run("config", "init", "--force")
    assert "[providers.kiro]" in xdg_home.config_file.read_text()


def test_config_set_and_show_without_daemon(
    xdg_home: XdgHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = run("config", "set", "api_key", "file-secret-key-0123456789").output
    assert "applies at the next start" in out
    run("config", "set", "models.aliases.fast", "copilot/gpt-4.1,kiro/claude-haiku-4.5")
    monkeypatch.setenv("AICLIENT_PORT", "9191")
    shown = json.loads(run("config", "show", "--json").output)
    assert shown["server"]["port"] == 9191
    assert shown["models"]["aliases"]["fast"] == ["copilot/gpt-4.1", "kiro/claude-haiku-4.5"]
    assert "file-secret-key" not in json.dumps(shown)
    text = run("config", "show").output
    assert "port = 9191" in text
    assert "file-secret-key" not in text
    bad = run("config", "set", "server.port", "high", code=1)
    assert "key 'server.port' has bad value 'high'" in bad.stderr
    bad = run("config", "set", "server.colour", "red", code=1)
    assert "unknown key 'server.colour'" in bad.stderr


def test_provider_disable_without_daemon_persists(xdg_home: XdgHome) -> None:
    out = run("provider", "disable", "kiro").output
    assert "the daemon is not running" in out
    assert load_config().kiro.enabled is False
    run("provider", "enable", "kiro")
    assert load_config().kiro.enabled is True
    assert "unknown provider 'openai'" in run("provider", "enable", "openai", code=1).stderr


@pytest.mark.usefixtures("xdg_home")
@pytest.mark.parametrize(
    "args", [("models",), ("usage",), ("config", "reload"), ("models", "--json")]
)
def test_daemon_commands_explain_how_to_start_it(args: tuple[str, ...]) -> None:
    assert "aiclient is not running. Start it with: aiclient start" in run(*args, code=1).stderr


@pytest.mark.usefixtures("xdg_home")
def test_status_without_daemon() -> None:
    assert "not running" in run("status", code=3).output
    assert json.loads(run("status", "--json", code=3).output) == {"running": False, "pid": None}


@pytest.mark.usefixtures("xdg_home")
def test_start_refuses_a_public_bind_without_api_key() -> None:
    result = run("start", "--host", "0.0.0.0", code=1)
    assert "refusing to listen on 0.0.0.0 without an api_key" in result.stderr


@pytest.mark.usefixtures("xdg_home")
def test_start_reports_a_bad_config_file(xdg_home: XdgHome) -> None:
    xdg_home.config_file.parent.mkdir(parents=True)
    xdg_home.config_file.write_text("[server]\ndrain_timeout = 'soon'\n")
    result = run("start", "--foreground", code=1)
    assert str(xdg_home.config_file) in result.stderr
    assert "server.drain_timeout" in result.stderr


def test_logs_reads_the_file_with_level_filter(xdg_home: XdgHome) -> None:
    assert "no log file" in run("logs", code=1).stderr
    log = xdg_home.state / "aiclient" / "aiclient.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        "2026-01-01T00:00:00.000Z INFO aiclient.daemon: one\n"
        "2026-01-01T00:00:01.000Z WARNING aiclient.daemon: two\n"
        "2026-01-01T00:00:02.000Z INFO aiclient.daemon: three\n"
    )
    assert run("logs", "--lines", "2").output.splitlines() == [
        "2026-01-01T00:00:01.000Z WARNING aiclient.daemon: two",
        "2026-01-01T00:00:02.000Z INFO aiclient.daemon: three",
    ]
    assert run("logs", "--level", "warning").output.strip().endswith("two")


@pytest.mark.usefixtures("xdg_home")
def test_auth_revoke_asks_first(xdg_home: XdgHome) -> None:
    token = xdg_home.config / "aiclient" / "kiro" / "token.json"
    token.parent.mkdir(parents=True)
    token.write_text('{"refreshToken": "r"}')  # with nothing stored there is nothing to ask
    result = run("auth", "revoke", "kiro", code=1, stdin="n\n")
    assert "Delete the stored kiro credentials?" in result.output
    assert "Aborted" in result.output + result.stderr


def test_logs_follow_prints_new_lines_across_rotation(xdg_home: XdgHome) -> None:
    import subprocess
    import sys
    import threading

    log = xdg_home.state / "aiclient" / "aiclient.log"
    log.parent.mkdir(parents=True)
    log.write_text("2026-01-01T00:00:00.000Z INFO aiclient.daemon: old line\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiclient_trio", "logs", "--follow", "--level", "warning"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **xdg_home.env},
    )
    watchdog = threading.Timer(20, proc.kill)  # a missed line fails the test, never hangs it
    watchdog.start()
    try:
        assert proc.stdout is not None
        with log.open("a") as handle:
            handle.write("2026-01-01T00:00:01.000Z INFO aiclient.daemon: quiet\n")
            handle.write("2026-01-01T00:00:02.000Z WARNING aiclient.daemon: loud one\n")
        assert proc.stdout.readline().endswith("loud one\n")
        log.rename(log.with_suffix(".log.1"))  # what RotatingFileHandler does
        log.write_text("2026-01-01T00:00:03.000Z ERROR aiclient.daemon: after rotation\n")
        assert proc.stdout.readline().endswith("after rotation\n")
    finally:
        watchdog.cancel()
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


# A broken config file must not lock the user out of the commands that help
# them recover: `aiclient stop` and `aiclient logs` still work (with a warning).


def test_stop_and_logs_survive_a_broken_config_file(cli: Cli) -> None:
    cli("start", "--port", "0")
    cli.xdg.config_file.write_text('output_format = "xml"\n' + CONFIG)

    shown = cli("logs", "--lines", "5")
    assert "listening on http://127.0.0.1:" in shown.stdout
    refused = cli("config", "reload", code=1)
    assert "'output_format' has bad value 'xml'" in refused.stderr

    stopped = cli("stop")
    assert "aiclient stopped" in stopped.stdout
    assert "'output_format' has bad value 'xml'" in stopped.stderr
    assert "using the default stop timeout" in stopped.stderr
    assert running_pid(cli.pid_file) is None

    after = cli("logs", "--lines", "3")
    assert "aiclient stopped" in after.stdout
    assert "using the default log file location" in after.stderr
