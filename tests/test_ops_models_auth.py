"""`aiclient models` and `aiclient auth list|revoke`: the views, and the commands against the demo.

The demo runs the real daemon in this process with Copilot and Kiro signed in against the
simulators; the CLI talks to it through the control socket from a worker thread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
import trio
from click.testing import CliRunner
from conftest import XdgHome

from aiclient_trio.cli.completion import daemon_model_names
from aiclient_trio.cli.demo import DemoOptions, DemoRun, run_demo
from aiclient_trio.cli.main import main
from aiclient_trio.cli.ops import format_credentials, format_models, model_listing, when

REPLY = json.loads((Path(__file__).parent / "data" / "ops" / "models_reply.json").read_text())
NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def test_listing_keeps_ready_providers_and_finds_each_models_aliases() -> None:
    listing = model_listing(REPLY["status"], REPLY["models"], "copilot")
    by_id = {m["id"]: m for m in listing["models"]}
    assert sorted(by_id) == [
        "copilot/claude-sonnet-4.5",
        "copilot/gpt-4.1",
        "copilot/text-embedding-3-small",
    ]  # o3: listed upstream, not enabled for the account, so it cannot answer
    assert by_id["copilot/gpt-4.1"]["aliases"] == ["fast"]
    # A bare alias target goes to default_provider; dashes and dots are the same model.
    assert by_id["copilot/claude-sonnet-4.5"]["aliases"] == ["sonnet"]
    assert listing["unresolved"] == {"fast": ["kiro/claude-haiku-4.5"], "gone": ["copilot/gpt-3"]}
    assert model_listing(REPLY["status"], REPLY["models"], "kiro")["unresolved"]["sonnet"] == [
        "claude-sonnet-4-5"
    ]
    kiro_only = model_listing(REPLY["status"], REPLY["models"], "copilot", only="kiro")
    assert kiro_only["models"] == []
    assert kiro_only["unresolved"] == {"fast": ["kiro/claude-haiku-4.5"]}
    assert list(kiro_only["providers"]) == ["kiro"]


def test_models_table_text() -> None:
    text = format_models(model_listing(REPLY["status"], REPLY["models"], "copilot"))
    lines = text.splitlines()
    assert lines[0].split() == [
        "model", "context", "max", "out", "features", "speaks", "premium", "aliases"
    ]  # fmt: skip
    assert lines[2].split() == [
        "copilot/claude-sonnet-4.5", "144k", "16k", "tools,vision,thinking",
        "openai,anthropic", "1x", "sonnet",
    ]  # fmt: skip
    assert lines[3].split() == [
        "copilot/gpt-4.1", "128k", "16k", "tools,vision", "openai", "0x", "fast"
    ]  # fmt: skip
    assert "embeddings" in lines[4]
    assert "copilot/o3" not in text
    assert (
        "kiro not listed, it is unauthenticated: Kiro is not signed in (fix: aiclient auth kiro)"
        in lines
    )
    assert "alias gone: copilot/gpt-3 not served by a ready provider (skipped)" in lines


def test_credentials_text_with_expiry_place_and_live_state() -> None:
    summaries = {
        "copilot": {"signed_in": True, "account": "octocat", "expires_at": None, "path": "/c/t"},
        "kiro": {"signed_in": True, "account": "Github", "expires_at": NOW + 3000, "path": "/k/t"},
        "other": {"signed_in": False, "path": "/o"},
    }
    live = {"copilot": {"state": "ready"}, "kiro": {"state": "error", "reason": "HTTP 500"}}
    assert format_credentials(summaries, live, now=NOW).splitlines() == [
        "copilot: signed in as octocat",
        "  credential does not expire",
        "  stored in /c/t",
        "  daemon: ready",
        "kiro: signed in as Github",
        "  access token expires 2027-01-15 08:50 UTC (in 50m); renewed automatically",
        "  stored in /k/t",
        "  daemon: error (HTTP 500)",
        "other: not signed in (run: aiclient auth other)",
        "  daemon: unknown",
    ]
    offline = format_credentials(
        {"kiro": {**summaries["kiro"], "expires_at": NOW - 7200}}, None, NOW
    )
    assert "access token expired 2027-01-15 06:00 UTC (2h 00m ago)" in offline
    assert offline.endswith("(the daemon is not running; states above are from the files on disk)")
    assert when(NOW + 3 * 86400, NOW) == "2027-01-18 08:00 UTC (in 3d)"


@pytest.mark.usefixtures("xdg_home")
def test_auth_list_without_daemon_or_credentials() -> None:
    result = CliRunner().invoke(main, ["auth", "list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {name: info["signed_in"] for name, info in data.items()} == {
        "copilot": False,
        "kiro": False,
    }
    assert "daemon_state" not in data["kiro"]


# -- against the running demo -----------------------------------------------------------------


async def cli(*args: str, code: int = 0) -> click.testing.Result:
    result = await trio.to_thread.run_sync(lambda: CliRunner().invoke(main, list(args)))
    assert result.exit_code == code, (args, result.output, result.stderr)
    return result


async def cli_json(*args: str) -> Any:
    return json.loads((await cli(*args, "--json")).output)


@pytest.mark.usefixtures("xdg_home", "restore_logging")
async def test_models_auth_list_and_revoke_against_the_demo() -> None:
    options = DemoOptions(port=0, stderr_logging=False, echo=lambda text: None)
    async with trio.open_nursery() as nursery:
        run: DemoRun = await nursery.start(run_demo, options)
        await cli("config", "set", "models.aliases.fast", "kiro/claude-haiku-4.5,copilot/gpt-4.1")

        listing = await cli_json("models")
        by_id = {m["id"]: m for m in listing["models"]}
        assert by_id["kiro/claude-haiku-4.5"]["aliases"] == ["fast"]
        assert by_id["copilot/gpt-4.1"]["aliases"] == ["fast"]
        assert {m["provider"] for m in listing["models"]} == {"copilot", "kiro"}
        sonnet = by_id["copilot/claude-sonnet-4.5"]
        assert sonnet["context_window"] and sonnet["max_output_tokens"]
        assert "anthropic" in sonnet["upstream_formats"]
        assert isinstance(sonnet["premium_multiplier"], float)
        text = (await cli("models", "--provider", "kiro")).output
        assert "kiro/claude-haiku-4.5" in text and "copilot/" not in text
        assert (
            "unknown provider 'nope'" in (await cli("models", "--provider", "nope", code=1)).stderr
        )
        names = await trio.to_thread.run_sync(daemon_model_names)
        assert "fast" in names and "copilot/gpt-4.1" in names

        creds = await cli_json("auth", "list")
        assert creds["copilot"]["signed_in"] and creds["kiro"]["signed_in"]
        assert creds["copilot"]["account"] == "demo-user"
        assert creds["kiro"]["daemon_state"] == "ready"
        listed = (await cli("auth", "list")).output
        assert f"stored in {run.home / 'config' / 'aiclient' / 'kiro' / 'token.json'}" in listed
        assert "access token expires" in listed

        revoked = (await cli("auth", "revoke", "kiro", "--yes")).output
        assert "kiro: deleted" in revoked
        assert "the running daemon now reports kiro: unauthenticated" in revoked
        after = await cli_json("models")
        assert {m["provider"] for m in after["models"]} == {"copilot"}
        assert after["unresolved"] == {"fast": ["kiro/claude-haiku-4.5"]}
        assert "kiro not listed, it is unauthenticated" in (await cli("models")).output
        assert (await cli_json("auth", "list"))["kiro"] == {
            "signed_in": False,
            "account": None,
            "expires_at": None,
            "path": str(run.home / "config" / "aiclient" / "kiro" / "token.json"),
            "daemon_state": "unauthenticated",
        }
        run.stop()


# `aiclient auth revoke NAME` with nothing stored says so instead of asking
# to delete a file that does not exist; with a stored credential it still asks.


def test_revoke_without_a_credential_asks_nothing(xdg_home: XdgHome) -> None:
    result = CliRunner().invoke(main, ["auth", "revoke", "kiro"], input="")
    assert result.exit_code == 0, result.output
    assert "kiro: no stored credentials at " in result.output
    assert "nothing to delete" in result.output
    assert "Delete the stored" not in result.output


def test_revoke_with_a_credential_still_asks(xdg_home: XdgHome) -> None:
    token = xdg_home.config / "aiclient" / "kiro" / "token.json"
    token.parent.mkdir(parents=True)
    token.write_text(json.dumps({"accessToken": "x", "refreshToken": "y", "authMethod": "social"}))
    declined = CliRunner().invoke(main, ["auth", "revoke", "kiro"], input="n\n")
    assert declined.exit_code == 1
    assert "Delete the stored kiro credentials?" in declined.output
    assert token.exists()
    done = CliRunner().invoke(main, ["auth", "revoke", "kiro", "--yes"])
    assert done.exit_code == 0, done.output
    assert f"kiro: deleted {token}" in done.output
    assert not token.exists()
