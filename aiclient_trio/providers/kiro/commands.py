"""`aiclient auth kiro`: import Kiro IDE / kiro-cli credentials or sign in, and the summary.

Import is the simple path (the Kiro IDE keeps its token fresh too); the device flow and
social PKCE sign-in mint our own tokens. Secrets are never printed.
"""

from __future__ import annotations

import os
import sys
import time
import webbrowser
from pathlib import Path
from typing import Any

import click
import trio

from aiclient_trio.config.load import load_config
from aiclient_trio.config.types import KiroConfig
from aiclient_trio.providers.kiro import credentials as creds
from aiclient_trio.providers.kiro.apikey import (
    api_key_record,
    check_key,
    find_key_region,
    mask_key,
)
from aiclient_trio.providers.kiro.login import (
    BUILDER_ID_START_URL,
    DeviceCode,
    LoginError,
    device_login,
    social_login,
)
from aiclient_trio.upstream import one_off_client

__all__ = ["auth_command", "credential_summary", "revoke_credentials", "web_import"]


def _kiro_config() -> KiroConfig:
    try:
        return load_config().kiro
    except Exception:  # a broken config file must not block signing in
        return KiroConfig()


def credential_summary() -> dict[str, Any]:
    """{"signed_in", "account", "expires_at", "path"} (never a secret)."""
    store = creds.TokenStore()
    record = store.load() or {}
    account = None
    if record.get("authMethod") == "api_key":
        key = str(record.get("accessToken") or "")
        account = f"API key {mask_key(key)} ({record.get('region') or 'region unknown'})"
    elif record:
        who = record.get("provider") or record.get("authMethod") or "Kiro"
        arn = str(record.get("profileArn") or "")
        account = f"{who} ({arn.rsplit('/', 1)[-1]})" if arn else str(who)
    return {
        "signed_in": bool(record.get("refreshToken") or record.get("authMethod") == "api_key"),
        "account": account,
        "expires_at": creds.parse_expires_at(record.get("expiresAt")),
        "path": str(store.path),
    }


def revoke_credentials() -> bool:
    return creds.TokenStore().delete()


def _save(record: dict[str, Any], origin: str) -> None:
    store = creds.TokenStore()
    store.save(record, replace=True)
    expires = creds.parse_expires_at(record.get("expiresAt"))
    left = (
        f", access token valid for {max(0, int((expires - time.time()) / 60))} min"
        if expires
        else ""
    )
    click.echo(f"kiro: signed in ({origin}{left}); saved to {store.path}")


async def _open_browser(url: str, enabled: bool) -> None:
    click.echo(f"Open this URL to sign in:\n  {url}")
    if enabled:
        await trio.to_thread.run_sync(webbrowser.open, url)


async def _device(config: KiroConfig, start_url: str, region: str, browser: bool) -> dict[str, Any]:
    def on_code(code: DeviceCode) -> None:
        click.echo(f"Code: {code.user_code}  (expires in {int(code.expires_in / 60)} min)")
        click.echo(f"Open {code.verification_uri} and enter it, or open:")
        click.echo(f"  {code.verification_uri_complete}")
        if browser:
            webbrowser.open(code.verification_uri_complete)

    async with one_off_client() as http:
        return await device_login(
            http,
            config,
            on_code=on_code,
            on_progress=lambda message: click.echo(message),
            region=region,
            start_url=start_url,
        )


async def _social(config: KiroConfig, idp: str, browser: bool) -> dict[str, Any]:
    async with one_off_client() as http:
        return await social_login(
            http, config, idp=idp, open_browser=lambda url: _open_browser(url, browser)
        )


def _import(kind: str, path: str | None) -> None:
    try:
        if kind == "ide":
            record = creds.import_ide_cache(Path(path) if path else None)
        else:
            record = creds.import_cli_db(Path(path) if path else None)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot import Kiro credentials: {exc}") from None
    _save(record, f"imported from {record['source']['path']}")


def web_import(source: str) -> str:
    """Import the Kiro IDE ("ide") or kiro-cli ("cli") token for the dashboard; returns where
    it came from. ValueError/OSError say what is missing."""
    if source == "ide":
        record = creds.import_ide_cache()
    elif source == "cli":
        record = creds.import_cli_db()
    else:
        raise ValueError(f"unknown Kiro token source {source!r}; use 'ide' or 'cli'")
    creds.TokenStore().save(record, replace=True)
    return str(record["source"]["path"])


def _read_api_key() -> str:
    """From KIRO_API_KEY, else stdin (piped, or typed without echo): never from argv."""
    key = os.environ.get("KIRO_API_KEY", "")
    if not key:
        if sys.stdin.isatty():
            key = str(click.prompt("Kiro API key (ksk_...)", hide_input=True))
        else:
            key = sys.stdin.readline()
    try:
        return check_key(key)
    except LoginError as exc:
        raise click.ClickException(exc.message) from None


async def _api_key_sign_in(config: KiroConfig, key: str) -> dict[str, Any]:
    click.echo("kiro: finding the API key's region...")
    async with one_off_client() as http:
        region = await find_key_region(http, config, key)
    return api_key_record(key, region)


@click.command("kiro")
@click.option(
    "--import-ide",
    "import_ide",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[DIR]",
    help="Import the Kiro IDE token (~/.aws/sso/cache/kiro-auth-token.json).",
)
@click.option(
    "--import-cli",
    "import_cli",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[DB]",
    help="Import from kiro-cli's SQLite store (~/.local/share/kiro-cli/data.sqlite3).",
)
@click.option("--builder-id", is_flag=True, help="Sign in with AWS Builder ID (device code).")
@click.option("--start-url", help="IAM Identity Center start URL (device code sign-in).")
@click.option("--region", default="us-east-1", show_default=True, help="Identity Center region.")
@click.option("--social", type=click.Choice(["google", "github"]), help="Google/GitHub sign-in.")
@click.option(
    "--api-key",
    "api_key",
    is_flag=True,
    help="Use a Kiro API key (ksk_...), read from KIRO_API_KEY or stdin, never the command line.",
)
@click.option("--no-browser", is_flag=True, help="Print the URL instead of opening a browser.")
def auth_command(
    import_ide: str | None,
    import_cli: str | None,
    builder_id: bool,
    start_url: str | None,
    region: str,
    social: str | None,
    api_key: bool,
    no_browser: bool,
) -> None:
    """Sign in to Kiro: import the Kiro IDE / kiro-cli token, or sign in yourself.

    \b
    Examples:
      aiclient auth kiro                     # import the Kiro IDE token if present, else ask
      aiclient auth kiro --import-cli
      aiclient auth kiro --builder-id        # AWS Builder ID device code
      aiclient auth kiro --start-url https://my.awsapps.com/start --region eu-west-1
      aiclient auth kiro --social github
      KIRO_API_KEY=ksk_... aiclient auth kiro --api-key
      aiclient auth kiro --api-key < key.txt
    """
    config = _kiro_config()
    browser = not no_browser
    if api_key:
        key = _read_api_key()
        try:
            record = trio.run(_api_key_sign_in, config, key)
        except LoginError as exc:
            raise click.ClickException(exc.message) from None
        _save(record, f"API key {mask_key(key)}, region {record['region']}")
        return
    if import_ide is not None:
        _import("ide", import_ide or None)
        return
    if import_cli is not None:
        _import("cli", import_cli or None)
        return
    if not (builder_id or start_url or social):
        if (creds.IDE_CACHE_DIR / creds.IDE_TOKEN_FILE).exists():
            _import("ide", None)
            return
        if any(p.exists() for p in creds.CLI_DB_PATHS):
            _import("cli", None)
            return
        choice = click.prompt(
            "No Kiro IDE or kiro-cli token found. Sign in with",
            type=click.Choice(["builder-id", "google", "github", "identity-center"]),
            default="builder-id",
        )
        if choice in ("google", "github"):
            social = choice
        elif choice == "identity-center":
            start_url = click.prompt("Identity Center start URL")
            region = click.prompt("Region", default=region)
        else:
            builder_id = True
    try:
        if social:
            record = trio.run(_social, config, social, browser)
            _save(record, f"{social} sign-in")
        else:
            url = start_url or BUILDER_ID_START_URL
            record = trio.run(_device, config, url, region, browser)
            _save(record, "Builder ID" if url == BUILDER_ID_START_URL else "Identity Center")
    except LoginError as exc:
        raise click.ClickException(exc.message) from None
