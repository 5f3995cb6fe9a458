"""Masking of anything credential-shaped in text: log lines, stored client strings, errors.

Pure text work with no imports of ours, so the logging setup, the untrusted-input checks and
the control socket can all use it without importing each other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["MASK", "add_secrets", "redact", "set_secrets"]

MASK = "[REDACTED]"


def _mask_field(match: re.Match[str]) -> str:
    """A `key: value` credential field masked, unless the value is plainly prose: an unquoted
    short lower-case word after "key: " ("without an api_key: any machine...")."""
    head, value = match.group(1), match.group(2)
    if head.rstrip()[-1:] == ":" and head[-1:].isspace() and _PROSE_WORD.fullmatch(value):
        return match.group(0)
    return head + MASK


_PROSE_WORD = re.compile(r"[a-z]{1,10}")

_PATTERNS: list[tuple[re.Pattern[str], Any]] = [
    # JSON / form fields whose value is a credential, whatever it looks like.
    (
        re.compile(
            r"""(?i)(["']?(?<![A-Za-z0-9_])(?:access_?token|refresh_?token|id_?token|client_?secret|api_?key|"""
            r"""password|device_code|token)["']?\s*[:=]\s*["']?)([^"'\s,;}&]+)"""
        ),
        _mask_field,
    ),
    # Authorization header values: "Bearer xyz", "token gho_...".
    (re.compile(r"(?i)\b(bearer)(\s+)([A-Za-z0-9._~+/=:-]{8,})"), r"\1\2" + MASK),
    (re.compile(r"(?i)(x-api-key[\"']?\s*[:=]\s*[\"']?)([^\"'\s,;}]+)"), r"\1" + MASK),
    # Anthropic (sk-ant-...), OpenAI (sk-proj-..., sk-svcacct-..., sk-...) API keys.
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), MASK),
    # GitHub tokens (OAuth, user-to-server, personal, server, refresh) and fine-grained PATs.
    (re.compile(r"\bgh[oupsr]_[A-Za-z0-9]{8,}"), MASK),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{8,}"), MASK),
    # AWS access key ids (long-term AKIA, temporary ASIA).
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), MASK),
    # Kiro API keys.
    (re.compile(r"\bksk_[A-Za-z0-9_-]{8,}"), MASK),
    # Copilot session token: tid=...;exp=...;sku=...:<mac>
    (re.compile(r"\btid=[^\s\"',]+"), MASK),
    # Kiro / AWS IdC access and refresh tokens.
    (re.compile(r"\ba[o][ar][A-Za-z0-9_\-.:/+=]{16,}"), MASK),
    # JWT-like strings (social login tokens, id tokens).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
]

# Substrings every pattern above needs to match (a superset, compared lower-cased): most log
# lines (the per-request access line above all) contain none, and these plain substring scans
# cost a tenth of running the patterns.
_TRIGGERS = (
    "token", "secret", "api_key", "apikey", "api-key", "password", "device_code", "bearer",
    "gho_", "ghu_", "ghp_", "ghs_", "ghr_", "github_pat_", "tid=", "aoa", "aor", "eyj",
    "sk-", "akia", "asia", "ksk_",
)  # fmt: skip

_secrets: tuple[str, ...] = ()


def set_secrets(secrets: Iterable[str | None]) -> None:
    """Literal strings (the API key) masked wherever they appear; short ones are ignored."""
    global _secrets
    _secrets = tuple(sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True))


def add_secrets(secrets: Iterable[str | None]) -> None:
    """Mask these too, keeping the secrets already known (a replaced key stays masked)."""
    set_secrets([*_secrets, *secrets])


def redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, MASK)
    lowered = text.lower()
    if not any(trigger in lowered for trigger in _TRIGGERS):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
