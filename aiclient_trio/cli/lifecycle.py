"""Lifecycle commands, registered on the `aiclient` group by `aiclient_trio.cli.main`.

`aiclient start|stop|restart|status`: the daemon's lifecycle seen from the command line. The
PID file's lock says whether a daemon runs; the control socket and /healthz say it is ready.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import httpx

from aiclient_trio import __version__
from aiclient_trio.cli.usage_report import format_quota
from aiclient_trio.config import paths
from aiclient_trio.config.load import ConfigError, default_config_path, load_config
from aiclient_trio.config.paths import log_path
from aiclient_trio.config.types import Config
from aiclient_trio.daemon.control import ControlClient, ControlError, DaemonNotRunning
from aiclient_trio.daemon.pidfile import AlreadyRunning, is_our_daemon, running_pid

if TYPE_CHECKING:
    from aiclient_trio.daemon.main import Extensions

__all__ = [
    "Launch",
    "call_daemon",
    "daemon_status",
    "fail",
    "load_or_exit",
    "restart",
    "start",
    "status",
    "stop",
]

POLL = 0.1


@dataclass(frozen=True, slots=True)
class Launch:
    """How `start` and `restart` run the daemon: the command that runs the detached daemon
    (followed by `start --foreground ...`) and the extensions it runs with. `aiclient` uses
    the defaults; a program embedding the command line passes its own as click's `obj`
    (`main(args, obj=Launch(...))`, as tests/aiclient_entry.py does)."""

    command: tuple[str, ...] = (sys.executable, "-m", "aiclient_trio")
    extensions: Extensions | None = None


def _launch() -> Launch:
    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(Launch) if ctx is not None else None
    return found if found is not None else Launch()


def _overrides(
    host: str | None, port: int | None, api_key: str | None, log_file: str | None
) -> dict[str, Any]:
    return {
        k: v
        for k, v in {
            "server.host": host,
            "server.port": port,
            "api_key": api_key,
            "logging.file": log_file,
        }.items()
        if v is not None
    }


NOT_RUNNING = "aiclient is not running. Start it with: aiclient start"


def call_daemon(method: str, params: dict[str, Any] | None = None, *, required: bool = True) -> Any:
    """Call the running daemon; without one, exit with a hint (or return None if optional)."""
    try:
        return ControlClient(paths.control_socket()).call(method, params)
    except DaemonNotRunning:
        if required:
            raise click.ClickException(NOT_RUNNING) from None
        return None
    except ControlError as exc:
        raise click.ClickException(exc.message) from None


def fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def load_or_exit(overrides: dict[str, Any] | None = None) -> Config:
    try:
        return load_config(cli_overrides=overrides, path=default_config_path())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def load_or_defaults(purpose: str) -> Config:
    """The config, or the defaults with a warning: commands that rescue a user from a broken
    file (stop, logs) must not fail on it."""
    try:
        return load_config(path=default_config_path())
    except ConfigError as exc:
        click.echo(f"warning: {exc}\n(using the default {purpose})", err=True)
        return Config()


def probe_url(url: str) -> str:
    """A URL a local client can reach (wildcard binds answer on loopback)."""
    return url.replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://[::1]:")


def _healthy(url: str) -> bool:

    try:
        response = httpx.get(probe_url(url) + "/healthz", timeout=2.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def daemon_status(timeout: float = 5.0, *, quota: bool = False) -> dict[str, Any] | None:
    """The running daemon's `status` answer (with the upstream quotas when `quota`); None
    when no daemon answers in `timeout` seconds."""
    try:
        result: dict[str, Any] = ControlClient(paths.control_socket(), timeout=timeout).call(
            "status", {"quota": quota}
        )
    except (DaemonNotRunning, ControlError, OSError, ValueError):
        return None
    return result


def signed_out_note(status: dict[str, Any]) -> str | None:
    """What to say when no provider can answer because none is signed in (None when one is
    ready, or may still become ready): the sign-in command of each signed-out provider."""
    providers = [p for p in (status.get("providers") or {}).values() if isinstance(p, dict)]
    if any(p.get("state") in ("ready", "refreshing", "starting") for p in providers):
        return None
    fixes = [
        str(p["fix"]) for p in providers if p.get("state") == "unauthenticated" and p.get("fix")
    ]
    if not fixes:
        return None
    return f"no provider is signed in, so requests will fail; sign in with: {' or '.join(fixes)}"


def _log_tail_since(path: Path, offset: int, lines: int = 20) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(offset if path.stat().st_size >= offset else 0)
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(text.splitlines()[-lines:]) or "(the log is empty)"


def _spawn(
    config: Config,
    host: str | None,
    port: int | None,
    api_key: str | None,
    log_file: str | None,
    wait: float,
) -> None:
    from aiclient_trio.daemon.main import check_bind_safety

    try:
        check_bind_safety(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    pid = running_pid(paths.pid_file())
    if pid is not None:
        current = daemon_status()
        where = f" at {current['url']}" if current and current.get("url") else ""
        raise click.ClickException(
            f"aiclient is already running (PID {pid}){where}. Use `aiclient restart` to restart it."
        )
    log = log_path(config)
    log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    offset = log.stat().st_size if log.exists() else 0
    argv = [*_launch().command, "start", "--foreground", "--detached-child"]
    for flag, value in (("--host", host), ("--port", port), ("--log-file", log_file)):
        if value is not None:
            argv += [flag, str(value)]
    env = dict(os.environ)
    if api_key is not None:
        env["AICLIENT_API_KEY"] = api_key  # not on argv: other users can read process lists
    click.echo("Starting aiclient...", err=True)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise click.ClickException(
                f"the daemon exited with status {code} during start-up. "
                f"Last log lines ({log}):\n{_log_tail_since(log, offset)}"
            )
        current = daemon_status(timeout=1.0)
        if current and current.get("url") and _healthy(current["url"]):
            click.echo(f"aiclient {__version__} running at {current['url']} (PID {current['pid']})")
            click.echo(f"Logs: {log}   Stop: aiclient stop")
            note = signed_out_note(current)
            if note:
                click.echo(f"Note: {note}")
            proc.returncode = 0  # detached on purpose: do not warn that it still runs
            return
        time.sleep(POLL)
    proc.terminate()
    proc.wait(5)
    raise click.ClickException(
        f"the daemon did not become ready within {wait:g}s and was stopped. "
        f"Last log lines ({log}):\n{_log_tail_since(log, offset)}"
    )


_START_HELP = """Start the gateway daemon in the background.

Waits until it answers on its control socket and on /healthz, then prints the URL and PID.

\b
Examples:
  aiclient start
  aiclient start --port 8080
  aiclient start --host 0.0.0.0 --api-key "$(openssl rand -hex 16)"
  aiclient start --foreground        # stay attached, log to stderr
"""


def _common_flags(func: Any) -> Any:
    func = click.option(
        "--log-file",
        type=click.Path(dir_okay=False),
        help="Log file (default: $XDG_STATE_HOME/aiclient/aiclient.log).",
    )(func)
    func = click.option(
        "--api-key", help="API key clients must send (overrides config and AICLIENT_API_KEY)."
    )(func)
    func = click.option(
        "--port", type=click.IntRange(0, 65535), help="Port (default 9090; 0 picks a free one)."
    )(func)
    func = click.option("--host", help="Address to listen on (default 127.0.0.1).")(func)
    return func


@click.command(help=_START_HELP)
@_common_flags
@click.option("--foreground", is_flag=True, help="Run in this terminal instead of detaching.")
@click.option(
    "--wait",
    default=20.0,
    show_default=True,
    help="Seconds to wait for the daemon to become ready.",
)
@click.option("--detached-child", is_flag=True, hidden=True)
def start(
    host: str | None,
    port: int | None,
    api_key: str | None,
    log_file: str | None,
    foreground: bool,
    wait: float,
    detached_child: bool,
) -> None:
    overrides = _overrides(host, port, api_key, log_file)
    config = load_or_exit(overrides)
    if not foreground:
        _spawn(config, host, port, api_key, log_file, wait)
        return
    from aiclient_trio.daemon.main import DaemonOptions, Extensions, run_daemon

    try:
        code = run_daemon(
            DaemonOptions(
                cli_overrides=overrides,
                config_path=default_config_path(),
                stderr_logging=not detached_child,
                extensions=_launch().extensions or Extensions(),
            )
        )
    except AlreadyRunning as exc:
        raise click.ClickException(f"{exc}. Use `aiclient stop` or `aiclient restart`.") from None
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot start: {exc}") from None
    sys.exit(code)


def _stop(timeout: float | None) -> bool:
    """Stop a running daemon; False if none was running."""
    pid_path = paths.pid_file()
    pid = running_pid(pid_path)
    if pid is None:
        return False
    if pid <= 0:
        raise click.ClickException(
            f"a daemon holds {pid_path} but its PID is unreadable; stop it by hand"
        )
    if not is_our_daemon(pid):
        raise click.ClickException(
            f"{pid_path} names PID {pid}, which is not an aiclient daemon of yours; nothing was "
            f"signalled. Remove {pid_path} if no aiclient runs."
        )
    if timeout is None:
        config = load_or_defaults("stop timeout")
        timeout = max(10.0, config.server.drain_timeout + 5.0)
    click.echo(f"Stopping aiclient (PID {pid})...", err=True)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    told = False
    while running_pid(pid_path) is not None:
        if time.monotonic() > deadline:
            click.echo(
                f"warning: PID {pid} still running after {timeout:g}s; "
                "sending SIGKILL (in-flight requests are cut)",
                err=True,
            )
            os.kill(pid, signal.SIGKILL)
            kill_deadline = time.monotonic() + 5
            while running_pid(pid_path) is not None and time.monotonic() < kill_deadline:
                time.sleep(POLL)
            break
        if not told and time.monotonic() > deadline - timeout + 1:
            click.echo("waiting for in-flight requests to finish...", err=True)
            told = True
        time.sleep(POLL)
    click.echo(f"aiclient stopped (PID {pid})")
    return True


@click.command()
@click.option(
    "--timeout",
    type=float,
    help="Seconds to wait before SIGKILL (default: the larger of 10 and server.drain_timeout + 5).",
)
def stop(timeout: float | None) -> None:
    """Stop the daemon: SIGTERM, let in-flight requests finish, SIGKILL after --timeout.

    \b
    Examples:
      aiclient stop
      aiclient stop --timeout 3
    """
    if not _stop(timeout):
        click.echo("aiclient is not running")


@click.command()
@_common_flags
@click.option("--timeout", type=float, help="Seconds to wait for the old daemon before SIGKILL.")
@click.option("--wait", default=20.0, show_default=True, help="Seconds to wait for the new daemon.")
def restart(
    host: str | None,
    port: int | None,
    api_key: str | None,
    log_file: str | None,
    timeout: float | None,
    wait: float,
) -> None:
    """Stop the daemon if it runs, then start it again (picks up host/port changes).

    --host, --port and --log-file given to the running daemon's `start` are reused unless
    given again; --api-key is not (it is never read back from the daemon).

    \b
    Examples:
      aiclient restart
      aiclient restart --port 8080
    """
    previous = (daemon_status() or {}).get("start_flags") or {}
    host = host if host is not None else previous.get("server.host")
    port = port if port is not None else previous.get("server.port")
    log_file = log_file if log_file is not None else previous.get("logging.file")
    config = load_or_exit(_overrides(host, port, api_key, log_file))
    _stop(timeout)
    _spawn(config, host, port, api_key, log_file, wait)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def format_status(info: dict[str, Any]) -> str:
    rss = info.get("rss_bytes")
    lines = [
        f"aiclient {info.get('version')} running (PID {info.get('pid')}), "
        f"up {_duration(info.get('uptime', 0))}" + ("  [draining]" if info.get("draining") else ""),
        f"  URL        {info.get('url') or '(not listening yet)'}",
        f"  Requests   {info.get('active_requests', 0)} active",
        f"  Memory     {rss / 1048576:.1f} MiB RSS" if rss else "  Memory     unknown",
        f"  Log        {info.get('log_file')}",
        "  Providers",
    ]

    providers = info.get("providers", {})
    quotas = info.get("quota") or {}
    width = max((len(n) for n in providers), default=0)
    for name, state in providers.items():
        line = f"    {name.ljust(width)}  {state.get('state')}"
        if state.get("reason"):
            line += f": {state['reason']}"
        if state.get("fix") and state.get("state") not in ("ready", "refreshing"):
            line += f"  -> fix: {state['fix']}"
        details = state.get("details") or {}
        if details.get("family"):  # the Kiro host family in use, and its region
            line += f"  [{details['family']} host, {details.get('region')}]"
        if name in quotas:
            line += f"  ({format_quota(quotas[name])})"
        lines.append(line)
    if info.get("reloads", {}).get("last_error"):
        lines.append(f"  Last config reload failed: {info['reloads']['last_error']}")
    return "\n".join(lines)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Show whether the daemon runs, its URL, uptime, providers, requests and memory.

    Exits with status 3 when the daemon is not running.

    \b
    Examples:
      aiclient status
      aiclient status --json | jq .providers
    """
    pid = running_pid(paths.pid_file())
    info = daemon_status(quota=True) if pid is not None else None
    if info is None:
        if as_json:
            click.echo(json.dumps({"running": False, "pid": pid}))
        elif pid is not None:
            click.echo(
                f"aiclient (PID {pid}) holds the PID file but its control socket "
                "does not answer; see `aiclient logs`."
            )
        else:
            click.echo("aiclient is not running. Start it with: aiclient start")
        sys.exit(3)
    click.echo(json.dumps(info, indent=2) if as_json else format_status(info))
