"""`aiclient version [--check]`: version ordering, PyPI answers, quiet failure offline."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from aiclient_trio import __version__
from aiclient_trio.cli import version_check
from aiclient_trio.cli.main import main

PYPI = (Path(__file__).parent / "data" / "ops" / "pypi_newer.json").read_bytes()


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("0.1.0", "0.1.1"),
        ("0.9", "0.10"),
        ("1.0rc1", "1.0"),
        ("1.0a2", "1.0b1"),
        ("1.0.dev3", "1.0a1"),
        ("1.0", "1.0.post1"),
        ("1.9.9", "2"),
    ],
)
def test_compare_orders_releases(older: str, newer: str) -> None:
    assert version_check.compare(older, newer) == -1
    assert version_check.compare(newer, older) == 1
    assert version_check.compare(newer, newer) == 0
    assert version_check.compare("1.0.0", "1") == 0


def mock(status: int, body: bytes) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url == version_check.PYPI_URL
        return httpx.Response(status, content=body)

    return httpx.MockTransport(handler)


def test_latest_release_reads_info_version() -> None:
    assert version_check.latest_release(transport=mock(200, PYPI)) == "9.2.0"


@pytest.mark.parametrize(
    ("status", "body"),
    [(404, b'{"message": "Not Found"}'), (200, b"<html>"), (200, b'{"info": {"version": 3}}')],
)
def test_latest_release_is_none_on_bad_answers(status: int, body: bytes) -> None:
    assert version_check.latest_release(transport=mock(status, body)) is None


def test_messages_name_the_upgrade_command() -> None:
    newer = version_check.ReleaseCheck("0.1.0", "9.2.0")
    assert newer.newer_available
    assert "a newer release is available: 9.2.0 (you have 0.1.0)" in newer.message()
    assert "pip install --upgrade aiclient-trio" in newer.message()
    assert version_check.ReleaseCheck("0.1.0", "0.1.0").message() == "0.1.0 is the latest release"
    assert "offline" in version_check.ReleaseCheck("0.1.0", None).message()
    assert version_check.upgrade_command("/home/u/.local/pipx/venvs/aiclient-trio") == (
        "pipx upgrade aiclient-trio"
    )
    assert version_check.upgrade_command("/home/u/.local/share/uv/tools/aiclient-trio") == (
        "uv tool upgrade aiclient-trio"
    )


@pytest.mark.parametrize(
    ("prefix", "command"),
    [
        ("/home/u/.local/pipx/venvs/aiclient-trio", "pipx uninstall aiclient-trio"),  # pipx < 1.3
        ("/home/u/.local/share/pipx/venvs/aiclient-trio", "pipx uninstall aiclient-trio"),
        ("/home/u/.local/share/uv/tools/aiclient-trio", "uv tool uninstall aiclient-trio"),
    ],
)
def test_uninstall_hint_names_the_installer(
    monkeypatch: pytest.MonkeyPatch, prefix: str, command: str
) -> None:
    """The README's `pipx install .` is undone by the command `aiclient uninstall` prints."""
    from aiclient_trio.cli import uninstall

    monkeypatch.setattr(version_check.sys, "prefix", prefix)
    assert uninstall.uninstall_command_hint() == command


@pytest.fixture
def fake_pypi() -> Iterator[str]:
    """A JSON API on 127.0.0.1 answering like PyPI's (a stdlib server in a thread)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(PYPI)))
            self.end_headers()
            self.wfile.write(PYPI)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pypi/aiclient-trio/json"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_version_check_command_against_a_local_index(
    fake_pypi: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(version_check.URL_ENV, fake_pypi)
    plain = CliRunner().invoke(main, ["version"])
    assert plain.exit_code == 0
    assert plain.output.startswith(f"aiclient {__version__} (Python ")
    result = CliRunner().invoke(main, ["version", "--check"])
    assert result.exit_code == 0, result.output
    assert f"a newer release is available: 9.2.0 (you have {__version__})" in result.output
    assert "aiclient restart" in result.output


def test_version_check_fails_quietly_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(version_check.URL_ENV, f"http://127.0.0.1:{port}/pypi/x/json")
    result = CliRunner().invoke(main, ["version", "--check"])
    assert result.exit_code == 0
    assert "could not check PyPI for a newer release (offline?)" in result.output
    assert "Traceback" not in result.output + json.dumps(result.stderr)
