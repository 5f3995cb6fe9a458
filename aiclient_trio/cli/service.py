"""User service files and the service manager calls.

`aiclient service install|uninstall|status`: autostart as a systemd user unit or a launchd
agent. The service runs `aiclient start --foreground`; the flock PID file has no stale state
to trip on.

Linux: `$XDG_CONFIG_HOME/systemd/user/aiclient.service` (`Restart=on-failure`, stop by
SIGTERM with time to drain, reload by SIGHUP). macOS: `~/Library/LaunchAgents/<LABEL>.plist`
(`KeepAlive` on failure only). Anything else is refused.

Why the PID file never gets in the way: the daemon holds an exclusive `flock` on it for its
whole life and the kernel drops that lock however the process dies, so a file left by a
crash is recognised as stale and replaced when systemd/launchd restarts the daemon. Before
enabling, `install` stops a daemon started by hand (it holds the lock the service needs).

`systemctl`/`launchctl` are reached through `TOOLS` (a `Tools`), which tests replace.
"""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from aiclient_trio.cli.lifecycle import _stop
from aiclient_trio.config import paths
from aiclient_trio.config.load import ConfigError, default_config_path, load_config
from aiclient_trio.daemon.pidfile import running_pid

__all__ = [
    "LAUNCHD_LABEL",
    "TOOLS",
    "ServiceUnavailable",
    "Tools",
    "UserService",
    "daemon_argv",
    "detect",
    "launchd_plist",
    "service",
    "systemd_unit",
]

UNIT_NAME = "aiclient.service"
LAUNCHD_LABEL = "io.github.aiclient-trio"
# Variables that decide where the daemon finds its config, state and control socket; the
# service gets the installing shell's values so the CLI and the service agree on paths.
PASSED_ENV = ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR", "AICLIENT_CONFIG")


class ServiceUnavailable(Exception):
    """Neither systemd nor launchd can run a user service here."""


class Tools:
    """The outside world the service code touches; tests substitute their own."""

    platform: str = sys.platform

    def which(self, name: str) -> str | None:
        return shutil.which(name)

    def run(self, argv: Sequence[str]) -> tuple[int, str]:
        """Run a service-manager command; (exit status, combined output)."""
        try:
            done = subprocess.run(
                list(argv), capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return 127, str(exc)
        return done.returncode, (done.stdout + done.stderr).strip()


TOOLS = Tools()


def daemon_argv() -> list[str]:
    return [sys.executable, "-m", "aiclient_trio", "start", "--foreground"]


def service_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    return {name: environ[name] for name in PASSED_ENV if environ.get(name)}


def stop_timeout() -> float:
    """Seconds systemd waits after SIGTERM: the drain, its grace, and a margin."""
    from aiclient_trio.daemon.main import DRAIN_GRACE

    try:
        drain = load_config(path=default_config_path()).server.drain_timeout
    except ConfigError:
        drain = 30.0
    return drain + DRAIN_GRACE + 5.0


def _systemd_quote(word: str) -> str:
    word = word.replace("%", "%%").replace("$", "$$")
    if word and not any(c in word for c in " \t\"\\'"):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(argv: Sequence[str], environment: Mapping[str, str], timeout: float) -> str:
    env_lines = [
        f"Environment={_systemd_quote(f'{name}={value}')}"
        for name, value in sorted(environment.items())
    ]
    return "\n".join(
        [
            "# Written by `aiclient service install`; remove with `aiclient service uninstall`.",
            "[Unit]",
            "Description=aiclient: local AI gateway for GitHub Copilot and Kiro",
            "Documentation=https://pypi.org/project/aiclient-trio/",
            # A daemon that cannot start (port taken, bad config) stops being retried.
            "StartLimitIntervalSec=300",
            "StartLimitBurst=5",
            "",
            "[Service]",
            "Type=simple",
            "ExecStart=" + " ".join(_systemd_quote(a) for a in argv),
            "ExecReload=/bin/kill -HUP $MAINPID",
            "Restart=on-failure",
            "RestartSec=5",
            "KillMode=mixed",
            f"TimeoutStopSec={int(timeout)}",
            *env_lines,
            "",
            "[Install]",
            "WantedBy=default.target",
            "",
        ]
    )


def launchd_plist(argv: Sequence[str], environment: Mapping[str, str], log: Path) -> bytes:
    data: dict[str, object] = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": list(argv),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},  # restart after a crash, not after `aiclient stop`
        "ThrottleInterval": 10,
        "ProcessType": "Background",
        "StandardOutPath": str(log),
        "StandardErrorPath": str(log),
    }
    if environment:
        data["EnvironmentVariables"] = dict(environment)
    return plistlib.dumps(data)


@dataclass(frozen=True, slots=True)
class UserService:
    """One platform's service: where its file lives and the manager commands for it."""

    kind: str  # "systemd" | "launchd"
    path: Path
    content: bytes
    enable: tuple[tuple[str, ...], ...]
    disable: tuple[tuple[str, ...], ...]
    probe: tuple[str, ...]  # succeeds when the manager can be talked to
    logs_hint: str
    manual_enable: str
    restart_hint: str

    @property
    def installed(self) -> bool:
        return self.path.exists()


def detect(tools: Tools | None = None) -> UserService:
    """The service for this platform; ServiceUnavailable where neither manager exists."""
    tools = tools or TOOLS
    argv, environment = daemon_argv(), service_environment()
    if tools.platform.startswith("linux"):
        if tools.which("systemctl") is None:
            raise ServiceUnavailable(
                "systemd was not found (no systemctl on PATH), so aiclient cannot be "
                "installed as a service here. Start it from your shell profile instead: "
                "aiclient start"
            )
        path = paths.config_dir().parent / "systemd" / "user" / UNIT_NAME
        unit = systemd_unit(argv, environment, stop_timeout())
        return UserService(
            kind="systemd",
            path=path,
            content=unit.encode(),
            enable=(
                ("systemctl", "--user", "daemon-reload"),
                ("systemctl", "--user", "enable", "--now", UNIT_NAME),
            ),
            disable=(("systemctl", "--user", "disable", "--now", UNIT_NAME),),
            probe=("systemctl", "--user", "show-environment"),
            logs_hint="journalctl --user -u aiclient -f   (or: aiclient logs -f)",
            manual_enable=f"systemctl --user daemon-reload && systemctl --user enable --now "
            f"{UNIT_NAME}",
            restart_hint="systemctl --user restart aiclient",
        )
    if tools.platform == "darwin":
        if tools.which("launchctl") is None:
            raise ServiceUnavailable("launchctl was not found, so launchd cannot be used")
        domain = f"gui/{os.getuid()}"
        path = Path.home() / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
        log = paths.state_dir() / "launchd.log"
        return UserService(
            kind="launchd",
            path=path,
            content=launchd_plist(argv, environment, log),
            enable=(("launchctl", "bootstrap", domain, str(path)),),
            disable=(("launchctl", "bootout", f"{domain}/{LAUNCHD_LABEL}"),),
            probe=("launchctl", "print", domain),
            logs_hint=f"aiclient logs -f   (start-up crashes: {log})",
            manual_enable=f"launchctl bootstrap {domain} {path}",
            restart_hint=f"launchctl kickstart -k {domain}/{LAUNCHD_LABEL}",
        )
    raise ServiceUnavailable(
        f"no supported service manager on {tools.platform} (systemd on Linux and launchd on "
        "macOS are supported). Start aiclient from your login script instead: aiclient start"
    )


def _detect_or_exit() -> UserService:
    try:
        return detect()
    except ServiceUnavailable as exc:
        raise click.ClickException(str(exc)) from None


def _manager_reachable(svc: UserService) -> tuple[bool, str]:
    code, output = TOOLS.run(svc.probe)
    return code == 0, output.splitlines()[0] if output else f"exit status {code}"


def _run_all(commands: Sequence[Sequence[str]]) -> str | None:
    """Run `commands` in order; the first failure's description, or None."""
    for argv in commands:
        code, output = TOOLS.run(argv)
        if code != 0:
            return f"`{' '.join(argv)}` failed ({output or f'exit status {code}'})"
    return None


@click.group("service")
def service() -> None:
    """Start aiclient automatically at login (systemd user unit or launchd agent).

    The service runs `aiclient start --foreground` and restarts it after a crash.

    \b
    Examples:
      aiclient service install
      aiclient service status
      aiclient service uninstall
    """


@service.command("install")
@click.option("--no-start", is_flag=True, help="Enable for the next login but do not start now.")
def install(no_start: bool) -> None:
    """Write and enable the user service, replacing a running daemon.

    Run it again after upgrading to refresh the file and restart the service.

    \b
    Examples:
      aiclient service install
      aiclient service install --no-start
      loginctl enable-linger "$USER"      # Linux: run even when you are not logged in
    """
    svc = _detect_or_exit()
    reinstall = svc.installed
    svc.path.parent.mkdir(parents=True, exist_ok=True)
    svc.path.write_bytes(svc.content)
    click.echo(f"wrote {svc.kind} service {svc.path}:")
    click.echo(svc.content.decode().rstrip())
    reachable, why = _manager_reachable(svc)
    if not reachable:
        click.echo(
            f"\n{svc.kind} is not reachable from here ({why}); the service is written but not "
            f"enabled. From a login session run:\n  {svc.manual_enable}"
        )
        return
    commands = svc.enable
    if no_start and svc.kind == "systemd":
        commands = (svc.enable[0], ("systemctl", "--user", "enable", UNIT_NAME))
    else:
        if reinstall and svc.kind == "launchd":
            _run_all(svc.disable)  # launchd refuses to bootstrap a loaded agent again
        _stop_running_daemon()
    failure = _run_all(commands)
    if failure:
        raise click.ClickException(f"{failure}. Enable it by hand: {svc.manual_enable}")
    click.echo(f"\nenabled{'' if no_start and svc.kind == 'systemd' else ' and started'}.")
    click.echo(f"Logs:    {svc.logs_hint}")
    click.echo(f"Restart: {svc.restart_hint}   (`aiclient restart` would start it outside)")
    click.echo("Stop:    aiclient stop   (a clean stop is not restarted)")


def _stop_running_daemon() -> None:
    """A running daemon holds the PID lock the service's daemon needs: stop it first."""

    if running_pid(paths.pid_file()) is not None:
        click.echo("stopping the running daemon; the service starts it again")
        _stop(None)


@service.command("uninstall")
def uninstall_command() -> None:
    """Stop and disable the user service and delete its file.

    \b
    Example:
      aiclient service uninstall
    """
    svc = _detect_or_exit()
    click.echo(remove_service(svc) or "no aiclient service is installed")


def remove_service(svc: UserService) -> str | None:
    """Disable and delete an installed service; a report line, or None if none was installed."""
    if not svc.installed:
        return None
    reachable, why = _manager_reachable(svc)
    note = ""
    if reachable:
        failure = _run_all(svc.disable)
        if failure:
            note = f" ({failure})"
    else:
        note = f" ({svc.kind} not reachable: {why}; it was not stopped)"
    svc.path.unlink()
    for directory in (svc.path.parent, svc.path.parent.parent):
        try:
            directory.rmdir()  # only when empty: other units and agents stay
        except OSError:
            break
    if reachable and svc.kind == "systemd":
        TOOLS.run(("systemctl", "--user", "daemon-reload"))
    return f"removed {svc.kind} service {svc.path}{note}"


def service_state(svc: UserService) -> dict[str, object]:
    state: dict[str, object] = {
        "kind": svc.kind,
        "path": str(svc.path),
        "installed": svc.installed,
        "current": svc.installed and svc.path.read_bytes() == svc.content,
    }
    reachable, why = _manager_reachable(svc)
    state["manager"] = "reachable" if reachable else f"not reachable: {why}"
    if reachable and svc.kind == "systemd":
        for word in ("is-enabled", "is-active"):
            _code, output = TOOLS.run(("systemctl", "--user", word, UNIT_NAME))
            state[word.removeprefix("is-")] = output.splitlines()[0] if output else "unknown"
    elif reachable:
        code, _output = TOOLS.run(("launchctl", "print", f"{svc.probe[-1]}/{LAUNCHD_LABEL}"))
        state["active"] = "loaded" if code == 0 else "not loaded"
    return state


@service.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_command(as_json: bool) -> None:
    """Show whether the service is installed, enabled and running.

    \b
    Examples:
      aiclient service status
      aiclient service status --json
    """

    svc = _detect_or_exit()
    state = service_state(svc)
    if as_json:
        click.echo(json.dumps(state, indent=2))
        return
    if not state["installed"]:
        click.echo(f"no aiclient {svc.kind} service installed (run: aiclient service install)")
        return
    click.echo(f"{svc.kind} service {svc.path}")
    if not state["current"]:
        click.echo("  the file differs from what this version writes (reinstall to update)")
    for key in ("manager", "enabled", "active"):
        if key in state:
            click.echo(f"  {key:8} {state[key]}")
    click.echo(f"  logs     {svc.logs_hint}")
