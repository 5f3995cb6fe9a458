"""One real `aiclient demo` subprocess shared by the end-to-end tests of a session."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from e2e.demo_process import DemoProcess


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    """The running demo; stopped with Ctrl-C (SIGINT) at the end, which must be clean."""
    process = DemoProcess.start(tmp_path_factory.mktemp("demo"))
    yield process
    code = process.stop(signal.SIGINT)
    logs = process.logs()
    assert code == 0, logs
    assert "Traceback" not in logs and " ERROR " not in logs, logs
    assert not process.home.exists(), "the demo's temporary home outlived it"
