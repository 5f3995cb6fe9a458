"""QA regression: the Claude Code setup spells Claude ids the way Claude Code does
(`claude-sonnet-4-5`; the dotted `claude-sonnet-4.5` made it warn that Sonnet 4 is retired),
and both providers resolve that spelling to the same model."""

from __future__ import annotations

import pytest

from aiclient_trio import client_env
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
