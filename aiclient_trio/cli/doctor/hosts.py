# Which upstream base URLs the config (and the stored sign-ins) will make the daemon use, per
# provider: the network checks resolve and connect to exactly these.
"""Upstream URLs per provider, from the providers' own URL helpers."""

from __future__ import annotations

from aiclient_trio.config.types import Config

__all__ = ["provider_urls"]


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


def _kiro(config: Config) -> dict[str, str]:
    from aiclient_trio.providers.kiro import client
    from aiclient_trio.providers.kiro.credentials import TokenStore
    from aiclient_trio.providers.kiro.endpoints import management_url

    settings = config.kiro
    record = TokenStore().load() or {}
    arn = record.get("profileArn")
    api_region = client.api_region(settings, arn or None)
    urls = {
        "Kiro API": client.api_base(settings, api_region),
        "Kiro management": management_url(settings, api_region),
    }
    method = str(record.get("authMethod") or "social").lower()
    region = record.get("region")
    if method == "social":
        urls["Kiro sign-in refresh"] = client.social_base(settings, region)
    elif method != "api_key":
        urls["AWS SSO OIDC refresh"] = client.oidc_base(settings, region)
    return urls


def provider_urls(name: str, config: Config, api_url: str | None = None) -> dict[str, str]:
    """{purpose: base URL} the daemon would call for provider `name`."""
    if name == "copilot":
        return _copilot(config, api_url)
    if name == "kiro":
        return _kiro(config)
    return {}
