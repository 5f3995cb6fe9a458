"""A key the daemon's start
flag overrides is explained (not a bare "no change"), negative numbers are values, and a
refused value says the file was left unchanged."""

from __future__ import annotations

import os
import signal

from conftest import XdgHome
from test_daemon import Cli
from test_daemon import cli as cli  # the fixture: a config file, a CLI, no daemon left

from aiclient_trio.daemon.pidfile import running_pid


def test_config_set_explains_start_flags_and_takes_negative_values(cli: Cli) -> None:
    path = cli.xdg.config_file
    refused = cli("config", "set", "upstream.retries", "-1", code=1)
    assert "'upstream.retries' has bad value -1" in refused.stderr
    assert f"{path} left unchanged" in refused.stderr
    assert "No such option" not in refused.stderr

    assert "not running" in cli("config", "set", "server.port", "1234").stdout
    cli("start", "--port", "0")
    out = cli("config", "set", "server.port", "4321").stdout
    assert "started with --port 0, which overrides the file" in out
    assert "aiclient restart --port 4321" in out
    # Keys without a start flag say nothing of the kind.
    out = cli("config", "set", "upstream.retries", "3").stdout
    assert "running daemon updated: upstream.retries" in out
    assert "overrides" not in out
    assert "port = 4321" in path.read_text()
    cli("stop")


def test_a_refused_config_set_changes_nothing(cli: Cli) -> None:
    path = cli.xdg.config_file
    before = path.read_bytes()
    # Listening beyond loopback needs an api_key: `start` would refuse it, so `set` does.
    refused = cli("config", "set", "server.host", "0.0.0.0", code=1)
    assert "refusing to listen on 0.0.0.0 without an api_key" in refused.stderr
    assert "aiclient config set api_key" in refused.stderr
    assert f"{path} left unchanged" in refused.stderr
    assert path.read_bytes() == before
    # Unsetting the key that makes a wide host safe is refused the same way.
    cli("config", "set", "api_key", "a-long-local-secret")
    cli("config", "set", "server.host", "0.0.0.0")
    kept = path.read_bytes()
    assert "without an api_key" in cli("config", "set", "api_key", "", code=1).stderr
    assert path.read_bytes() == kept
    cli("config", "set", "server.host", "127.0.0.1")
    cli("config", "set", "api_key", "")
    assert "api_key" not in path.read_text()


def test_a_config_set_the_running_daemon_refuses_is_undone(cli: Cli) -> None:
    path = cli.xdg.config_file
    cli("start", "--port", "0")
    before = path.read_bytes()
    # The command's own environment has a key, the daemon's has not: the file would be fine
    # for the command, but the running daemon refuses to reload it. The file goes back.
    cli.env["AICLIENT_API_KEY"] = "a-long-local-secret"
    refused = cli("config", "set", "server.host", "0.0.0.0", code=1)
    assert "without an api_key" in refused.stderr
    assert f"{path} left unchanged" in refused.stderr
    assert path.read_bytes() == before
    del cli.env["AICLIENT_API_KEY"]
    assert cli.status()["running"] is True
    cli("stop")


def test_status_reports_a_running_daemon_whatever_the_config_file_says(cli: Cli) -> None:
    cli("start", "--port", "0")
    url = cli.status()["url"]
    for broken in ("server = [\n", '[server]\nhost = "0.0.0.0"\n', 'output_format = "xml"\n'):
        cli.xdg.config_file.write_text(broken)
        shown = cli("status")
        assert f"URL        {url}" in shown.stdout, broken
        info = cli.status()
        assert info["running"] is True and info["url"] == url
    cli("stop")


def test_start_and_env_name_the_sign_in_when_no_provider_is_signed_in(xdg_home: XdgHome) -> None:
    # The real providers, enabled, with no credentials in this fresh home (nothing leaves
    # 127.0.0.1: a signed-out provider calls no one).
    cli = Cli(xdg_home, profile="plain")
    try:
        started = cli("start", "--port", "0").stdout
        fixes = "sign in with: aiclient auth copilot or aiclient auth kiro"
        assert f"Note: no provider is signed in, so requests will fail; {fixes}" in started
        shown = cli("env", "claude-code")
        assert f"# no provider is signed in, so requests will fail; {fixes}" in shown.stderr
        assert "signed in" not in shown.stdout  # the eval-able lines stay clean
        cli("stop")
    finally:  # a failure above leaves no daemon behind
        pid = running_pid(cli.pid_file)
        if pid is not None and pid > 0:
            os.kill(pid, signal.SIGKILL)


def test_the_signed_out_note_waits_for_a_provider_that_may_still_answer() -> None:
    from aiclient_trio.cli.lifecycle import signed_out_note

    out = {"state": "unauthenticated", "fix": "aiclient auth kiro"}
    assert signed_out_note({"providers": {"kiro": out}}) is not None
    for state in ("ready", "refreshing", "starting"):
        assert signed_out_note({"providers": {"kiro": out, "copilot": {"state": state}}}) is None
    disabled = {"state": "disabled", "fix": "aiclient provider enable copilot"}
    assert signed_out_note({"providers": {"copilot": disabled}}) is None
    assert signed_out_note({"providers": {}}) is None
