"""The dashboard's HTTP surface on a key-protected demo in this process: the key cookie, CSRF,
same-origin checks, Host allow-list, CSP, the live event stream, and that nothing secret or
any message content is ever rendered."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import trio
from click.testing import CliRunner
from conftest import XdgHome

from aiclient_trio.cli.demo import DEMO_GITHUB_TOKEN, DemoOptions, DemoRun, run_demo
from aiclient_trio.cli.main import main
from aiclient_trio.dashboard.live import LiveFeed
from aiclient_trio.dashboard.security import COOKIE_NAME

API_KEY = "dash-test-key-5b1c9e"


BANNERS: list[str] = []


@pytest.fixture
async def demo(xdg_home: XdgHome, restore_logging: None) -> AsyncIterator[DemoRun]:
    BANNERS.clear()
    options = DemoOptions(port=0, api_key=API_KEY, stderr_logging=False, echo=BANNERS.append)
    async with trio.open_nursery() as nursery:
        run: DemoRun = await nursery.start(run_demo, options)
        try:
            yield run
        finally:
            run.stop()


async def _signed_in(client: httpx.AsyncClient, origin: str) -> str:
    """Log in with the key; returns the CSRF token the page carries."""
    response = await client.post("/ui/login", json={"key": API_KEY}, headers={"origin": origin})
    assert response.status_code == 200, response.text
    page = await client.get("/ui")
    assert page.status_code == 200
    marker = 'name="csrf-token" content="'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index('"', start)]


async def test_a_key_protected_dashboard_asks_once_and_keeps_a_cookie(demo: DemoRun) -> None:
    async with httpx.AsyncClient(base_url=demo.url) as client:
        first = await client.get("/ui")
        assert first.status_code == 302 and first.headers["location"] == "/ui/login"
        assert (await client.get("/ui/api/overview")).status_code == 401
        login_page = await client.get("/ui/login")
        assert login_page.status_code == 200 and 'type="password"' in login_page.text

        wrong = await client.post("/ui/login", json={"key": "nope"}, headers={"origin": demo.url})
        assert wrong.status_code == 401 and COOKIE_NAME not in wrong.cookies
        no_origin = await client.post("/ui/login", json={"key": API_KEY})
        assert no_origin.status_code == 403

        ok = await client.post("/ui/login", json={"key": API_KEY}, headers={"origin": demo.url})
        assert ok.status_code == 200
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
        assert API_KEY not in cookie  # the cookie is an HMAC, not the key
        overview = await client.get("/ui/api/overview")
        assert overview.status_code == 200
        assert {p["name"] for p in overview.json()["providers"]} == {"copilot", "kiro"}
        page = await client.get("/ui")
        assert page.status_code == 200 and API_KEY not in page.text
        # The API itself still wants the key: the cookie opens the dashboard only.
        api = await client.get("/v1/usage")
        assert api.status_code == 401


async def test_every_change_needs_post_json_csrf_and_the_own_origin(demo: DemoRun) -> None:
    async with httpx.AsyncClient(base_url=demo.url) as client:
        csrf = await _signed_in(client, demo.url)
        body = {"key": "logging.level", "value": "warning"}
        own = {"origin": demo.url}

        refusals = [
            (await client.post("/ui/api/settings", json=body, headers=own), 403),  # no token
            (
                await client.post(
                    "/ui/api/settings",
                    json=body,
                    headers={"origin": "http://evil.example", "x-csrf-token": csrf},
                ),
                403,
            ),
            (
                await client.post(
                    "/ui/api/settings",
                    json=body,
                    headers={**own, "x-csrf-token": csrf, "sec-fetch-site": "cross-site"},
                ),
                403,
            ),
            (
                await client.post(
                    "/ui/api/settings",
                    content=json.dumps(body),
                    headers={**own, "x-csrf-token": csrf, "content-type": "text/plain"},
                ),
                400,
            ),
            (
                await client.post(
                    "/ui/api/settings", json=body, headers={"x-csrf-token": csrf}
                ),  # no Origin at all
                403,
            ),
            (await client.get("/ui/api/settings", headers={"host": "evil.example"}), 403),
        ]
        for response, status in refusals:
            assert response.status_code == status, response.text
            assert "access-control-allow-origin" not in response.headers
        assert demo_level(demo) == "info"

        applied = await client.post(
            "/ui/api/settings", json=body, headers={**own, "x-csrf-token": csrf}
        )
        assert applied.status_code == 200, applied.text
        assert applied.json()["changed"] == ["logging.level"]
        assert demo_level(demo) == "warning"

        # The same validation as `aiclient config set`: a bad value names what is allowed.
        bad = await client.post(
            "/ui/api/settings",
            json={"key": "server.stream_coalesce_ms", "value": "500"},
            headers={**own, "x-csrf-token": csrf},
        )
        assert bad.status_code == 400 and "allowed" in bad.json()["error"]["message"]
        # Restart-only keys and the API key are not the dashboard's to change.
        for key in ("server.port", "api_key"):
            refused = await client.post(
                "/ui/api/settings",
                json={"key": key, "value": "1"},
                headers={**own, "x-csrf-token": csrf},
            )
            assert refused.status_code == 400 and "aiclient config set" in refused.text
        # A GET never changes anything.
        assert (await client.get("/ui/api/providers/kiro/disable")).status_code == 405


def demo_level(demo: DemoRun) -> str:
    text = (demo.home / "config" / "aiclient" / "config.toml").read_text()
    for line in text.splitlines():
        if line.startswith("level"):
            return line.split("=", 1)[1].strip().strip('"')
    return "info"


async def test_pages_carry_a_strict_csp_and_render_no_secret(demo: DemoRun) -> None:
    async with httpx.AsyncClient(base_url=demo.url) as client:
        await _signed_in(client, demo.url)
        page = await client.get("/ui")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert "<script>" not in page.text and "style=" not in page.text
        for path in ("/ui/api/overview", "/ui/api/settings", "/ui/api/quota", "/ui/api/logs"):
            response = await client.get(path)
            assert response.status_code == 200, (path, response.text)
            for secret in (API_KEY, DEMO_GITHUB_TOKEN, "tid=", "aoa", "refreshToken"):
                assert secret not in response.text, (path, secret)
        assert (
            (await client.get("/ui/assets/dashboard.js"))
            .headers["content-type"]
            .startswith("text/javascript")
        )
        assert (await client.get("/ui/assets/..%2Fservice.py")).status_code == 404


async def test_the_event_stream_reports_requests_without_content_and_ends_on_drain(
    demo: DemoRun,
) -> None:
    secret_words = "purple-elephant-7731"
    async with httpx.AsyncClient(base_url=demo.url, timeout=30) as client:
        await _signed_in(client, demo.url)
        events: list[tuple[str, dict[str, object]]] = []
        async with client.stream("GET", "/ui/api/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            answer = await client.post(
                "/v1/messages",
                headers={"x-api-key": API_KEY, "x-request-id": "dash-sse-1"},
                json={
                    "model": "kiro/claude-haiku-4.5",
                    "max_tokens": 50,
                    "messages": [{"role": "user", "content": secret_words}],
                },
            )
            assert answer.status_code == 200, answer.text
            kind = ""
            async for line in lines:
                assert secret_words not in line and "Hello from" not in line
                if line.startswith("event: "):
                    kind = line[len("event: ") :]
                elif line.startswith("data: "):
                    data = json.loads(line[len("data: ") :])
                    if data.get("id") == "dash-sse-1":
                        events.append((kind, data))
                    if kind == "end" and data.get("id") == "dash-sse-1":
                        break
            assert [k for k, _ in events] == ["start", "end"]
            end = events[-1][1]
            assert end["model"] == "kiro/claude-haiku-4.5" and end["provider"] == "kiro"
            assert end["format"] == "anthropic" and end["status"] == 200
            row = await client.get("/ui/api/requests/dash-sse-1")
            assert row.status_code == 200 and row.json()["client_model"] == end["model"]
            # Draining the daemon ends the open event stream (it must not hold the shutdown).
            demo.stop()
            with trio.fail_after(20):
                async for _line in lines:
                    pass


async def test_the_demo_banner_and_aiclient_dashboard_give_the_url(demo: DemoRun) -> None:
    assert f"Dashboard: {demo.url}/ui" in BANNERS[0]
    result = await trio.to_thread.run_sync(
        lambda: CliRunner().invoke(main, ["dashboard", "--json"])
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"url": demo.url + "/ui"}
    printed = await trio.to_thread.run_sync(
        lambda: CliRunner().invoke(main, ["dashboard", "--no-browser"])
    )
    assert printed.stdout.strip() == f"Dashboard: {demo.url}/ui"


def test_the_live_feed_keeps_a_bounded_ring() -> None:
    feed = LiveFeed(size=3)
    for n in range(5):
        feed.publish("start", {"n": n})
    assert [e.data["n"] for e in feed.since(0)] == [2, 3, 4]
    assert [e.seq for e in feed.since(4)] == [5]
    assert feed.since(5) == []
