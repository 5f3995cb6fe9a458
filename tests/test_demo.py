"""`aiclient demo` (in process and as a command) and the client setups of `aiclient env`."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest
import trio
from click.testing import CliRunner
from conftest import XdgHome
from e2e.demo_process import DemoProcess

from aiclient_trio.cli import client_env
from aiclient_trio.cli.demo import XDG_VARS, DemoOptions, DemoRun, run_demo
from aiclient_trio.cli.main import main

ENDPOINT = client_env.Endpoint(
    base_url="http://127.0.0.1:9999",
    models=(
        "copilot/gpt-4.1",
        "copilot/gpt-5-codex",
        "copilot/claude-sonnet-4.5",
        "kiro/claude-sonnet-4.5",
        "kiro/claude-haiku-4.5",
    ),
    responses_only=("copilot/gpt-5-codex",),
    embedding_models=("copilot/text-embedding-3-small",),
)


def exports(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("export "):
            for word in line.split()[1:]:
                name, _, value = word.partition("=")
                found[name] = value
    return found


# -- client_env: pure rendering -----------------------------------------------------------------


def test_claude_code_lines_point_at_the_root_and_stay_offline() -> None:
    text = client_env.render("claude-code", ENDPOINT)
    env = exports(text)
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9999"  # Claude Code adds /v1 itself
    assert env["ANTHROPIC_AUTH_TOKEN"] == client_env.NO_KEY
    # Claude Code's own spelling (it reads "claude-sonnet-4.5" as the retired Sonnet 4).
    assert env["ANTHROPIC_MODEL"] == "kiro/claude-sonnet-4-5"
    assert env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == "kiro/claude-haiku-4-5"
    for name in ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "DISABLE_TELEMETRY"):
        assert env[name] == "1"
    assert "unset ANTHROPIC_API_KEY" in text


def test_codex_block_is_valid_toml_with_a_responses_provider() -> None:
    text = client_env.render("codex", ENDPOINT)
    heredoc = text.split("<<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
    config = tomllib.loads(heredoc)
    assert config["model"] == "copilot/gpt-5-codex"  # the responses-only model
    provider = config["model_providers"][config["model_provider"]]
    assert provider["wire_api"] == "responses"
    assert provider["base_url"] == "http://127.0.0.1:9999/v1"
    assert exports(text)[provider["env_key"]] == client_env.NO_KEY
    assert config["features"]["plugins"] is False and config["analytics"]["enabled"] is False
    assert '/aiclient.config.toml" <<' in text, "a profile file: the user's config stays"
    assert "codex exec --profile aiclient --skip-git-repo-check" in text
    assert "< /dev/null" in text


def test_sdk_and_curl_snippets_use_the_model_and_key() -> None:
    keyed = client_env.Endpoint(base_url="http://h:1", api_key="s3cret", models=ENDPOINT.models)
    openai_text = client_env.render("openai", keyed, "kiro/claude-sonnet-4.5")
    assert exports(openai_text) == {"OPENAI_BASE_URL": "http://h:1/v1", "OPENAI_API_KEY": "s3cret"}
    assert 'model="kiro/claude-sonnet-4.5"' in openai_text
    anthropic_text = client_env.render("anthropic", keyed)
    assert exports(anthropic_text)["ANTHROPIC_BASE_URL"] == "http://h:1"
    assert 'model="copilot/claude-sonnet-4.5"' in anthropic_text
    curl = client_env.render("curl", keyed)
    assert "http://h:1/v1/chat/completions" in curl and "Bearer s3cret" in curl
    with pytest.raises(ValueError, match="unknown client"):
        client_env.render("vim", keyed)


def test_endpoint_from_model_entries_skips_disabled_and_sorts_kinds() -> None:
    entries = [
        {"id": "copilot/gpt-5-codex", "upstream_formats": ["responses"], "kind": "chat"},
        {"id": "copilot/claude-opus-4.1", "enabled": False},
        {"id": "copilot/text-embedding-3-small", "kind": "embeddings"},
        {"id": "kiro/auto", "upstream_formats": [], "kind": "chat"},
    ]
    endpoint = client_env.endpoint_from_models("http://x:1/", None, entries)
    assert endpoint.base_url == "http://x:1"
    assert endpoint.models == ("copilot/gpt-5-codex", "kiro/auto")
    assert endpoint.responses_only == ("copilot/gpt-5-codex",)
    assert endpoint.embedding_models == ("copilot/text-embedding-3-small",)
    assert client_env.pick_model("codex", endpoint) == "copilot/gpt-5-codex"
    assert client_env.pick_model("claude-code", client_env.Endpoint("http://x")) != ""


def test_banner_has_every_section() -> None:
    banner = client_env.banner(ENDPOINT, home="/tmp/h")
    for title in ("curl", "openai", "anthropic", "Claude Code", "Codex CLI"):
        assert f"── {title} " in banner
    assert "Gateway: http://127.0.0.1:9999" in banner and "/tmp/h" in banner
    assert (
        "XDG_CONFIG_HOME=/tmp/h/config XDG_STATE_HOME=/tmp/h/state XDG_RUNTIME_DIR=/tmp/h/run "
        "aiclient status" in banner
    )
    assert banner.rstrip().endswith("Stop with Ctrl-C.")


# -- aiclient env ---------------------------------------------------------------------------------


def test_env_without_a_daemon_uses_the_configured_address(xdg_home: XdgHome) -> None:
    xdg_home.config_file.parent.mkdir(parents=True)
    xdg_home.config_file.write_text('api_key = "k-123"\n[server]\nport = 9555\n')
    result = CliRunner().invoke(main, ["env", "claude-code", "--model", "kiro/claude-haiku-4.5"])
    assert result.exit_code == 0, result.output
    env = exports(result.stdout)
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9555"
    assert env["ANTHROPIC_MODEL"] == "kiro/claude-haiku-4-5"
    assert "k-123" not in result.stdout, "the key is only printed on request"
    assert "not running" in result.stderr
    shown = CliRunner().invoke(main, ["env", "openai", "--show-key", "--url", "http://h:2"])
    assert exports(shown.stdout) == {"OPENAI_BASE_URL": "http://h:2/v1", "OPENAI_API_KEY": "k-123"}


# -- the demo in this process -------------------------------------------------------------------


async def test_demo_signs_in_serves_both_providers_and_cleans_up(
    xdg_home: XdgHome, restore_logging: None
) -> None:
    before = {name: os.environ.get(name) for name in XDG_VARS}
    banners: list[str] = []
    options = DemoOptions(port=0, stderr_logging=False, echo=banners.append)
    async with trio.open_nursery() as nursery:
        run: DemoRun = await nursery.start(run_demo, options)
        home = run.home
        assert banners and f"Gateway: {run.url}" in banners[0]
        assert {p: s.status.value.ready for p, s in run.providers.items()} == {
            "copilot": True,
            "kiro": True,
        }
        # Credentials went through the real paths: an imported GitHub token (0600 file) and
        # a Kiro token file whose expired access token was refreshed against the simulator.
        github = home / "config" / "aiclient" / "copilot" / "github_token.json"
        assert stat.S_IMODE(github.stat().st_mode) == 0o600
        assert json.loads(github.read_text())["login"] == "demo-user"
        kiro = json.loads((home / "config" / "aiclient" / "kiro" / "token.json").read_text())
        assert kiro["expiresAt"] > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        assert "kiro/claude-sonnet-4.5" in run.endpoint.models
        assert "copilot/gpt-5-codex" in run.endpoint.responses_only

        async with httpx.AsyncClient(base_url=run.url) as client:
            for model, name in (("copilot/gpt-4.1", "Copilot"), ("kiro/claude-haiku-4.5", "Kiro")):
                response = await client.post(
                    "/v1/chat/completions",
                    json={"model": model, "messages": [{"role": "user", "content": "hey"}]},
                )
                assert response.status_code == 200, response.text
                text = response.json()["choices"][0]["message"]["content"]
                assert text == f"Hello from the {name} simulator! You said: hey"
        # The demo's Kiro is today's service: the runtime host family, AWS JSON 1.0.
        [kiro_call] = run.kiro.generate_requests()
        assert kiro_call.path == "/runtime/us-east-1/"
        assert kiro_call.headers["x-amz-target"] == "KiroRuntimeService.GenerateAssistantResponse"

        # `aiclient env` finds the running demo through its control socket.
        result = await trio.to_thread.run_sync(lambda: CliRunner().invoke(main, ["env", "codex"]))
        assert result.exit_code == 0, result.output
        assert f'base_url = "{run.url}/v1"' in result.stdout
        assert 'model = "copilot/gpt-5-codex"' in result.stdout
        # The demo bills in AI credits like today's Copilot: `usage` and `status` show them.
        usage = await trio.to_thread.run_sync(lambda: CliRunner().invoke(main, ["usage"]))
        assert usage.exit_code == 0, usage.output
        assert "Copilot AI credits: 0 " not in usage.stdout
        assert "Copilot AI credits: " in usage.stdout and "at $0.01 a credit" in usage.stdout
        status = await trio.to_thread.run_sync(lambda: CliRunner().invoke(main, ["status"]))
        assert "billed in AI credits" in status.stdout, status.output
        run.stop()
    assert not home.exists()
    assert {name: os.environ.get(name) for name in XDG_VARS} == before


def test_demo_command_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    demo = DemoProcess.start(tmp_path)
    try:
        assert httpx.get(demo.url + "/healthz").status_code == 200
    finally:
        code = demo.stop(signal.SIGTERM)
    assert code == 0, demo.logs()
    assert "SIGTERM: draining" in demo.logs() and "Traceback" not in demo.logs()
    assert not demo.home.exists()


def test_demo_command_reports_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "aiclient_trio", "demo", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=tmp_path,
        )
    assert result.returncode == 1
    assert "cannot start" in result.stderr and "--port 0" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("target", ["claude-code", "codex", "curl"])
def test_shell_setups_are_valid_shell(target: str) -> None:
    text = client_env.render(target, ENDPOINT)
    checked = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_codex_setup_pasted_in_bash_writes_the_profile(tmp_path: Path) -> None:
    text = client_env.render("codex", ENDPOINT)
    script = text + '\nprintf %s "$AICLIENT_CODEX_KEY"\n'
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CODEX_HOME": str(tmp_path / "c")}
    ran = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert ran.returncode == 0 and ran.stdout == client_env.NO_KEY, ran.stderr
    profile = tomllib.loads((tmp_path / "c" / "aiclient.config.toml").read_text())
    assert profile["model_providers"]["aiclient"]["wire_api"] == "responses"


# `aiclient demo --host H` serves on H, and the banner's
# setups point at H; Ctrl-C (SIGINT) stops it cleanly and removes its home.


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
