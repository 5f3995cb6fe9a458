"""`aiclient auth copilot`: sign in with GitHub (device flow or an existing token).

Also the credential summary shown by `aiclient status` and the revoke used by `auth --logout`.
"""

from __future__ import annotations

import sys
import webbrowser
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import httpx
import trio

from aiclient_trio.config.load import load_config
from aiclient_trio.config.types import Config, CopilotConfig
from aiclient_trio.errors import GatewayError
from aiclient_trio.providers.copilot.auth import (
    StoredCredential,
    TokenRevoked,
    credential_path,
    delete_credential,
    exchange_token,
    fetch_github_login,
    load_credential,
    request_device_code,
    run_device_flow,
    save_credential,
)
from aiclient_trio.upstream import one_off_client

__all__ = [
    "auth_command",
    "credential_summary",
    "device_sign_in",
    "import_github_token",
    "revoke_credentials",
    "web_device_sign_in",
]


async def import_github_token(
    config: CopilotConfig, github_token: str, directory: Path | None = None
) -> StoredCredential:
    """Check `github_token` with one exchange, then store it (0600, atomic)."""
    async with one_off_client() as client:
        try:
            return await _check_and_store(client, config, github_token, directory)
        except TokenRevoked:
            # Nothing was stored: say what is wrong with the token given, not "the stored" one.
            raise TokenRevoked(
                "GitHub rejected this token (HTTP 401): it is revoked or expired, or not an "
                "OAuth token of a Copilot sign-in (personal access tokens cannot get Copilot "
                "tokens); nothing was saved. Sign in with a device code instead: "
                "aiclient auth copilot"
            ) from None


async def _check_and_store(
    client: httpx.AsyncClient, config: CopilotConfig, github_token: str, directory: Path | None
) -> StoredCredential:
    """One exchange proves the token works; then it is stored with the account's login."""
    await exchange_token(client, config, github_token)
    login = await fetch_github_login(client, config, github_token)
    credential = StoredCredential(
        github_token=github_token,
        account_type=config.account_type,
        enterprise_domain=config.enterprise_domain,
        login=login,
    )
    save_credential(credential, directory)
    return credential


async def device_sign_in(
    config: CopilotConfig,
    directory: Path | None = None,
    *,
    echo: Any = print,
    open_browser: bool = False,
) -> StoredCredential:
    """The whole device flow: show the code, poll, check with one exchange, store."""
    async with one_off_client() as client:
        code = await request_device_code(client, config)
        echo(f"Open {code.verification_uri} and enter the code {code.user_code}")
        if open_browser:
            try:
                webbrowser.open(code.verification_uri)
            except Exception:  # a missing browser is not an error
                pass
        github_token = await run_device_flow(client, config, code, on_progress=echo)
        return await _check_and_store(client, config, github_token, directory)


async def web_device_sign_in(
    config: Config,
    on_code: Callable[[str, str, float], None],
    on_progress: Callable[[str], None],
) -> str | None:
    """The device flow for the dashboard: `on_code(user_code, verification_uri, expires_in)`
    once GitHub gave the code, then poll, check and store; returns the account's login."""
    async with one_off_client() as client:
        code = await request_device_code(client, config.copilot)
        on_code(code.user_code, code.verification_uri, code.expires_in)
        github_token = await run_device_flow(client, config.copilot, code, on_progress=on_progress)
        credential = await _check_and_store(client, config.copilot, github_token, None)
        return credential.login


def _load_config() -> Config:
    try:
        return load_config()
    except Exception as exc:  # sign-in works even with a broken config file
        click.echo(f"warning: config not loaded ({exc}); using defaults", err=True)
        return Config()


@click.command("copilot")
@click.option(
    "--account-type",
    type=click.Choice(["individual", "business", "enterprise"]),
    default=None,
    help="Copilot plan kind (only a fallback: the token exchange names the API host).",
)
@click.option("--enterprise-domain", default=None, help="GHE.com domain, e.g. acme.ghe.com.")
@click.option(
    "--github-token",
    default=None,
    help="Import an existing GitHub OAuth token (gho_...) instead of the device flow.",
)
@click.option("--no-browser", is_flag=True, help="Do not try to open a browser.")
def auth_command(
    account_type: str | None,
    enterprise_domain: str | None,
    github_token: str | None,
    no_browser: bool,
) -> None:
    """Sign in to GitHub Copilot.

    \b
    Examples:
      aiclient auth copilot
      aiclient auth copilot --github-token gho_xxx
      aiclient auth copilot --enterprise-domain acme.ghe.com
    """
    config = _load_config().copilot
    changes: dict[str, Any] = {}
    if account_type:
        changes["account_type"] = account_type
    if enterprise_domain:
        changes["enterprise_domain"] = enterprise_domain
    if changes:
        config = replace(config, **changes)

    async def main() -> StoredCredential:
        if github_token:
            return await import_github_token(config, github_token)
        return await device_sign_in(
            config, echo=click.echo, open_browser=not no_browser and sys.stdout.isatty()
        )

    try:
        credential = trio.run(main)
    except GatewayError as exc:
        raise click.ClickException(exc.message) from None
    except httpx.HTTPError as exc:
        raise click.ClickException(f"could not reach GitHub ({type(exc).__name__})") from None
    who = f" as {credential.login}" if credential.login else ""
    click.echo(f"Signed in to GitHub Copilot{who}; token saved to {credential_path()}")


def credential_summary(directory: Path | None = None) -> dict[str, Any]:
    credential = load_credential(directory)
    return {
        "signed_in": credential is not None,
        "account": credential.login if credential else None,
        "expires_at": None,  # GitHub OAuth tokens from the device flow do not expire
        "path": str(credential_path(directory)),
    }


def revoke_credentials(directory: Path | None = None) -> bool:
    return delete_credential(directory)
