"""Kiro's host families as data: URLs, protocol, persona headers, body differences, fallback.

Kiro moved its chat API from `q.{region}.amazonaws.com` to `runtime.{region}.kiro.dev` (AWS
JSON 1.0, `x-amz-target` per operation) and its management calls to
`management.{region}.kiro.dev` (kiro-2026.md sections 1-4). Everything that differs between
the families lives in `FAMILIES`; when Kiro moves again, this table is what changes.
Pure functions; the provider does the I/O.
"""

from __future__ import annotations

import platform
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiclient_trio.config.types import KiroConfig

__all__ = [
    "API_REGIONS",
    "AUTO_ORDER",
    "AWS_JSON",
    "FAMILIES",
    "AuthKind",
    "Family",
    "auth_kind",
    "chat_headers",
    "chat_url",
    "family_order",
    "management_headers",
    "management_url",
    "moves_to_next_family",
    "region_of_arn",
]

AWS_JSON = "application/x-amz-json-1.0"
API_REGIONS = ("us-east-1", "eu-central-1", "us-gov-east-1", "us-gov-west-1")
SDK_VERSION = "1.0.0"
LEGACY_SDK_VERSION = "1.0.34"
BUILDER_ID_START_URL = "https://view.awsapps.com/start"
AuthKind = Literal["social", "idc", "builder_id", "external_idp", "api_key"]
FamilyName = Literal["runtime", "codewhisperer", "q"]


@dataclass(frozen=True, slots=True)
class Family:
    name: FamilyName
    url_setting: str  # the KiroConfig field holding its URL template
    chat_target: str  # x-amz-target of GenerateAssistantResponse
    sdk_api: str  # the `api/` token of the persona's user agent
    # The Kiro IDE >= 1.0.138 sends agentMode in the body; older hosts took a header.
    agent_mode_in_body: bool
    # Builder ID tokens carry Kiro's fixed profile ARN here (runtime demands a profile;
    # q and codewhisperer answer 403 to that ARN).
    builder_id_profile: bool
    # A complete stream ends metadataEvent -> contextUsageEvent -> meteringEvent; the
    # legacy hosts may leave out metadataEvent.
    tail_needs_metadata: bool


FAMILIES: dict[str, Family] = {
    "runtime": Family(
        "runtime",
        "runtime_url",
        "KiroRuntimeService.GenerateAssistantResponse",
        f"kiroruntime#{SDK_VERSION}",
        agent_mode_in_body=True,
        builder_id_profile=True,
        tail_needs_metadata=True,
    ),
    "q": Family(
        "q",
        "q_url",
        "AmazonCodeWhispererStreamingService.GenerateAssistantResponse",
        f"codewhispererstreaming#{LEGACY_SDK_VERSION}",
        agent_mode_in_body=False,
        builder_id_profile=False,
        tail_needs_metadata=False,
    ),
    "codewhisperer": Family(
        "codewhisperer",
        "codewhisperer_url",
        "AmazonCodeWhispererStreamingService.GenerateAssistantResponse",
        f"codewhispererstreaming#{LEGACY_SDK_VERSION}",
        agent_mode_in_body=False,
        builder_id_profile=False,
        tail_needs_metadata=False,
    ),
}
AUTO_ORDER: tuple[FamilyName, ...] = ("runtime", "q", "codewhisperer")
# Answers that mean "this host does not serve this operation (any more)": only these move
# `auto` to the next family. Rate limits and quota never do (kiro-2026.md section 1).
_GONE_STATUSES = (404, 405)
_GONE_PHRASES = ("unknown operation", "unknownoperation", "invalid signature", "endpoint not found")


def family_order(config: KiroConfig, remembered: str | None) -> list[Family]:
    """The families to try, in order: the configured one, or auto's (remembered one first)."""
    if config.endpoint != "auto":
        return [FAMILIES[config.endpoint]]
    if config.api_url:
        return [FAMILIES["runtime"]]
    names = list(AUTO_ORDER)
    if remembered in names:
        names.remove(remembered)
        names.insert(0, remembered)
    return [FAMILIES[name] for name in names]


def moves_to_next_family(status: int, body: bytes) -> bool:
    if status in _GONE_STATUSES:
        return True
    if status in (400, 403):
        text = body.decode("utf-8", "replace").lower()
        return any(phrase in text for phrase in _GONE_PHRASES)
    return False


def region_of_arn(arn: str | None) -> str | None:
    if arn:
        fields = arn.split(":")
        if len(fields) > 3 and fields[3] in API_REGIONS:
            return fields[3]
    return None


def chat_url(config: KiroConfig, family: Family, region: str) -> str:
    if config.api_url:
        return config.api_url.rstrip("/")
    template: str = getattr(config, family.url_setting)
    return template.format(region=region).rstrip("/")


def management_url(config: KiroConfig, region: str) -> str:
    return config.management_url.format(region=region).rstrip("/")


def auth_kind(record: Mapping[str, Any]) -> AuthKind:
    method = str(record.get("authMethod") or "social").lower()
    if method == "api_key":
        return "api_key"
    if method == "external_idp":
        return "external_idp"
    if method == "social":
        return "social"
    provider = str(record.get("provider") or "").lower()
    if provider == "builderid" or record.get("startUrl") == BUILDER_ID_START_URL:
        return "builder_id"
    return "idc"


def _token_type(kind: AuthKind, config: KiroConfig) -> str | None:
    if kind == "api_key":
        return "API_KEY"
    if kind == "external_idp":
        return "EXTERNAL_IDP"
    if kind in ("idc", "builder_id") and config.idc_token_type:
        return "SSO_OIDC"
    return None


def _persona(config: KiroConfig, api: str, machine: str) -> dict[str, str]:
    os_name = platform.system().lower() or "linux"
    agent = f"KiroIDE-{config.kiro_version}-{machine}"
    sdk = api.split("#", 1)[1]
    return {
        "user-agent": (
            f"aws-sdk-js/{sdk} ua/2.1 os/{os_name}#{platform.release()} lang/js "
            f"md/nodejs#{config.node_version} api/{api} m/N {agent}"
        ),
        "x-amz-user-agent": f"aws-sdk-js/{sdk} {agent}",
    }


def _common(
    token: str, target: str, kind: AuthKind, config: KiroConfig, attempt: int, attempts: int
) -> dict[str, str]:
    headers = {
        "authorization": f"Bearer {token}",
        "content-type": AWS_JSON,
        "x-amz-target": target,
        "amz-sdk-invocation-id": str(uuid.uuid4()),
        "amz-sdk-request": f"attempt={attempt}; max={attempts}",
        "x-amzn-codewhisperer-optout": "true",
    }
    token_type = _token_type(kind, config)
    if token_type:
        headers["tokentype"] = token_type
    return headers


def chat_headers(
    family: Family,
    token: str,
    *,
    kind: AuthKind,
    machine: str,
    config: KiroConfig,
    attempt: int = 1,
    attempts: int = 3,
) -> dict[str, str]:
    headers = _common(token, family.chat_target, kind, config, attempt, attempts)
    headers["accept"] = "application/vnd.amazon.eventstream"
    if family.agent_mode_in_body:
        headers["x-amzn-kiro-client-attribution"] = "kiro-ide"
    else:
        headers["x-amzn-kiro-agent-mode"] = "vibe"
    headers.update(_persona(config, family.sdk_api, machine))
    return headers


def management_headers(
    target: str, token: str, *, kind: AuthKind, machine: str, config: KiroConfig
) -> dict[str, str]:
    headers = _common(token, target, kind, config, 1, 3)
    headers["accept"] = "application/json"
    headers.update(_persona(config, FAMILIES["runtime"].sdk_api, machine))
    return headers
