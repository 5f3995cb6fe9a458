"""Kiro API keys (`ksk_...`, created at app.kiro.dev once an admin enables them).

A key is bound to one region and never refreshed. Sign-in finds the region by asking each
region's management host for the usage limits (kiro-cli's probe, kiro-2026.md section 5):
the key's own region answers 200, the others "Invalid token".
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from aiclient_trio.config.types import KiroConfig
from aiclient_trio.providers.kiro.endpoints import API_REGIONS, management_headers, management_url
from aiclient_trio.providers.kiro.login import LoginError

__all__ = ["KEY_PREFIX", "api_key_record", "check_key", "find_key_region", "mask_key"]

log = logging.getLogger(__name__)
KEY_PREFIX = "ksk_"
_PROBE = {"origin": "AI_EDITOR", "resourceType": "AGENTIC_REQUEST", "isEmailRequired": "true"}


def mask_key(key: str) -> str:
    """`ksk_...wxyz`: enough to tell keys apart, never enough to use one."""
    return f"{KEY_PREFIX}...{key[-4:]}" if len(key) > 12 else f"{KEY_PREFIX}..."


def check_key(key: str) -> str:
    key = key.strip()
    if not key.startswith(KEY_PREFIX) or len(key) < 12 or any(c.isspace() for c in key):
        raise LoginError(
            "that is not a Kiro API key: keys start with ksk_ (create one at "
            "https://app.kiro.dev once your admin has enabled API keys)"
        )
    return key


async def find_key_region(
    http: httpx.AsyncClient, config: KiroConfig, key: str, regions: tuple[str, ...] = API_REGIONS
) -> str:
    """The region whose management host accepts `key` (configured api_region first)."""
    order = [config.api_region] if config.api_region else []
    order += [r for r in regions if r not in order]
    answers: list[str] = []
    for region in order:
        headers = management_headers("", key, kind="api_key", machine="0" * 64, config=config)
        for name in ("x-amz-target", "content-type"):
            headers.pop(name, None)
        url = management_url(config, region) + "/getUsageLimits"
        try:
            response = await http.get(url, params=_PROBE, headers=headers)
        except httpx.HTTPError as exc:
            answers.append(f"{region}: {type(exc).__name__}")
            continue
        if response.status_code == 200:
            return region
        answers.append(f"{region}: HTTP {response.status_code}")
    raise LoginError(
        "Kiro accepted this API key in no region (" + "; ".join(answers) + "). Check that the "
        "key is current at https://app.kiro.dev and that API keys are enabled for you."
    )


def api_key_record(key: str, region: str) -> dict[str, Any]:
    """The token-file record for a key: sent as a bearer with TokenType: API_KEY."""
    return {"authMethod": "api_key", "provider": "ApiKey", "accessToken": key, "region": region}
