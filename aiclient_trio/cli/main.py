"""`aiclient`: local AI gateway for GitHub Copilot and Kiro.

The `aiclient` command line: the group, models, usage, logs, auth, demo and env commands.
Lifecycle commands live in cli.lifecycle, config/provider commands in cli.config.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from aiclient_trio import __version__
from aiclient_trio.cli import client_env
from aiclient_trio.cli.completion import complete_models, completion
from aiclient_trio.cli.config import config, provider
from aiclient_trio.cli.dashboard import dashboard
from aiclient_trio.cli.doctor import doctor
from aiclient_trio.cli.lifecycle import (
    NOT_RUNNING,
    call_daemon,
    fail,
    load_or_defaults,
    load_or_exit,
    probe_url,
    restart,
    signed_out_note,
    start,
    status,
    stop,
)
from aiclient_trio.cli.ops import auth_list, auth_revoke, models
from aiclient_trio.cli.service import service
from aiclient_trio.cli.uninstall import uninstall
from aiclient_trio.cli.usage_report import format_usage
from aiclient_trio.cli.version_check import version
from aiclient_trio.config.paths import UnsafePath, log_path
from aiclient_trio.providers import registry

__all__ = ["main"]


class _Group(click.Group):
    """The command group; a runtime path that is not ours ends any command with the reason."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UnsafePath as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aiclient")
def main() -> None:
    """aiclient: local AI gateway for GitHub Copilot and Kiro.

    Serves your Copilot and Kiro subscriptions as OpenAI- and Anthropic-compatible APIs on
    localhost.

    \b
    Examples:
      aiclient auth copilot      # sign in once
      aiclient start             # run the gateway in the background
      aiclient status
      aiclient models
      aiclient stop
    """


for _command in (start, stop, restart, status):
    main.add_command(_command)


for _group in (config, provider):
    main.add_command(_group)

# Operations: models, service, uninstall, version, completion (auth list/revoke below).
for _command in (models, service, uninstall, version, completion, dashboard, doctor):
    main.add_command(_command)


@main.command()
@click.option("--since", help="Start: a duration ago (24h, 7d, 30m) or an ISO date/time.")
@click.option("--until", help="End, same forms as --since.")
@click.option(
    "--by",
    "--group",
    "group",
    type=click.Choice(["model", "provider", "day"]),
    default="model",
    show_default=True,
    help="Rows per model, provider or day.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def usage(since: str | None, until: str | None, group: str, as_json: bool) -> None:
    """Requests and tokens recorded by the running daemon, and each provider's quota.

    \b
    Examples:
      aiclient usage
      aiclient usage --since 7d --by day
      aiclient usage --since 2026-11-01 --json
    """
    params = {"group": group, **{k: v for k, v in (("since", since), ("until", until)) if v}}
    result = call_daemon("usage", params)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return

    click.echo(format_usage(result))  # includes one quota line per provider


# -- logs ---------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--lines", "-n", default=50, show_default=True, type=click.IntRange(0), help="How many lines."
)
@click.option(
    "--level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Only lines at or above this level.",
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
def logs(lines: int, level: str | None, follow: bool) -> None:
    """Show the daemon's log file (works whether or not it runs).

    \b
    Examples:
      aiclient logs
      aiclient logs --level warning --lines 200
      aiclient logs -f
    """
    from aiclient_trio.log import tail_lines

    running = call_daemon("status", {"quota": False}, required=False)
    if running and running.get("log_file"):
        path = Path(running["log_file"])  # the daemon's own, even if the file is broken now
    else:
        path = log_path(load_or_defaults("log file location"))
    if not path.exists():
        fail(f"no log file at {path} yet (start the daemon with: aiclient start)")
    # Follow from exactly where the tail stopped, so no line is lost or printed twice.
    start = path.stat()
    for line in tail_lines(path, lines, level, end=start.st_size):
        click.echo(line)
    if follow:
        try:
            _follow(path, level, start.st_ino, start.st_size)
        except KeyboardInterrupt:
            pass


def _follow(path: Path, level: str | None, inode: int, offset: int) -> None:

    from aiclient_trio.log import line_level

    minimum = logging.getLevelNamesMapping()[level.upper()] if level else 0
    keep = True
    handle = path.open("rb")
    if os.fstat(handle.fileno()).st_ino == inode:
        handle.seek(offset)
    else:  # rotated since the tail: the new file is all new
        inode = os.fstat(handle.fileno()).st_ino
    pending = b""
    try:
        while True:
            data = handle.read()
            if data:
                pending += data
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    line = raw.decode("utf-8", errors="replace")
                    found = line_level(line)
                    if found is not None:
                        keep = found >= minimum
                    if keep:
                        click.echo(line)
                continue
            try:
                rotated = path.stat().st_ino != inode
            except FileNotFoundError:
                rotated = False
            if rotated:  # the file rotated: continue with the new one
                handle.close()
                handle = path.open("rb")
                inode = path.stat().st_ino
                continue
            sys.stdout.flush()
            time.sleep(0.3)
    finally:
        handle.close()


# -- auth -----------------------------------------------------------------------------------------


class AuthGroup(click.Group):
    """`aiclient auth <provider>` loads each provider's command lazily."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *registry.PROVIDER_NAMES])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in registry.PROVIDER_NAMES:
            return command
        try:
            command = registry.auth_command(cmd_name)
            command.short_help = SHORT_HELP.get(("auth", cmd_name), command.short_help)
            return command
        except (ImportError, AttributeError) as exc:
            reason = f"{type(exc).__name__}: {exc}"

            @click.command(cmd_name, help=f"Sign in to {cmd_name} (unavailable in this build).")
            def unavailable() -> None:
                fail(f"sign-in for {cmd_name} is not available in this build ({reason})")

            return unavailable


@main.group(cls=AuthGroup)
def auth() -> None:
    """Sign in to providers, list stored credentials, revoke them.

    \b
    Examples:
      aiclient auth copilot        # GitHub device-code sign-in
      aiclient auth kiro           # import Kiro IDE / AWS SSO credentials
      aiclient auth list
      aiclient auth revoke kiro
    """


auth.add_command(auth_list)
auth.add_command(auth_revoke)


# -- demo and client setup ------------------------------------------------------------------------


@main.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9090,
    show_default=True,
    help="Port for the gateway (0 picks a free one).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="Log level of the lines printed to stderr.",
)
def demo(port: int, host: str, log_level: str) -> None:
    """Try aiclient without any account: the real gateway plus simulated Copilot and Kiro.

    Starts, in this terminal, the gateway and simulated GitHub, Copilot and Kiro services
    (temporary home, simulated sign-ins), then prints the URL, the models and ready-to-paste
    setups for curl, the OpenAI and Anthropic SDKs, Claude Code and Codex. Ctrl-C stops it.
    A non-loopback --host gets a generated API key (printed).

    \b
    Examples:
      aiclient demo
      aiclient demo --port 0
    """
    from aiclient_trio.cli.demo import DemoOptions
    from aiclient_trio.cli.demo import main as demo_main

    sys.exit(demo_main(DemoOptions(host=host, port=port, log_level=log_level)))


@main.command("env")
@click.argument(
    "client", type=click.Choice(["claude-code", "codex", "openai", "anthropic", "curl"])
)
@click.option(
    "--model",
    "-m",
    help="Model to use (default: a suitable one of the daemon's).",
    shell_complete=complete_models,
)
@click.option("--url", help="Gateway URL (default: the running daemon's, else the config's).")
@click.option(
    "--show-key", is_flag=True, help="Print the configured api_key instead of a placeholder."
)
def env(client: str, model: str | None, url: str | None, show_key: bool) -> None:
    """Print the setup lines for CLIENT against the running gateway.

    CLIENT is claude-code, codex, openai, anthropic or curl. claude-code and codex print
    shell to paste or eval: for Claude Code the variables, including those that keep it from
    calling home; for Codex a profile ($CODEX_HOME/aiclient.config.toml, wire_api =
    "responses") used with `codex --profile aiclient`. openai and anthropic print the
    variables and a Python example.

    \b
    Examples:
      aiclient env claude-code
      eval "$(aiclient env claude-code --model kiro/claude-sonnet-4.5)" && claude
      eval "$(aiclient env codex)" && codex --profile aiclient
      aiclient env openai
    """

    config = load_or_exit()
    status_info = call_daemon("status", {"quota": False}, required=False)
    models_info = call_daemon("models", required=False) if status_info is not None else None
    if url is None:
        if status_info is not None and status_info.get("url"):
            url = probe_url(str(status_info["url"]))
        else:
            host = config.server.host
            url = probe_url(f"http://{f'[{host}]' if ':' in host else host}:{config.server.port}")
            click.echo(f"# {NOT_RUNNING}; using the configured address", err=True)
    note = signed_out_note(status_info) if status_info is not None else None
    if note:
        click.echo(f"# {note}", err=True)  # stderr: the printed lines stay eval-able
    api_key = config.api_key
    if api_key and not show_key:
        api_key = "<your aiclient api_key>"
    entries = models_info["models"] if models_info else []
    endpoint = client_env.endpoint_from_models(url, api_key, entries)
    if model and models_info and not client_env.knows_model(models_info, model):
        click.echo(
            f"# warning: the running gateway does not serve {model!r}; see `aiclient models`",
            err=True,
        )
    click.echo(client_env.render(client, endpoint, model))


# -- one-line summaries for the command lists (click cuts long first sentences mid-phrase) --------

SHORT_HELP: dict[tuple[str, ...], str] = {
    ("completion",): "Print the shell completion script (bash, zsh, fish).",
    ("dashboard",): "Open the daemon's web dashboard (or print its URL).",
    ("demo",): "Try it without an account: gateway + simulated upstreams.",
    ("doctor",): "Check the setup end to end; say what is wrong and the fix.",
    ("models",): "List the ready providers' models, limits and aliases.",
    ("provider",): "Enable or disable a provider (at once, and saved).",
    ("restart",): "Stop the daemon if it runs, then start it again.",
    ("service",): "Start aiclient at login (systemd user unit / launchd).",
    ("status",): "Is the daemon running: URL, uptime, providers, quota.",
    ("stop",): "Stop the daemon after in-flight requests finish.",
    ("uninstall",): "Remove aiclient's service, config, credentials and data.",
    ("usage",): "Requests, tokens and premium requests; upstream quotas.",
    ("version",): "Print the version; --check asks PyPI for a newer one.",
    ("auth", "kiro"): "Sign in to Kiro (IDE/CLI import, Builder ID, SSO, social).",
    ("auth", "list"): "Show each provider's credential: account, expiry, file.",
    ("auth", "revoke"): "Delete a provider's stored credential.",
    ("config", "set"): "Set KEY to VALUE in the file and apply it at once.",
    ("config", "show"): "Print the effective config (secrets masked).",
}


def _apply_short_help(group: click.Group, prefix: tuple[str, ...] = ()) -> None:
    for name, command in group.commands.items():
        path = (*prefix, name)
        command.short_help = SHORT_HELP.get(path, command.short_help)
        if isinstance(command, click.Group):
            _apply_short_help(command, path)


_apply_short_help(main)
