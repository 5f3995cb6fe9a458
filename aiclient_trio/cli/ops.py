"""Models and credential commands.

`aiclient models` and `aiclient auth list|revoke`: what the daemon serves and what is
stored. Views are pure functions over the control replies; the commands only fetch and
print.

`model_listing(status, models, default_provider)` joins the daemon's `status`, `models` and
`config.show` replies: only ready providers' models, each with the aliases that reach it.
`format_models()` renders that as a table; `format_credentials()` renders
`registry.credential_summary()` dicts with expiry, storage place and live daemon state.
`auth revoke` deletes the file, then has the daemon restart the provider, which comes back
unauthenticated at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from aiclient_trio.cli.completion import complete_providers
from aiclient_trio.cli.lifecycle import call_daemon
from aiclient_trio.providers import registry

__all__ = [
    "auth_list",
    "auth_revoke",
    "format_credentials",
    "format_models",
    "model_listing",
    "models",
    "when",
]

# How long `auth revoke` waits to see the restarted provider report its new state.
SETTLE_TIMEOUT = 5.0

_FORMATS = {"openai_chat": "openai", "anthropic": "anthropic", "responses": "responses"}


def _norm(name: str) -> str:
    return name.lower().replace(".", "-")


def model_listing(
    status: Mapping[str, Any],
    models: Mapping[str, Any],
    default_provider: str,
    only: str | None = None,
) -> dict[str, Any]:
    """{"models": [...+aliases], "aliases": {...}, "providers": {...}, "unresolved": {...}}.

    `unresolved` maps an alias to its targets no ready provider serves; `only` restricts
    models, providers and unresolved targets to one provider.
    """
    providers: dict[str, Any] = dict(status.get("providers") or {})
    ready = {n for n, s in providers.items() if s.get("state") in ("ready", "refreshing")}
    listed = [
        dict(m)
        for m in models.get("models") or []
        # The daemon's rule (Provider.listed_models), kept here for an older daemon's reply.
        if m.get("provider") in ready
        and m.get("enabled", True)
        and only in (None, m.get("provider"))
    ]
    by_key = {(m["provider"], _norm(str(m.get("upstream_id") or ""))): m for m in listed}
    for entry in listed:
        entry["aliases"] = []
    aliases: dict[str, list[str]] = {k: list(v) for k, v in (models.get("aliases") or {}).items()}
    unresolved: dict[str, list[str]] = {}
    for alias, targets in sorted(aliases.items()):
        for target in targets:
            head, sep, rest = target.partition("/")
            provider, model = (
                (head, rest) if sep and head in providers else (default_provider, target)
            )
            found = by_key.get((provider, _norm(model)))
            if found is not None:
                found["aliases"].append(alias)
            elif only in (None, provider):
                unresolved.setdefault(alias, []).append(target)
    if only is not None:
        providers = {only: providers[only]} if only in providers else {}
    return {"models": listed, "aliases": aliases, "providers": providers, "unresolved": unresolved}


def _tokens(value: Any) -> str:
    if not isinstance(value, int) or value <= 0:
        return "-"
    return f"{value // 1000}k" if value % 1000 == 0 or value >= 10000 else str(value)


def _premium(value: Any) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value:g}x"


def _features(model: Mapping[str, Any]) -> str:
    if model.get("kind") == "embeddings":
        return "embeddings"
    names = [
        word
        for word, key in (
            ("tools", "supports_tools"),
            ("vision", "supports_vision"),
            ("thinking", "supports_thinking"),
        )
        if model.get(key)
    ]
    return ",".join(names) or "-"


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def format_models(listing: Mapping[str, Any]) -> str:
    rows = [
        [
            m["id"],
            _tokens(m.get("context_window")),
            _tokens(m.get("max_output_tokens")),
            _features(m),
            ",".join(_FORMATS.get(f, f) for f in m.get("upstream_formats") or []) or "-",
            _premium(m.get("premium_multiplier")),
            ",".join(m.get("aliases") or []) or "-",
        ]
        for m in listing["models"]
    ]
    lines: list[str] = []
    if rows:
        headers = ["model", "context", "max out", "features", "speaks", "premium", "aliases"]
        lines.append(_table(headers, rows, right={1, 2, 5}))
    else:
        lines.append("no models: no provider is ready (see below)")
    for name, state in sorted(listing["providers"].items()):
        if state.get("state") in ("ready", "refreshing"):
            continue
        reason = f": {state['reason']}" if state.get("reason") else ""
        fix = f" (fix: {state['fix']})" if state.get("fix") else ""
        lines.append(f"{name} not listed, it is {state.get('state')}{reason}{fix}")
    for alias, targets in sorted(listing["unresolved"].items()):
        lines.append(
            f"alias {alias}: {' | '.join(targets)} not served by a ready provider (skipped)"
        )
    return "\n".join(lines)


def when(epoch: float, now: float | None = None) -> str:
    """`2026-11-27 09:00 UTC (in 52m)` / `(3h ago)`."""
    now = time.time() if now is None else now
    stamp = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
    delta = abs(epoch - now)
    if delta >= 86400 * 2:
        span = f"{int(delta // 86400)}d"
    elif delta >= 3600:
        span = f"{int(delta // 3600)}h {int(delta % 3600 // 60):02d}m"
    else:
        span = f"{int(delta // 60)}m"
    return f"{stamp} ({'in ' + span if epoch >= now else span + ' ago'})"


def format_credentials(
    summaries: Mapping[str, Mapping[str, Any]],
    live: Mapping[str, Any] | None,
    now: float | None = None,
) -> str:
    """One block per provider; `live` is the daemon's providers status, None without one."""
    lines: list[str] = []
    for name, info in summaries.items():
        if info.get("error"):
            lines.append(f"{name}: {info['error']}")
            continue
        if info.get("signed_in"):
            account = f" as {info['account']}" if info.get("account") else ""
            lines.append(f"{name}: signed in{account}")
            expires = info.get("expires_at")
            if isinstance(expires, int | float):
                verb = "expires" if expires >= (now or time.time()) else "expired"
                lines.append(f"  access token {verb} {when(expires, now)}; renewed automatically")
            else:
                lines.append("  credential does not expire")
            lines.append(f"  stored in {info.get('path')}")
        else:
            lines.append(f"{name}: not signed in (run: aiclient auth {name})")
        if live is not None:
            state = live.get(name) or {}
            reason = f" ({state['reason']})" if state.get("reason") else ""
            lines.append(f"  daemon: {state.get('state', 'unknown')}{reason}")
    if live is None:
        lines.append("(the daemon is not running; states above are from the files on disk)")
    return "\n".join(lines)


# -- commands -------------------------------------------------------------------------------------


@click.command("models")
@click.option(
    "--provider", "only", help="Only this provider's models.", shell_complete=complete_providers
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models(only: str | None, as_json: bool) -> None:
    """List the models of every ready provider, their limits, features and aliases.

    Columns: context window and max output tokens, features (tools, vision, thinking), the
    formats the upstream itself speaks for the model (relayed without translation), the
    premium-request multiplier where known, and the aliases (`[models.aliases]`) that point
    at the model. Needs the running daemon.

    \b
    Examples:
      aiclient models
      aiclient models --provider kiro
      aiclient models --json | jq -r '.models[].id'
    """
    status = call_daemon("status")
    if only is not None and only not in (status.get("providers") or {}):
        known = ", ".join(sorted(status.get("providers") or {}))
        raise click.ClickException(f"unknown provider {only!r}; known: {known}")
    result = call_daemon("models")
    shown = call_daemon("config.show")
    default_provider = str((shown.get("config") or {}).get("default_provider") or "copilot")
    listing = model_listing(status, result, default_provider, only)
    if as_json:
        click.echo(json.dumps(listing, indent=2))
    else:
        click.echo(format_models(listing))


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def auth_list(as_json: bool) -> None:
    """Show each provider's stored credential: account, expiry, where it is (never the secret).

    With the daemon running, also each provider's live state.

    \b
    Examples:
      aiclient auth list
      aiclient auth list --json
    """
    summaries: dict[str, Any] = {}
    for name in registry.PROVIDER_NAMES:
        try:
            summaries[name] = registry.credential_summary(name)
        except (ImportError, AttributeError) as exc:
            summaries[name] = {"signed_in": False, "error": f"unavailable in this build: {exc}"}
    status = call_daemon("status", required=False)
    live = status.get("providers") if isinstance(status, dict) else None
    if as_json:
        for name, info in summaries.items():
            if live is not None:
                info["daemon_state"] = (live.get(name) or {}).get("state")
        click.echo(json.dumps(summaries, indent=2))
        return
    click.echo(format_credentials(summaries, live))


def _settled_state(name: str) -> dict[str, Any]:
    """The restarted provider's state once it has looked at its (now missing) credential."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        status = call_daemon("status", required=False) or {}
        state: dict[str, Any] = (status.get("providers") or {}).get(name) or {}
        if state.get("state") not in (None, "starting") or time.monotonic() > deadline:
            return state
        time.sleep(0.05)  # polling another process: there is nothing to wait on


@click.command("revoke")
@click.argument("name", type=click.Choice(list(registry.PROVIDER_NAMES)))
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def auth_revoke(name: str, yes: bool) -> None:
    """Delete the stored credential of provider NAME; a running daemon drops it at once.

    Credentials held elsewhere (the Kiro IDE's own sign-in, your GitHub account's
    authorised apps) are not touched.

    \b
    Examples:
      aiclient auth revoke kiro
      aiclient auth revoke copilot --yes
    """
    try:
        summary = registry.credential_summary(name)
    except (ImportError, AttributeError) as exc:
        raise click.ClickException(
            f"{name} credentials cannot be managed in this build: {exc}"
        ) from None
    where = summary.get("path")
    if not summary.get("signed_in") and not (where and Path(str(where)).exists()):
        click.echo(f"{name}: no stored credentials at {where}; nothing to delete")
        return
    if not yes:
        click.echo(f"{name} credential file: {where}")
        click.confirm(f"Delete the stored {name} credentials?", abort=True)
    deleted = registry.revoke(name)
    click.echo(f"{name}: deleted {where}" if deleted else f"{name}: no stored credentials")
    reloaded = call_daemon("provider.reload", {"name": name}, required=False)
    if reloaded is None:
        click.echo("(the daemon is not running)")
    elif not reloaded.get("restarted"):
        click.echo(f"the running daemon does not run {name} (disabled)")
    else:
        state = _settled_state(name)
        click.echo(f"the running daemon now reports {name}: {state.get('state', 'unknown')}")
