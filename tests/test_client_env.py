"""The Claude Code setup spells Claude ids the way Claude Code does
(`claude-sonnet-4-5`; the dotted `claude-sonnet-4.5` made it warn that Sonnet 4 is retired),
and both providers resolve that spelling to the same model."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import XdgHome

from aiclient_trio.cli import client_env
from aiclient_trio.cli import main as cli
from aiclient_trio.providers.copilot.models import resolve_model_name
from aiclient_trio.providers.kiro.models import normalize_model_id

ENDPOINT = client_env.Endpoint(
    base_url="http://127.0.0.1:9999",
    models=("copilot/gpt-4.1", "copilot/claude-haiku-4.5", "copilot/claude-sonnet-4.5"),
)


@pytest.mark.parametrize(
    ("name", "spelled"),
    [
        ("kiro/claude-sonnet-4.5", "kiro/claude-sonnet-4-5"),
        ("copilot/claude-opus-4.1", "copilot/claude-opus-4-1"),
        ("claude-haiku-4.5", "claude-haiku-4-5"),
        ("kiro/claude-sonnet-4", "kiro/claude-sonnet-4"),
        ("copilot/gpt-4.1", "copilot/gpt-4.1"),
        ("kiro/auto", "kiro/auto"),
    ],
)
def test_claude_code_name(name: str, spelled: str) -> None:
    assert client_env.claude_code_name(name) == spelled


def test_claude_code_setup_uses_the_hyphen_spelling_for_both_models() -> None:
    text = client_env.render("claude-code", ENDPOINT, "copilot/claude-sonnet-4.5")
    assert "export ANTHROPIC_MODEL=copilot/claude-sonnet-4-5\n" in text
    assert "export ANTHROPIC_DEFAULT_HAIKU_MODEL=copilot/claude-haiku-4-5\n" in text
    assert "# Claude Code through aiclient (copilot/claude-sonnet-4.5)" in text


def test_both_providers_resolve_the_hyphen_spelling() -> None:
    ids = ["claude-sonnet-4.5", "claude-haiku-4.5", "gpt-4.1"]
    assert resolve_model_name("copilot/claude-sonnet-4-5", ids) == "claude-sonnet-4.5"
    assert resolve_model_name("claude-haiku-4-5", ids) == "claude-haiku-4.5"
    assert normalize_model_id("claude-sonnet-4-5") == "claude-sonnet-4.5"


MODELS_INFO = {
    "models": [
        {"id": "kiro/claude-sonnet-4.5", "kind": "chat"},
        {"id": "copilot/gpt-4.1", "kind": "chat"},
    ],
    "aliases": {"fast": ["copilot/gpt-4.1"]},
}


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("kiro/claude-sonnet-4.5", True),
        ("kiro/claude-sonnet-4-5", True),
        ("claude-sonnet-4-5-20250929", True),
        ("fast", True),
        ("copilot/gpt-41", False),
        ("nope/x", False),
    ],
)
def test_knows_model(name: str, known: bool) -> None:
    assert client_env.knows_model(MODELS_INFO, name) is known


def test_env_warns_about_a_model_the_daemon_does_not_serve(
    xdg_home: XdgHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, object]] = []

    def fake_daemon(method: str, params: object = None, *, required: bool = True) -> object:
        calls.append((method, params))
        if method == "status":
            return {"url": "http://127.0.0.1:9999"}
        return MODELS_INFO

    monkeypatch.setattr(cli, "call_daemon", fake_daemon)
    bad = CliRunner().invoke(cli.main, ["env", "codex", "--model", "nope/x"])
    assert bad.exit_code == 0, bad.output
    assert "does not serve 'nope/x'" in bad.stderr
    good = CliRunner().invoke(cli.main, ["env", "claude-code", "-m", "kiro/claude-sonnet-4.5"])
    assert good.stderr == ""
    assert "export ANTHROPIC_MODEL=kiro/claude-sonnet-4-5" in good.stdout
    # Setup lines need no upstream quota calls (they can take seconds).
    assert ("status", {"quota": False}) in calls


def test_without_a_model_list_each_client_gets_a_model_of_its_kind() -> None:
    offline = client_env.Endpoint(base_url="http://127.0.0.1:9090")
    assert client_env.pick_model("claude-code", offline) == "copilot/claude-sonnet-4.5"
    assert client_env.pick_model("anthropic", offline) == "copilot/claude-sonnet-4.5"
    assert client_env.pick_model("codex", offline) == "copilot/gpt-5-codex"
    assert client_env.pick_model("openai", offline) == "copilot/gpt-4.1"
    text = client_env.render("claude-code", offline)
    assert "export ANTHROPIC_MODEL=copilot/claude-sonnet-4-5\n" in text
