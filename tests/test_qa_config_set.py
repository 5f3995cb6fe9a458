"""QA regression for `aiclient config set` against a real daemon: a key the daemon's start
flag overrides is explained (not a bare "no change"), negative numbers are values, and a
refused value says the file was left unchanged."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from conftest import XdgHome
from test_daemon import CONFIG, Cli, wait_for

from aiclient_trio.daemon.pidfile import running_pid


@pytest.fixture
def cli(xdg_home: XdgHome) -> Iterator[Cli]:
    xdg_home.config_file.parent.mkdir(parents=True)
    xdg_home.config_file.write_text(CONFIG)
    runner = Cli(xdg_home)
    yield runner
    pid = running_pid(runner.pid_file)
    if pid is not None and pid > 0:
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: running_pid(runner.pid_file) is None, "the daemon to die")


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
