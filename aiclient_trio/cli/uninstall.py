"""Removal plan and its execution.

`aiclient uninstall`: stop the daemon, drop the service, delete config, credentials, state.
Shows exactly what goes before asking; the package itself is left to the installer that owns
it.

`removal_plan()` lists what exists on disk (labelled, never read); `aiclient uninstall`
prints it, asks (`--yes` skips), removes the user service (which stops a service-run
daemon), stops a hand-started daemon, deletes the paths and prints the command that
removes the Python package.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import click

from aiclient_trio.cli import service
from aiclient_trio.cli.lifecycle import _stop
from aiclient_trio.cli.version_check import PACKAGE, upgrade_command
from aiclient_trio.config import paths
from aiclient_trio.config.load import ConfigError, default_config_path, load_config
from aiclient_trio.config.paths import log_path
from aiclient_trio.daemon.pidfile import running_pid

__all__ = ["Removal", "removal_plan", "remove", "uninstall", "uninstall_command_hint"]


@dataclass(frozen=True, slots=True)
class Removal:
    label: str
    path: Path


def _inside(path: Path, directory: Path) -> bool:
    return path.resolve().is_relative_to(directory.resolve())


def _size(path: Path) -> str:
    if path.is_symlink() or not path.is_dir():
        total, files = path.lstat().st_size, 1
    else:
        found = [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
        total, files = sum(p.stat().st_size for p in found), len(found)
    amount = f"{total / 1024:.1f} KiB" if total >= 1024 else f"{total} B"
    return f"{files} file{'s' if files != 1 else ''}, {amount}"


def _configured_log() -> Path | None:

    try:
        return log_path(load_config(path=default_config_path()))
    except ConfigError:
        return None


def removal_plan(*, keep_config: bool = False) -> list[Removal]:
    """Everything aiclient keeps on disk that exists now (the service file not included)."""

    config_dir, config_file = paths.config_dir(), default_config_path()
    plan: list[Removal] = []
    if config_dir.exists():
        for child in sorted(config_dir.iterdir()):
            if child == config_file:
                if not keep_config:
                    plan.append(Removal("config file", child))
            elif child.is_dir() and not child.is_symlink():
                plan.append(Removal(f"{child.name} credentials", child))
            else:
                plan.append(Removal("other file", child))
    if not keep_config and config_file.exists() and not _inside(config_file, config_dir):
        plan.append(Removal("config file (AICLIENT_CONFIG)", config_file))
    state = paths.state_dir()
    if state.exists():
        plan.append(Removal("usage ledger and logs", state))
    log = _configured_log()
    if log is not None and not _inside(log, state):
        for path in sorted([log, *log.parent.glob(log.name + ".*")]):
            if path.exists():
                plan.append(Removal("log file (logging.file)", path))
    runtime = paths.runtime_dir()
    if runtime.exists():
        plan.append(Removal("runtime files (PID file, control socket)", runtime))
    return plan


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def uninstall_command_hint() -> str:

    upgrade = upgrade_command()
    if upgrade.startswith("pipx "):
        return f"pipx uninstall {PACKAGE}"
    if upgrade.startswith("uv "):
        return f"uv tool uninstall {PACKAGE}"
    return upgrade.replace("install --upgrade", "uninstall")


@click.command("uninstall")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--keep-config", is_flag=True, help="Keep the config file (credentials still go).")
def uninstall(yes: bool, keep_config: bool) -> None:
    """Stop aiclient and delete its service, config, credentials, ledger, logs and runtime files.

    Shows exactly what will be removed and asks first. The Python package stays installed:
    the last line is the command that removes it.

    \b
    Examples:
      aiclient uninstall
      aiclient uninstall --keep-config --yes
    """

    try:
        unit: service.UserService | None = service.detect()
    except service.ServiceUnavailable:
        unit = None
    plan = removal_plan(keep_config=keep_config)
    pid = running_pid(paths.pid_file())
    installed = unit is not None and unit.installed
    if not plan and not installed and pid is None:
        click.echo("nothing of aiclient's is on disk")
    else:
        click.echo("This will:")
        if pid is not None:
            click.echo(f"  stop the running daemon (PID {pid})")
        if unit is not None and installed:
            click.echo(f"  remove the {unit.kind} service  {unit.path}")
        for item in plan:
            click.echo(f"  delete {item.label}  {item.path}  ({_size(item.path)})")
        if keep_config:
            click.echo("  (keeping the config file)")
        if not yes:
            click.confirm("Go ahead?", abort=True)
        if unit is not None and installed:
            click.echo(service.remove_service(unit))
        if running_pid(paths.pid_file()) is not None:
            _stop(None)
        for item in removal_plan(keep_config=keep_config):  # again: stopping wrote to the log
            remove(item.path)
            click.echo(f"deleted {item.path}")
        if not keep_config and paths.config_dir().exists():
            try:
                paths.config_dir().rmdir()
            except OSError:  # something new appeared meanwhile: leave it to the user
                click.echo(f"left {paths.config_dir()} (not empty)")
    click.echo(f"To remove the program too, run:\n  {uninstall_command_hint()}")
