"""Upstream URLs per provider, from the providers' own URL helpers, whether a Kiro chat host
still serves the API, and the doctor's calls to them (through the daemon's own transport).

Which upstream base URLs the config (and the stored sign-ins) will make the daemon use, per
provider: the network checks resolve and connect to exactly these.
"""

from __future__ import annotations

from typing import Any

import httpx

from aiclient_trio.config.types import Config, KiroConfig
from aiclient_trio.upstream import blocking_call

__all__ = ["chat_host_state", "kiro_chat_hosts", "provider_urls"]


def _copilot(config: Config, api_url: str | None) -> dict[str, str]:
    """The Copilot API host comes from the token exchange (`api_url`, when the provider checks
    learnt it); without it, the one the plan implies unless GitHub itself is overridden."""
    from aiclient_trio.providers.copilot.auth import (
        capi_fallback_url,
        github_urls,
        load_credential,
    )
    from aiclient_trio.providers.copilot.provider import signed_in_config

    settings = config.copilot
    credential = load_credential()
    if credential is not None:
        settings = signed_in_config(settings, credential)
    _web, api = github_urls(settings)
    urls = {"GitHub API (token exchange)": api}
    if api_url:
        urls["Copilot API"] = api_url
    elif settings.github_api_url.rstrip("/") == "https://api.github.com":
        urls["Copilot API"] = capi_fallback_url(settings)
    return urls


def _kiro_region(settings: KiroConfig, record: dict[str, Any]) -> str:
    """As the provider picks it: configured, else the profile ARN's, else the token's."""
    from aiclient_trio.providers.kiro import endpoints

    region = settings.api_region or endpoints.region_of_arn(record.get("profileArn"))
    if region is None and record.get("region") in endpoints.API_REGIONS:
        region = str(record["region"])
    return region or "us-east-1"


def kiro_chat_hosts(config: Config) -> list[tuple[str, str, str]]:
    """(family, chat URL, x-amz-target) in the order the provider tries them."""
    from aiclient_trio.providers.kiro import endpoints
    from aiclient_trio.providers.kiro.credentials import TokenStore

    settings = config.kiro
    region = _kiro_region(settings, TokenStore().load() or {})
    return [
        (family.name, endpoints.chat_url(settings, family, region), family.chat_target)
        for family in endpoints.family_order(settings, None)
    ]


def _kiro(config: Config) -> dict[str, str]:
    from aiclient_trio.providers.kiro import client, endpoints
    from aiclient_trio.providers.kiro.credentials import TokenStore

    settings = config.kiro
    record = TokenStore().load() or {}
    region = _kiro_region(settings, record)
    urls = {f"Kiro chat ({name})": url for name, url, _target in kiro_chat_hosts(config)}
    urls["Kiro management"] = endpoints.management_url(settings, region)
    kind = endpoints.auth_kind(record)
    if kind == "social":
        urls["Kiro sign-in refresh"] = client.social_base(settings, record.get("region"))
    elif kind in ("idc", "builder_id"):
        urls["AWS SSO OIDC refresh"] = client.oidc_base(settings, record.get("region"))
    return urls


def provider_urls(name: str, config: Config, api_url: str | None = None) -> dict[str, str]:
    """{purpose: base URL} the daemon would call for provider `name`."""
    if name == "copilot":
        return _copilot(config, api_url)
    if name == "kiro":
        return _kiro(config)
    return {}


def chat_host_state(url: str, target: str, timeout: float) -> tuple[bool | None, str]:
    """Does a Kiro chat host still serve the API? One credential-free call (no quota): a
    live host refuses it (400/403), a retired one answers as `auto` fallback reads "gone".
    (True, why) alive, (False, why) gone, (None, why) unreachable."""
    from aiclient_trio.providers.kiro import endpoints

    headers = {"content-type": endpoints.AWS_JSON, "x-amz-target": target}
    try:
        response = blocking_call("POST", url + "/", timeout, headers=headers, content=b"{}")
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if endpoints.moves_to_next_family(response.status_code, response.content):
        return False, f"HTTP {response.status_code}"
    return True, f"HTTP {response.status_code}"
