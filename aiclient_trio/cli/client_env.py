"""Setup snippets for clients of a running gateway.

Ready-to-paste client setups (Claude Code, Codex, OpenAI/Anthropic SDKs, curl) for a
gateway. Pure text rendering: `aiclient env` and the `aiclient demo` banner both print
these.

`render(target, endpoint, model)` returns the lines for one client; `banner(...)` the
whole `aiclient demo` welcome text. Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CODEX_KEY_ENV",
    "CODEX_PROFILE",
    "NO_KEY",
    "TARGETS",
    "Endpoint",
    "banner",
    "endpoint_from_models",
    "pick_model",
    "render",
]

TARGETS = ("claude-code", "codex", "openai", "anthropic", "curl")
# The key clients send when the gateway does not check one (they insist on having some key).
NO_KEY = "not-needed"
# The variable Codex reads the key from (not an AICLIENT_* config name, so the daemon ignores it).
CODEX_KEY_ENV = "AICLIENT_CODEX_KEY"
# Codex layers $CODEX_HOME/<profile>.config.toml over config.toml with `--profile <profile>`.
CODEX_PROFILE = "aiclient"
CODEX_DIR = "${CODEX_HOME:-$HOME/.codex}"
# Claude Code: what keeps it on loopback (no telemetry, no update checks, no side calls).
CLAUDE_OFFLINE_ENV = (
    ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
    ("DISABLE_TELEMETRY", "1"),
    ("DISABLE_AUTOUPDATER", "1"),
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the gateway answers and what it offers."""

    base_url: str  # root URL without /v1, e.g. http://127.0.0.1:9090
    api_key: str | None = None  # None: the gateway checks no key
    models: tuple[str, ...] = ()  # qualified chat model ids, "copilot/gpt-4.1", ...
    # Models whose only upstream endpoint is the Responses API (Codex-class models).
    responses_only: tuple[str, ...] = ()
    embedding_models: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.api_key or NO_KEY

    @property
    def v1(self) -> str:
        return self.base_url.rstrip("/") + "/v1"


def endpoint_from_models(
    base_url: str, api_key: str | None, models: Iterable[Mapping[str, Any]]
) -> Endpoint:
    """An Endpoint from model entries shaped like `ModelInfo.to_json()` (disabled ones left out)."""
    chat: list[str] = []
    responses_only: list[str] = []
    embeddings: list[str] = []
    for model in models:
        if not model.get("enabled", True):
            continue
        mid = str(model["id"])
        if model.get("kind") == "embeddings":
            embeddings.append(mid)
            continue
        chat.append(mid)
        if list(model.get("upstream_formats") or ()) == ["responses"]:
            responses_only.append(mid)
    return Endpoint(
        base_url=base_url.rstrip("/"),
        api_key=api_key,
        models=tuple(chat),
        responses_only=tuple(responses_only),
        embedding_models=tuple(embeddings),
    )


def _first(models: Sequence[str], *needles: str) -> str | None:
    for needle in needles:
        for model in models:
            if needle in model:
                return model
    return None


_PREFERENCES: dict[str, tuple[str, ...]] = {
    "claude-code": ("kiro/claude-sonnet", "claude-sonnet", "claude"),
    "anthropic": ("claude-sonnet", "claude"),
    "codex": ("codex", "gpt-5", "gpt"),
    "openai": ("gpt-4.1", "gpt", ""),
    "curl": ("gpt-4.1", "gpt", ""),
}


# Without the daemon's model list: a model of the right kind for each client.
_OFFLINE_DEFAULTS = {
    "claude-code": "copilot/claude-sonnet-4.5",
    "anthropic": "copilot/claude-sonnet-4.5",
    "codex": "copilot/gpt-5-codex",
}


def pick_model(target: str, endpoint: Endpoint) -> str:
    """A sensible default model for `target` among the endpoint's models."""
    models = list(endpoint.models)
    if target == "codex":
        found = _first(endpoint.responses_only, "codex", "") or _first(
            models, *_PREFERENCES[target]
        )
    else:
        found = _first(models, *_PREFERENCES.get(target, ("",)))
    return found or (models[0] if models else _OFFLINE_DEFAULTS.get(target, "copilot/gpt-4.1"))


def _small_model(endpoint: Endpoint, model: str) -> str:
    """A haiku-class model from the same provider as `model`, else `model` itself."""
    provider = model.partition("/")[0] + "/"
    same = [m for m in endpoint.models if m.startswith(provider)]
    return _first(same, "haiku") or model


def _loose(name: str) -> str:
    """A spelling-insensitive key: no provider prefix or date suffix, dots as hyphens."""
    bare = name.lower().rpartition("/")[2]
    return re.sub(r"-\d{8}$", "", bare).replace(".", "-")


def knows_model(models_info: Mapping[str, Any], name: str) -> bool:
    """Whether the daemon's `models` answer lists `name` (any spelling it would accept)."""
    known = {_loose(str(e.get("id", ""))) for e in models_info.get("models") or []}
    known |= {_loose(str(alias)) for alias in models_info.get("aliases") or {}}
    return _loose(name) in known


_DOTTED_CLAUDE = re.compile(r"(claude-[a-z]+-\d+)\.(\d+)")


def claude_code_name(model: str) -> str:
    """Claude Code's spelling of a Claude id (`kiro/claude-sonnet-4-5`): it reads the dotted
    form as the retired `claude-sonnet-4` and warns. The gateway accepts both spellings."""
    return _DOTTED_CLAUDE.sub(r"\1-\2", model)


def claude_code(endpoint: Endpoint, model: str) -> str:
    small = claude_code_name(_small_model(endpoint, model))
    lines = [
        f"# Claude Code through aiclient ({model})",
        f"export ANTHROPIC_BASE_URL={shlex.quote(endpoint.base_url)}",
        f"export ANTHROPIC_AUTH_TOKEN={shlex.quote(endpoint.key)}",
        f"export ANTHROPIC_MODEL={shlex.quote(claude_code_name(model))}",
        f"export ANTHROPIC_DEFAULT_HAIKU_MODEL={shlex.quote(small)}",
        "# keep Claude Code from calling home (telemetry, update checks, side requests)",
        "export " + " ".join(f"{k}={v}" for k, v in CLAUDE_OFFLINE_ENV),
        "unset ANTHROPIC_API_KEY",
        '# try: claude -p "say hi"   (or just: claude)',
    ]
    return "\n".join(lines)


def codex_toml(endpoint: Endpoint, model: str) -> str:
    return "\n".join(
        [
            f"model = {json.dumps(model)}",
            'model_provider = "aiclient"',
            "",
            "[model_providers.aiclient]",
            'name = "aiclient"',
            f"base_url = {json.dumps(endpoint.v1)}",
            'wire_api = "responses"',
            f'env_key = "{CODEX_KEY_ENV}"',
            "",
            "[features]",
            "plugins = false    # no calls to github.com / chatgpt.com for plugins",
            "",
            "[analytics]",
            "enabled = false",
        ]
    )


def codex(endpoint: Endpoint, model: str) -> str:
    """A Codex profile file (layered over the user's own config.toml, which stays untouched)."""
    return "\n".join(
        [
            f"# Codex CLI through aiclient ({model}): a profile next to your config.toml",
            f'mkdir -p "{CODEX_DIR}" && cat > "{CODEX_DIR}/{CODEX_PROFILE}.config.toml" <<\'EOF\'',
            codex_toml(endpoint, model),
            "EOF",
            f"export {CODEX_KEY_ENV}={shlex.quote(endpoint.key)}",
            f"# try: codex exec --profile {CODEX_PROFILE} --skip-git-repo-check"
            f' "say hi" < /dev/null   (or: codex --profile {CODEX_PROFILE})',
        ]
    )


def openai(endpoint: Endpoint, model: str) -> str:
    return "\n".join(
        [
            f"# OpenAI SDK through aiclient ({model})",
            f"export OPENAI_BASE_URL={shlex.quote(endpoint.v1)}",
            f"export OPENAI_API_KEY={shlex.quote(endpoint.key)}",
            "",
            "# python:",
            "from openai import OpenAI",
            "client = OpenAI()  # reads OPENAI_BASE_URL and OPENAI_API_KEY",
            "reply = client.chat.completions.create(",
            f"    model={json.dumps(model)},",
            '    messages=[{"role": "user", "content": "say hi"}],',
            ")",
            "print(reply.choices[0].message.content)",
        ]
    )


def anthropic(endpoint: Endpoint, model: str) -> str:
    return "\n".join(
        [
            f"# Anthropic SDK through aiclient ({model})",
            f"export ANTHROPIC_BASE_URL={shlex.quote(endpoint.base_url)}",
            f"export ANTHROPIC_API_KEY={shlex.quote(endpoint.key)}",
            "",
            "# python:",
            "import anthropic",
            "client = anthropic.Anthropic()  # reads ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY",
            "message = client.messages.create(",
            f"    model={json.dumps(model)},",
            "    max_tokens=1024,",
            '    messages=[{"role": "user", "content": "say hi"}],',
            ")",
            "print(message.content[0].text)",
        ]
    )


def curl(endpoint: Endpoint, model: str) -> str:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "say hi"}]})
    return "\n".join(
        [
            f"# curl ({model})",
            f"curl -s {shlex.quote(endpoint.v1 + '/chat/completions')} \\",
            f"  -H {shlex.quote('Authorization: Bearer ' + endpoint.key)} \\",
            "  -H 'Content-Type: application/json' \\",
            f"  -d {shlex.quote(body)}",
        ]
    )


_RENDERERS = {
    "claude-code": claude_code,
    "codex": codex,
    "openai": openai,
    "anthropic": anthropic,
    "curl": curl,
}


def render(target: str, endpoint: Endpoint, model: str | None = None) -> str:
    """The setup lines for `target` (one of TARGETS); `model` defaults to `pick_model`."""
    if target not in _RENDERERS:
        raise ValueError(f"unknown client {target!r}; known: {', '.join(TARGETS)}")
    return _RENDERERS[target](endpoint, model or pick_model(target, endpoint))


def _section(title: str, body: str) -> str:
    return f"── {title} " + "─" * max(3, 72 - len(title)) + "\n" + body + "\n"


def banner(endpoint: Endpoint, *, home: str | None = None) -> str:
    """The `aiclient demo` welcome: URL, models, and every client's setup."""
    models = "\n".join(f"  {m}" for m in endpoint.models) or "  (none)"
    embeddings = ", ".join(endpoint.embedding_models)
    head = [
        "aiclient demo: a real gateway in front of simulated Copilot and Kiro services.",
        "Every model answers with the scripted simulator (see docs/demo.md): plain text",
        'gets a greeting; "[[call TOOL {json}]]" calls a tool; "[[think TEXT]]" thinks first.',
        "",
        f"Gateway: {endpoint.base_url}   (OpenAI: {endpoint.v1}, Anthropic: {endpoint.base_url})",
        f"API key: {endpoint.api_key if endpoint.api_key else 'none needed (any value works)'}",
        f"Dashboard: {endpoint.base_url}/ui   (providers, sign-in, usage, live requests, logs)",
    ]
    if home:
        head.append(f"Home:    {home} (temporary, removed on exit)")
        head.append(
            f"CLI:     XDG_CONFIG_HOME={home}/config XDG_STATE_HOME={home}/state"
            f" XDG_RUNTIME_DIR={home}/run"
            " aiclient status   (or doctor, models, env ..., usage)"
        )
    head += ["", "Models:", models]
    if embeddings:
        head.append(f"Embeddings: {embeddings}")
    head.append("")
    parts = ["\n".join(head)]
    parts += [_section(t, render(t, endpoint)) for t in ("curl", "openai", "anthropic")]
    parts.append(_section("Claude Code", render("claude-code", endpoint)))
    parts.append(_section("Codex CLI", render("codex", endpoint)))
    parts.append("Stop with Ctrl-C.")
    return "\n".join(parts)
