"""QA regression: a broken config file must not lock the user out of the commands that help
them recover: `aiclient stop` and `aiclient logs` still work (with a warning)."""

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
