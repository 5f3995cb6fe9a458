"""The simulated Kiro host families and the management API (kiro-2026.md sections 1-5).

The simulator serves every host under one loopback port, one path prefix per host:
`/runtime/{region}`, `/q/{region}`, `/codewhisperer/{region}` and `/management/{region}`
stand for `runtime.{region}.kiro.dev`, `q.{region}.amazonaws.com`,
`codewhisperer.us-east-1.amazonaws.com` and `management.{region}.kiro.dev`. Each host keeps
its own rules: runtime speaks AWS JSON 1.0 only and wants a profileArn; q and codewhisperer
refuse Kiro's Builder ID profile; a token used in the wrong region is an "Invalid token".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiclient_trio.simulator.kiro_auth import BUILDER_ID_ARN, Outcome, profile_arn

__all__ = [
    "AWS_JSON",
    "CHAT_FAMILIES",
    "HOSTS",
    "chat_refusal",
    "check_chat_protocol",
    "management_operation",
    "profiles_answer",
    "split_host",
    "usage_limits_answer",
    "wrong_region",
]

AWS_JSON = "application/x-amz-json-1.0"
CHAT_FAMILIES = ("runtime", "q", "codewhisperer")
HOSTS = (*CHAT_FAMILIES, "management")
_CHAT_TARGETS = frozenset(
    {
        "KiroRuntimeService.GenerateAssistantResponse",
        "AmazonCodeWhispererStreamingService.GenerateAssistantResponse",
    }
)
_ARN = re.compile(r"^arn:aws[a-z-]*:codewhisperer:[a-z0-9-]+:\d{12}:profile/[A-Za-z0-9]+$")
_JSON_HEADERS = {"content-type": AWS_JSON}


def split_host(path: str) -> tuple[str, str, str] | None:
    """`/runtime/us-east-1/x` -> ("runtime", "us-east-1", "/x"); None for other paths."""
    parts = path.split("/", 3)
    if len(parts) < 3 or parts[1] not in HOSTS or not parts[2]:
        return None
    return parts[1], parts[2], "/" + (parts[3] if len(parts) > 3 else "")


def _unknown_operation(target: str) -> Outcome:
    return (
        400,
        {
            "__type": "com.amazon.coral.service#UnknownOperationException",
            "message": f"Unknown operation {target or '(none)'}",
        },
        {"x-amzn-errortype": "UnknownOperationException"},
    )


def wrong_region() -> Outcome:
    # What a token gets in a region its account does not live in (KPP).
    return 403, {"message": "Invalid token"}, {"x-amzn-errortype": "AccessDeniedException"}


def check_chat_protocol(
    family: str, method: str, rest: str, headers: Mapping[str, str]
) -> tuple[Outcome, str] | None:
    """A refusal (and why) when the call does not speak this host's protocol."""
    target = headers.get("x-amz-target", "")
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if method != "POST" or rest not in ("/", "/generateAssistantResponse"):
        return (404, {"message": "Not Found"}, {}), f"{family}: no route {method} {rest}"
    if family == "runtime" or rest == "/":
        # AWS JSON 1.0: the operation comes from the target, the body type is fixed.
        if target not in _CHAT_TARGETS:
            return _unknown_operation(target), f"{family}: x-amz-target {target!r}"
        if content_type != AWS_JSON:
            return (
                400,
                {"__type": "SerializationException", "message": "Unsupported content type"},
                {"x-amzn-errortype": "SerializationException"},
            ), f"{family}: content-type {content_type!r} is not {AWS_JSON}"
    elif content_type not in (AWS_JSON, "application/json"):
        return (415, {"message": "Unsupported Media Type"}, {}), f"{family}: {content_type!r}"
    return None


def chat_refusal(
    family: str, kind: str, region: str, body: dict[str, Any]
) -> tuple[Outcome, str] | None:
    """The profileArn rules per host and auth kind (kiro-2026.md sections 3 and 4)."""
    arn = body.get("profileArn")
    if "systemPrompt" in body:
        return _body_invalid("systemPrompt is not a field"), "top-level systemPrompt"
    if arn is not None and (not isinstance(arn, str) or not _ARN.match(arn)):
        return _body_invalid("profileArn is malformed"), f"malformed profileArn {arn!r}"
    if kind == "api_key":
        return None  # a key is bound to its region; no profile
    own = BUILDER_ID_ARN if kind == "builder_id" else profile_arn(kind, region)
    if family == "runtime":
        if arn is None:
            return (
                400,
                {"message": "profileArn is required for this request.", "reason": None},
                {"x-amzn-errortype": "ValidationException"},
            ), "runtime: profileArn missing"
    elif kind == "builder_id" and arn == BUILDER_ID_ARN:
        return _not_authorized(), f"{family}: the Builder ID profile is not accepted here"
    elif kind == "social" and arn is None:
        return _not_authorized(), f"{family}: a social account must send its profileArn"
    if arn is not None and arn != own:
        return _not_authorized(), f"{family}: profileArn {arn} is not the account's ({own})"
    return None


def _body_invalid(message: str) -> Outcome:
    return (
        400,
        {"message": message, "reason": "REQUEST_BODY_INVALID"},
        {"x-amzn-errortype": "ValidationException"},
    )


def _not_authorized() -> Outcome:
    return (
        403,
        {"message": "User is not authorized to make this call.", "reason": None},
        {"x-amzn-errortype": "AccessDeniedException"},
    )


def management_operation(
    target: str, headers: Mapping[str, str]
) -> tuple[str | None, Outcome | None]:
    """(operation name, None) for a known management target, else (None, the refusal)."""
    service, _, operation = target.partition(".")
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    known = {
        "ListAvailableProfiles": ("KiroControlPlaneBearerService", "AmazonCodeWhispererService"),
        "GetUsageLimits": ("KiroControlPlaneBearerService", "AmazonCodeWhispererService"),
        "ListAvailableModels": ("KiroControlPlaneBearerService",),
    }
    if service not in known.get(operation, ()):
        return None, _unknown_operation(target)
    if content_type != AWS_JSON:
        return None, (
            400,
            {"__type": "SerializationException", "message": "Unsupported content type"},
            {},
        )
    return operation, None


def profiles_answer(kind: str, region: str) -> Outcome:
    if kind == "builder_id":
        return (
            403,
            {"message": "AWS Builder ID is not supported for this operation.", "reason": None},
            {"x-amzn-errortype": "AccessDeniedException"},
        )
    arn = profile_arn(kind, region)
    profiles = [{"arn": arn, "profileName": "KiroProfile-" + region}] if arn else []
    return 200, {"profiles": profiles, "nextToken": None}, _JSON_HEADERS


def usage_limits_answer(credits_used: float, credit_limit: float) -> Outcome:
    """GetUsageLimits' answer (kiro-2026.md section 3): credits with their precision."""
    used = round(credits_used, 4)
    return (
        200,
        {
            "usageBreakdownList": [
                {
                    "resourceType": "CREDIT",
                    "currentUsage": int(used),
                    "currentUsageWithPrecision": used,
                    "usageLimit": int(credit_limit),
                    "usageLimitWithPrecision": credit_limit,
                    "overageCap": 0,
                    "bonuses": [],
                    "unit": "credit",
                }
            ],
            "subscriptionInfo": {"subscriptionTitle": "KIRO FREE", "type": "Q_DEVELOPER_FREE"},
            "overageConfiguration": {"overageStatus": "DISABLED"},
            "nextDateReset": 1_900_000_000,
        },
        {"content-type": AWS_JSON},
    )
