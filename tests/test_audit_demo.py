"""Audit gap of the demo issue: `aiclient demo --host H` serves on H, and the banner's
setups point at H; Ctrl-C (SIGINT) stops it cleanly and removes its home."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
from e2e.demo_process import DemoProcess

from aiclient_trio.cli import client_env

HOST = "127.0.0.2"  # another loopback address: no API key needed, not the default


def test_demo_host_option_serves_there_and_the_setups_follow(tmp_path: Path) -> None:
    demo = DemoProcess.start(tmp_path, "--host", HOST)
    try:
        assert demo.url.startswith(f"http://{HOST}:"), demo.url
        assert httpx.get(demo.url + "/healthz").status_code == 200
        assert f"export ANTHROPIC_BASE_URL={demo.url}\n" in demo.banner
        assert f'base_url = "{demo.url}/v1"' in demo.banner
        # A loopback host gets no generated API key: the setups carry the placeholder.
        assert f"export ANTHROPIC_AUTH_TOKEN={client_env.NO_KEY}\n" in demo.banner
    finally:
        code = demo.stop(signal.SIGINT)
    assert code == 0, demo.logs()
    assert "Traceback" not in demo.logs()
    assert not demo.home.exists()
