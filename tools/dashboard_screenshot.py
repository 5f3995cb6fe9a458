"""Take docs/dashboard.png: the dashboard of a real `aiclient demo`, after some SDK traffic.

Run from the repository root with the test extra installed and Debian's chromium:
    python tools/dashboard_screenshot.py [output.png]
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from tempfile import TemporaryDirectory

import anthropic
import openai
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from e2e.demo_process import DemoProcess  # noqa: E402
from test_dashboard_browser import launch_chromium  # noqa: E402


def traffic(url: str) -> None:
    """A few requests of each kind, as a user's clients would send them."""
    gpt = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    claude = anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0)
    for n in range(3):
        gpt.chat.completions.create(
            model="copilot/gpt-4.1", messages=[{"role": "user", "content": f"hello {n}"}]
        )
    with gpt.chat.completions.create(
        model="copilot/claude-sonnet-4.5",
        messages=[{"role": "user", "content": "stream a greeting"}],
        stream=True,
    ) as stream:
        for _chunk in stream:
            pass
    for n in range(2):
        claude.messages.create(
            model="kiro/claude-sonnet-4.5",
            max_tokens=200,
            messages=[{"role": "user", "content": f"[[think plan it]] step {n}"}],
        )
    claude.messages.create(
        model="copilot/claude-haiku-4.5",
        max_tokens=100,
        messages=[{"role": "user", "content": "a short one"}],
    )
    gpt.responses.create(model="copilot/gpt-5-codex", input="write a haiku")
    try:
        gpt.chat.completions.create(
            model="copilot/gpt-9", messages=[{"role": "user", "content": "nope"}]
        )
    except openai.NotFoundError:
        pass  # an unknown model: shows as an error row


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "dashboard.png"
    with TemporaryDirectory() as work:
        demo = DemoProcess.start(Path(work))
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(demo.url + "/ui")
                expect(page.locator("#feed-state")).to_have_attribute("data-state", "live")
                traffic(demo.url)
                expect(page.locator("#live-table tbody tr")).to_have_count(9)
                page.reload()
                expect(page.locator("#usage-chart rect.bar").first).to_be_visible()
                expect(page.locator("#quotas .quota")).to_have_count(2)
                page.locator("#live-table tbody tr").nth(2).click()
                expect(page.locator("#request-detail")).to_contain_text("Ledger row")
                page.screenshot(path=str(out), full_page=True)
                browser.close()
        finally:
            demo.stop(signal.SIGINT)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
