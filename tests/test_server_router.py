"""Model routing: prefix > X-Provider > alias chain > default provider, and readiness."""

from __future__ import annotations

import pytest
from fakes import FakeProvider

from aiclient_trio.config.types import Config
from aiclient_trio.errors import InvalidRequest, NotFound, ProviderUnavailable
from aiclient_trio.providers.base import Provider, ProviderState
from aiclient_trio.providers.router import resolve


def _providers() -> dict[str, Provider]:
    return {
        "copilot": FakeProvider("copilot", ("gpt-x", "claude-a", "shared")),
        "kiro": FakeProvider("kiro", ("claude-k", "shared")),
    }


def _labels(
    model: str, headers: dict[str, str] | None = None, config: Config | None = None
) -> list[str]:
    targets = resolve(model, headers or {}, config or Config(), _providers())
    return [t.label for t in targets]


def test_precedence_prefix_header_alias_default() -> None:
    config = Config(aliases={"shared": ("kiro/claude-k",), "fast": ("copilot/gpt-x",)})
    # The prefix wins over the header and the alias table.
    assert _labels("kiro/shared", {"x-provider": "copilot"}, config) == ["kiro/shared"]
    # The header wins over an alias of the same name.
    assert _labels("shared", {"x-provider": "copilot"}, config) == ["copilot/shared"]
    # The alias wins over the default provider.
    assert _labels("shared", {}, config) == ["kiro/claude-k"]
    # Nothing else: the default provider.
    assert _labels("shared") == ["copilot/shared"]
    assert _labels("claude-k", config=Config(default_provider="kiro")) == ["kiro/claude-k"]


def test_alias_chain_is_ordered_and_skips_unusable_entries() -> None:
    providers = _providers()
    providers["kiro"].set_status(ProviderState.ERROR, "refresh failed")
    config = Config(aliases={"best": ("kiro/claude-k", "copilot/claude-a", "copilot/gpt-x")})
    targets = resolve("best", {}, config, providers)
    assert [t.label for t in targets] == ["copilot/claude-a", "copilot/gpt-x"]
    all_ok = resolve("best", {}, config, _providers())
    assert [t.label for t in all_ok] == ["kiro/claude-k", "copilot/claude-a", "copilot/gpt-x"]


def test_unknown_model_names_close_matches() -> None:
    with pytest.raises(NotFound) as info:
        resolve("claude-aa", {}, Config(), _providers())
    assert "copilot/claude-a" in info.value.message
    assert info.value.param == "model"


def test_provider_not_ready_names_reason_and_fix() -> None:
    providers: dict[str, Provider] = {"copilot": FakeProvider("copilot", ready=False)}
    with pytest.raises(ProviderUnavailable) as info:
        resolve("fake-model", {}, Config(), providers)
    assert "signed out" in info.value.message
    assert "aiclient auth copilot" in info.value.message


def test_provider_not_configured_and_unknown_header() -> None:
    providers: dict[str, Provider] = {"copilot": FakeProvider("copilot")}
    with pytest.raises(ProviderUnavailable) as info:
        resolve("kiro/claude-k", {}, Config(), providers)
    assert "not enabled" in info.value.message
    with pytest.raises(InvalidRequest):
        resolve("fake-model", {"x-provider": "bogus"}, Config(), providers)
    with pytest.raises(InvalidRequest):
        resolve("", {}, Config(), providers)


def test_a_chain_with_no_usable_entry_raises_the_first_failure() -> None:
    config = Config(aliases={"gone": ("kiro/missing", "copilot/missing-too")})
    with pytest.raises(NotFound) as info:
        resolve("gone", {}, config, _providers())
    assert "kiro" in info.value.message
