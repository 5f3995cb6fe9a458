"""Config and provider commands, registered on the `aiclient` group by `aiclient_trio.cli.main`.

`aiclient config ...` and `aiclient provider ...`: the config file and runtime provider
switches. Changes are validated and written here, then applied to a running daemon over the
control socket.
"""

from __future__ import annotations

import json
from typing import Any

import click
import tomli_w

from aiclient_trio.cli.completion import complete_providers
from aiclient_trio.cli.lifecycle import call_daemon, fail, load_or_exit
from aiclient_trio.config.file import restore_text, set_value, write_starter
from aiclient_trio.config.load import (
    ConfigError,
    config_to_dict,
    default_config_path,
    parse_text_value,
)
from aiclient_trio.providers import registry

__all__ = ["config", "provider"]


# -- config -----------------------------------------------------------------------------------


@click.group()
def config() -> None:
    """Show and change the configuration file.

    \b
    Examples:
      aiclient config init
      aiclient config show --json
      aiclient config set server.port 8080
      aiclient config set models.aliases.sonnet copilot/claude-sonnet-4.5
      aiclient config reload
    """


@config.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing file without asking.")
def config_init(force: bool) -> None:
    """Write a commented starter config file.

    \b
    Example:
      aiclient config init && $EDITOR ~/.config/aiclient/config.toml
    """

    path = default_config_path()
    if (
        path.exists()
        and not force
        and not click.confirm(f"{path} exists. Overwrite it?", default=False)
    ):
        fail("left the existing file unchanged (use --force to overwrite)")
    write_starter(path)
    click.echo(f"wrote {path}")


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    return value


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def config_show(as_json: bool) -> None:
    """Print the effective config (flags > env > file > defaults), secrets masked.

    When the daemon runs, shows the config it is using.

    \b
    Examples:
      aiclient config show
      aiclient config show --json | jq .server
    """
    running = call_daemon("config.show", required=False)
    if running is not None:
        data, source = running["config"], f"running daemon (file {running['path']})"
    else:
        data, source = config_to_dict(load_or_exit()), f"{default_config_path()} + environment"
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return

    click.echo(f"# effective config from the {source}")
    click.echo(tomli_w.dumps(_clean(data)), nl=False)


# Negative numbers are values, not options: `aiclient config set upstream.retries -1`.
@config.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("value")
def config_set(key: str, value: str) -> None:
    """Set KEY (dotted) to VALUE in the config file and apply it to a running daemon.

    Lists are comma-separated. An empty VALUE unsets an optional key.

    \b
    Examples:
      aiclient config set logging.level debug
      aiclient config set server.port 8080          # needs `aiclient restart`
      aiclient config set providers.kiro.enabled false
      aiclient config set models.aliases.fast copilot/gpt-4.1,kiro/claude-haiku-4.5
    """

    path = default_config_path()
    try:
        before = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        before = None
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror}")
    try:
        set_value(path, key, parse_text_value(key, value, "config set"))
    except ConfigError as exc:
        fail(f"{exc} ({path} left unchanged)")
    try:
        result = call_daemon("config.reload", required=False)
    except click.ClickException as exc:
        # The running daemon refused what the file now says: put the file back as it was,
        # so a refused `config set` changes nothing.
        restore_text(path, before)
        fail(f"{exc.message} ({path} left unchanged)")
    click.echo(f"set {key} in {path}")
    _report_reload(result)
    _report_start_flag(key, value)


# `aiclient start` flags that override the file (daemon start_flags key -> flag).
_START_FLAGS = {"server.host": "--host", "server.port": "--port", "logging.file": "--log-file"}


def _report_start_flag(key: str, value: str) -> None:
    """The running daemon's start flag wins over the file, and `restart` reuses it: say so."""
    flag = _START_FLAGS.get(key)
    if flag is None:
        return
    status = call_daemon("status", {"quota": False}, required=False) or {}
    given = (status.get("start_flags") or {}).get(key)
    if given is not None:
        click.echo(
            f"note: the running daemon was started with {flag} {given}, which overrides the "
            f"file (and `aiclient restart` reuses it); to switch: aiclient restart {flag} {value}"
        )


def _report_reload(result: dict[str, Any] | None) -> None:
    if result is None:
        click.echo("(the daemon is not running; the change applies at the next start)")
        return
    changed = result.get("changed") or []
    click.echo(
        "running daemon updated" + (f": {', '.join(changed)}" if changed else " (no change)")
    )
    if result.get("needs_restart"):
        click.echo(
            f"needs restart to apply: {', '.join(result['needs_restart'])} (run: aiclient restart)"
        )


@config.command("reload")
def config_reload() -> None:
    """Make the running daemon re-read its config file (same as SIGHUP).

    An invalid file is refused and the daemon keeps its running config.

    \b
    Example:
      $EDITOR "$(aiclient config path)" && aiclient config reload
    """
    _report_reload(call_daemon("config.reload"))


@config.command("path")
def config_path() -> None:
    """Print the config file's path.

    \b
    Example:
      aiclient config path
    """
    click.echo(str(default_config_path()))


# -- providers, models, usage -------------------------------------------------------------------


@click.group()
def provider() -> None:
    """Enable or disable a provider (takes effect at once and is saved in the config).

    \b
    Examples:
      aiclient provider disable kiro
      aiclient provider enable kiro
    """


def _set_provider(name: str, enabled: bool) -> None:

    result = call_daemon(
        "provider.enable" if enabled else "provider.disable", {"name": name}, required=False
    )
    word = "enabled" if enabled else "disabled"
    if result is not None:
        click.echo(f"{name} {word} (running daemon updated, saved in the config file)")
        return
    if name not in registry.PROVIDER_NAMES:
        fail(f"unknown provider {name!r}; known: {', '.join(registry.PROVIDER_NAMES)}")
    try:
        set_value(default_config_path(), f"providers.{name}.enabled", enabled)
    except ConfigError as exc:
        fail(str(exc))
    click.echo(f"{name} {word} in {default_config_path()} (the daemon is not running)")


@provider.command("enable")
@click.argument("name", shell_complete=complete_providers)
def provider_enable(name: str) -> None:
    """Enable provider NAME (copilot, kiro).

    \b
    Example:
      aiclient provider enable kiro
    """
    _set_provider(name, True)


@provider.command("disable")
@click.argument("name", shell_complete=complete_providers)
def provider_disable(name: str) -> None:
    """Disable provider NAME (copilot, kiro).

    \b
    Example:
      aiclient provider disable kiro
    """
    _set_provider(name, False)
