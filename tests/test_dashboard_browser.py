"""The dashboard driven in a real headless Chromium (Debian's, at /usr/bin/chromium) against a
real `aiclient demo` process: providers, a device-flow sign-in, the live table fed by an SDK
request, the usage chart, a settings change, and a cross-origin page that tries to meddle."""

from __future__ import annotations

import http.server
import json
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from e2e.demo_process import DemoProcess
from playwright.sync_api import Browser, Page, expect, sync_playwright

from aiclient_trio.cli.demo import DEMO_GITHUB_TOKEN
from aiclient_trio.config.types import CopilotConfig
from aiclient_trio.daemon.control import ControlClient

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous: a loaded CI machine is slow; these are upper bounds, never waits.
TIMEOUT_MS = 30_000
# The demo's device flow authorises at its second poll, five seconds apart.
SIGN_IN_TIMEOUT_MS = 60_000
expect.set_options(timeout=TIMEOUT_MS)


def launch_chromium(playwright: Any) -> Browser:
    assert os.path.exists(CHROMIUM), "install Debian's chromium: apt-get install chromium"
    browser: Browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    return browser


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    process = DemoProcess.start(tmp_path_factory.mktemp("dashboard"))
    try:
        yield process
    finally:
        code = process.stop(signal.SIGINT)
    assert code == 0, process.logs()
    assert "Traceback" not in process.logs(), process.logs()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser, demo: DemoProcess) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert errors == [], errors  # no script error on the page (CSP refusals included)


def running_config(demo: DemoProcess) -> dict[str, Any]:
    """The daemon's running config, read over its control socket like `aiclient config show`."""
    client = ControlClient(demo.home / "run" / "aiclient" / "ctl.sock")
    config: dict[str, Any] = client.call("config.show")["config"]
    return config


def card(page: Page, name: str) -> Any:
    return page.locator(f'.provider[data-name="{name}"]')


def test_providers_show_their_state_account_endpoint_and_expiry(
    page: Page, demo: DemoProcess
) -> None:
    page.goto(demo.url + "/ui")
    copilot, kiro = card(page, "copilot"), card(page, "kiro")
    expect(copilot.locator(".state")).to_have_text("ready")
    expect(kiro.locator(".state")).to_have_text("ready")
    expect(copilot).to_contain_text("demo-user")
    expect(copilot).to_contain_text(CopilotConfig().api_version)  # the API version in use
    expect(copilot).to_contain_text("Token expires")
    expect(kiro).to_contain_text("Github (SIMULATED)")
    expect(copilot.locator("button.toggle")).to_have_text("Disable")
    expect(page.locator("#quotas .quota[data-name=copilot]")).to_contain_text("resets")
    assert DEMO_GITHUB_TOKEN not in page.content()


def test_a_device_flow_sign_in_completes_from_the_page(page: Page, demo: DemoProcess) -> None:
    page.goto(demo.url + "/ui")
    copilot = card(page, "copilot")
    expect(copilot.locator(".state")).to_have_text("ready")
    copilot.locator("button.sign-out").click()
    expect(copilot.locator(".state")).to_have_text("signed out")
    expect(copilot).to_contain_text("not signed in")

    copilot.locator("button.sign-in-device").click()
    expect(page.locator("#signin-code-copilot")).to_have_text("ABCD-1234")
    expect(copilot.locator("a.verify-link")).to_have_attribute(
        "href", "https://github.com/login/device"
    )
    expect(copilot.locator('.sign-in[data-state="done"]')).to_contain_text(
        "signed in as demo-user", timeout=SIGN_IN_TIMEOUT_MS
    )
    expect(copilot.locator(".state")).to_have_text("ready")
    expect(copilot).to_contain_text("demo-user")
    assert DEMO_GITHUB_TOKEN not in page.content()


def test_the_live_table_shows_an_sdk_request_made_while_the_page_is_open(
    page: Page, demo: DemoProcess
) -> None:
    page.goto(demo.url + "/ui")
    expect(page.locator("#feed-state")).to_have_attribute("data-state", "live")
    request_id = f"dash-live-{uuid.uuid4().hex[:12]}"
    client = openai.OpenAI(base_url=demo.url + "/v1", api_key="unused", max_retries=0)
    with client.chat.completions.create(
        model="copilot/gpt-4.1",
        messages=[{"role": "user", "content": "a secret-ish line 4471"}],
        stream=True,
        extra_headers={"x-request-id": request_id},
    ) as stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert "4471" in text
    row = page.locator(f'#live-table tr[data-id="{request_id}"]')
    expect(row).to_have_attribute("data-status", "200")
    expect(row).to_contain_text("copilot/gpt-4.1")
    expect(row).to_contain_text("openai_chat")
    expect(row.locator("td").nth(4)).to_have_text("yes")
    assert "4471" not in page.locator("#live-panel").inner_text()
    row.click()
    detail = page.locator("#request-detail")
    expect(detail).to_contain_text(f"Ledger row of {request_id}")
    expect(detail).to_contain_text("chat/completions")


def test_the_usage_chart_renders_the_demos_traffic(page: Page, demo: DemoProcess) -> None:
    claude = anthropic.Anthropic(base_url=demo.url, api_key="unused", max_retries=0)
    reply = claude.messages.create(
        model="kiro/claude-sonnet-4.5",
        max_tokens=64,
        messages=[{"role": "user", "content": "chart me"}],
    )
    assert reply.content
    gpt = openai.OpenAI(base_url=demo.url + "/v1", api_key="unused", max_retries=0)
    gpt.chat.completions.create(
        model="copilot/claude-sonnet-4.5", messages=[{"role": "user", "content": "and me"}]
    )
    page.goto(demo.url + "/ui")
    chart, by_model = page.locator("#usage-chart"), page.locator("#model-chart")
    expect(chart.locator("rect.bar").first).to_be_visible()
    expect(by_model).to_contain_text("kiro/claude-sonnet-4.5")
    expect(by_model).to_contain_text("copilot/claude-sonnet-4.5")
    page.locator('#metric button[data-value="tokens"]').click()
    expect(by_model).to_contain_text("Tokens by model")
    page.locator('#range button[data-value="7d"]').click()
    expect(chart.locator("rect.bar").first).to_be_visible()
    expect(page.locator("#usage-legend")).to_contain_text("kiro/claude-sonnet-4.5")


def test_a_settings_change_is_applied_and_a_bad_value_is_refused(
    page: Page, demo: DemoProcess
) -> None:
    assert running_config(demo)["logging"]["level"] == "info"
    page.goto(demo.url + "/ui")
    level = page.locator('.setting[data-key="logging.level"]')
    level.locator("select").select_option("debug")
    level.locator("button.save").click()
    result = page.locator("#settings-result")
    expect(result).to_have_text("logging.level = debug applied")
    assert running_config(demo)["logging"]["level"] == "debug"

    coalesce = page.locator('.setting[data-key="server.stream_coalesce_ms"]')
    coalesce.locator("input").fill("500")
    coalesce.locator("button.save").click()
    expect(result).to_contain_text("allowed")
    assert running_config(demo)["server"]["stream_coalesce_ms"] != 500

    level.locator("select").select_option("info")
    level.locator("button.save").click()
    expect(result).to_have_text("logging.level = info applied")


_ATTACK_JS = """
const target = new URL(location.href).searchParams.get("target");
async function attempt(name, run) {
  try { const r = await run(); return `${name}:${r}`; } catch (e) { return `${name}:blocked`; }
}
(async () => {
  const results = await Promise.all([
    attempt("no-cors", () => fetch(target + "/ui/api/providers/kiro/disable", {
      method: "POST", mode: "no-cors", credentials: "include",
      headers: {"Content-Type": "text/plain"}, body: "{}"}).then((r) => r.type)),
    attempt("cors-json", () => fetch(target + "/ui/api/settings", {
      method: "POST", credentials: "include", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({key: "logging.level", value: "error"})}).then((r) => r.status)),
    attempt("read", () => fetch(target + "/ui/api/overview", {credentials: "include"})
      .then((r) => r.status)),
  ]);
  // A plain form post (no script needed for this one): wait until its answer loaded.
  const sink = document.getElementById("sink");
  const answered = new Promise((resolve) => sink.addEventListener("load", resolve, {once: true}));
  const form = document.getElementById("attack");
  form.action = target + "/ui/api/providers/copilot/sign-out";
  form.submit();
  await answered;
  document.title = "done " + results.join(" ");
})();
"""
_ATTACK_HTML = """<!doctype html><html><head><title>waiting</title>
<script src="/attack.js" defer></script></head><body>
<iframe name="sink" id="sink"></iframe>
<form id="attack" method="post" target="sink" enctype="text/plain">
<input name='{"key":"logging.level","value":"error","x":"' value='"}'></form>
</body></html>"""


@pytest.fixture
def attacker() -> Iterator[str]:
    """Another origin's page (its own server on another port) that attacks the dashboard."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/attack.js"):
                body, ctype = _ATTACK_JS.encode(), "text/javascript"
            else:
                body, ctype = _ATTACK_HTML.encode(), "text/html"
            self.send_response(200)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # "localhost" makes it another site as well as another origin.
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_cross_origin_page_cannot_change_anything(
    page: Page, demo: DemoProcess, attacker: str
) -> None:
    before = running_config(demo)
    log_size = Path(demo.log_path).stat().st_size
    page.goto(f"{attacker}/?target={demo.url}")
    # The title is set once every attempt got its answer (or was blocked by the browser).
    # no-cors: the request goes out, but the answer's Cross-Origin-Resource-Policy makes the
    # browser fail the fetch; the others are stopped by the missing CORS headers.
    expect(page).to_have_title("done no-cors:blocked cors-json:blocked read:blocked")
    # The no-cors fetch and the form post did reach the daemon, which refused them.
    logged = Path(demo.log_path).read_bytes()[log_size:].decode(errors="replace")
    for path in ("/ui/api/providers/kiro/disable", "/ui/api/providers/copilot/sign-out"):
        assert f"dashboard refused POST {path}" in logged, logged
    page.goto(demo.url + "/ui")
    expect(card(page, "kiro").locator(".state")).to_have_text("ready")
    expect(card(page, "copilot").locator(".state")).to_have_text("ready")
    expect(card(page, "copilot")).to_contain_text("demo-user")
    after = running_config(demo)
    assert after == before


def test_kiro_signs_in_again_by_importing_the_kiro_ide_token(page: Page, demo: DemoProcess) -> None:
    # The Kiro IDE signed in with the demo's account: its token cache holds a working token.
    ours = json.loads((demo.home / "config" / "aiclient" / "kiro" / "token.json").read_text())
    ide_cache = demo.log_path.parent / "home" / ".aws" / "sso" / "cache"
    ide_cache.mkdir(parents=True, exist_ok=True)
    fields = ("accessToken", "refreshToken", "expiresAt", "authMethod", "provider", "profileArn")
    (ide_cache / "kiro-auth-token.json").write_text(json.dumps({k: ours[k] for k in fields}))

    page.goto(demo.url + "/ui")
    kiro = card(page, "kiro")
    expect(kiro.locator(".state")).to_have_text("ready")
    kiro.locator("button.sign-out").click()
    expect(kiro.locator(".state")).to_have_text("signed out")
    kiro.locator("button.import-ide").click()
    expect(kiro.locator('.sign-in[data-state="done"]')).to_contain_text("kiro-auth-token.json")
    expect(kiro.locator(".state")).to_have_text("ready")
    html = page.content()
    assert ours["refreshToken"] not in html and ours["accessToken"] not in html
