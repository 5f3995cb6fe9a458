from __future__ import annotations

import pytest
from copilot_helpers import load

from aiclient_trio.errors import NotFound
from aiclient_trio.providers.copilot.models import (
    choose_upstream_format,
    needs_max_completion_tokens,
    normalise_model_name,
    parse_models,
    resolve_model_name,
)


def _models() -> dict[str, object]:
    return {m.id: m for m in parse_models(load("models_f3.json"))}


def test_f3_models_become_model_info() -> None:
    models = {m.id: m for m in parse_models(load("models_f3.json"))}
    gpt, claude, codex, emb, old = (
        models["gpt-4.1"],
        models["claude-sonnet-4.5"],
        models["gpt-5-codex"],
        models["text-embedding-3-small"],
        models["gpt-3.5-turbo"],
    )
    assert gpt.upstream_formats == ("openai_chat", "responses")
    assert (gpt.context_window, gpt.max_prompt_tokens, gpt.max_output_tokens) == (
        128000,
        128000,
        16384,
    )
    assert gpt.supports_vision and gpt.supports_tools and not gpt.supports_thinking
    assert claude.upstream_formats == ("openai_chat", "anthropic")
    assert claude.supports_thinking and claude.premium_multiplier == 1.0
    assert claude.max_prompt_tokens == 128000 and claude.context_window == 200000
    assert codex.upstream_formats == ("responses",)
    assert codex.enabled is False, "policy 'unconfigured' is marked"
    assert codex.supports_thinking and not codex.supports_vision
    assert emb.kind == "embeddings" and emb.upstream_formats == ()
    assert old.upstream_formats == ("openai_chat",), "a missing list means chat only"
    assert claude.qualified_id == "copilot/claude-sonnet-4.5"


def test_model_name_normalisation_table() -> None:
    for spelling, expected in load("model_names.json")["cases"]:
        assert normalise_model_name(spelling) == expected, spelling


def test_resolve_exact_normalised_and_unknown() -> None:
    ids = ["gpt-4.1", "claude-sonnet-4.5", "claude-haiku-4.5", "gpt-4o"]
    assert resolve_model_name("claude-sonnet-4-5-20250929", ids) == "claude-sonnet-4.5"
    assert resolve_model_name("copilot/gpt-4.1", ids) == "gpt-4.1"
    assert resolve_model_name("claude-haiku-4-5-20251001", ids) == "claude-haiku-4.5"
    with pytest.raises(NotFound) as info:
        resolve_model_name("claude-sonet-4.5", ids)
    assert "copilot/claude-sonnet-4.5" in info.value.message
    assert info.value.param == "model"


def test_small_model_route_for_haiku_class_names() -> None:
    ids = ["gpt-4.1", "claude-sonnet-4.5", "claude-haiku-4.5", "gpt-4o"]
    assert resolve_model_name("claude-haiku-4-5-20251001", ids, small_model="gpt-4o") == "gpt-4o"
    assert resolve_model_name("claude-3-5-haiku-latest", ids, small_model="gpt-4o") == "gpt-4o"
    # Other names are untouched by the small-model route.
    assert resolve_model_name("claude-sonnet-4.5", ids, small_model="gpt-4o") == (
        "claude-sonnet-4.5"
    )


ROUTES = [
    # (model, inbound, expected upstream format)
    ("claude-sonnet-4.5", "anthropic", "anthropic"),
    ("claude-sonnet-4.5", "openai_chat", "openai_chat"),
    ("claude-sonnet-4.5", "responses", "openai_chat"),
    ("gpt-4.1", "anthropic", "openai_chat"),
    ("gpt-4.1", "openai_chat", "openai_chat"),
    ("gpt-4.1", "responses", "responses"),
    ("gpt-5-codex", "anthropic", "responses"),
    ("gpt-5-codex", "openai_chat", "responses"),
    ("gpt-5-codex", "responses", "responses"),
    ("gpt-3.5-turbo", "responses", "openai_chat"),
]


@pytest.mark.parametrize(("model", "inbound", "expected"), ROUTES)
def test_routing_follows_supported_endpoints(model: str, inbound: str, expected: str) -> None:
    info = {m.id: m for m in parse_models(load("models_f3.json"))}[model]
    assert choose_upstream_format(info, inbound) == expected  # type: ignore[arg-type]


def test_max_completion_tokens_models() -> None:
    assert needs_max_completion_tokens("gpt-5-mini")
    assert needs_max_completion_tokens("o3-mini")
    assert not needs_max_completion_tokens("gpt-4.1")
    assert not needs_max_completion_tokens("claude-opus-4.1")
