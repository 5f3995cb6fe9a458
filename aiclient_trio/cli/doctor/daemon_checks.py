"""`aiclient doctor`: the daemon group.

Daemon checks: running, listening where the config says, Host allow-list, API key, control
socket, ledger, log rotation. Without a daemon: why not (port taken?), and what was skipped.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from pathlib import Path
from typing import Any

import httpx

from aiclient_trio import __version__
from aiclient_trio.cli.doctor.context import DoctorContext
from aiclient_trio.cli.lifecycle import daemon_status, probe_url
from aiclient_trio.config import paths
from aiclient_trio.config.load import is_loopback
from aiclient_trio.daemon.control import ControlClient, ControlError, DaemonNotRunning
from aiclient_trio.daemon.pidfile import running_pid

__all__ = ["check_daemon", "port_in_use"]

GROUP = "daemon"
_FOREIGN_HOST = "doctor-rebinding-check.invalid"
_SKIPPED = "skipped: the daemon is not running"


def port_in_use(host: str, port: int) -> str | None:
    """Why `aiclient start` could not listen on host:port now (None: it could)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as hypercorn does
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use by another program"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"{host} is not an address of this machine"
            if exc.errno == errno.EACCES:
                return f"port {port} needs privileges (ports below 1024 are reserved)"
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


def _url(status: dict[str, Any]) -> str:

    return probe_url(str(status.get("url") or "")).rstrip("/")


def _not_running(ctx: DoctorContext) -> None:
    config = ctx.effective_config
    host, port = config.server.host, config.server.port
    pid = running_pid(paths.pid_file())
    if pid is not None:
        ctx.checklist.fail(
            GROUP,
            "running",
            f"PID {pid} holds the daemon's lock but does not answer on {paths.control_socket()}",
            f"aiclient restart (if it hangs: kill {pid}, then aiclient start)",
        )
    else:
        busy = port_in_use(host, port)
        if busy:
            ctx.checklist.fail(
                GROUP,
                "running",
                f"not running, and it could not start: {busy}",
                "stop the program on that port (`ss -ltnp` names it), or move aiclient: "
                f"aiclient config set server.port {port + 1 if port else 9091}",
            )
        else:
            ctx.checklist.fail(
                GROUP,
                "running",
                f"not running (port {port} on {host} is free)",
                "aiclient start",
            )
    for name in ("listening", "host allow-list", "api key", "control socket", "ledger", "logs"):
        ctx.checklist.skip(GROUP, name, _SKIPPED)


def _check_listening(ctx: DoctorContext, status: dict[str, Any], client: httpx.Client) -> bool:
    config = ctx.effective_config
    url = _url(status)
    try:
        response = client.get(url + "/healthz")
    except httpx.HTTPError as exc:
        ctx.checklist.fail(
            GROUP,
            "listening",
            f"the daemon says it listens on {url} but /healthz fails: {type(exc).__name__}",
            "aiclient restart",
        )
        return False
    if response.status_code != 200:
        ctx.checklist.fail(
            GROUP,
            "listening",
            f"{url}/healthz answered HTTP {response.status_code}",
            "aiclient restart",
        )
        return False
    host, port = config.server.host, config.server.port
    wanted = f"{f'[{host}]' if ':' in host else host}:{port}"
    bound = [str(u) for u in status.get("urls") or []]
    if port and not any(u.rstrip("/").endswith(wanted) for u in bound):
        ctx.checklist.warn(
            GROUP,
            "listening",
            f"listening on {', '.join(bound)} but the config says {wanted} "
            "(started with --host/--port, or the config changed since)",
            "aiclient restart (to use the config's address)",
        )
    else:
        ctx.checklist.ok(GROUP, "listening", f"{url} answers /healthz")
    return True


def _check_host_guard(ctx: DoctorContext, status: dict[str, Any], client: httpx.Client) -> None:
    url = _url(status)
    try:
        response = client.get(url + "/healthz", headers={"Host": _FOREIGN_HOST})
    except httpx.HTTPError as exc:
        ctx.checklist.warn(GROUP, "host allow-list", f"could not check: {type(exc).__name__}")
        return
    allowed = ctx.effective_config.server.allowed_hosts
    extra = f"; also allowed: {', '.join(allowed)}" if allowed else ""
    if response.status_code == 200:
        ctx.checklist.fail(
            GROUP,
            "host allow-list",
            f"a request with Host {_FOREIGN_HOST} was served: web pages could reach the gateway "
            "through DNS rebinding",
            "upgrade aiclient, then aiclient restart",
        )
    else:
        ctx.checklist.ok(
            GROUP,
            "host allow-list",
            f"foreign Host names are refused (HTTP {response.status_code}){extra}",
        )


def _check_api_key(ctx: DoctorContext, status: dict[str, Any], client: httpx.Client) -> None:

    url = _url(status)
    key = ctx.effective_config.api_key
    try:
        bare = client.get(url + "/v1/models")
        keyed = client.get(url + "/v1/models", headers={"x-api-key": key}) if key else bare
    except httpx.HTTPError as exc:
        ctx.checklist.warn(GROUP, "api key", f"could not check: {type(exc).__name__}")
        return
    if key:
        if keyed.status_code == 401:
            ctx.checklist.fail(
                GROUP,
                "api key",
                "the daemon refuses the api_key of the config file (it was started with "
                "another one: --api-key or AICLIENT_API_KEY)",
                "aiclient restart (then clients use the config's key)",
            )
        elif bare.status_code != 401:
            ctx.checklist.fail(
                GROUP,
                "api key",
                f"a request without the key got HTTP {bare.status_code}, not 401",
                "aiclient restart",
            )
        else:
            ctx.checklist.ok(GROUP, "api key", "required, and the configured key works")
        return
    if bare.status_code == 401:
        ctx.checklist.warn(
            GROUP,
            "api key",
            "the daemon wants a key the config file does not have (--api-key or "
            "AICLIENT_API_KEY at start)",
            "aiclient config set api_key <key>, then aiclient restart",
        )
        return
    hosts = [str(u) for u in status.get("urls") or []]
    exposed = [u for u in hosts if not is_loopback(u.split("//")[-1].rsplit(":", 1)[0])]
    if exposed:
        ctx.checklist.fail(
            GROUP,
            "api key",
            f"no api_key, and listening beyond loopback: {', '.join(exposed)}",
            "aiclient config set api_key <secret>, then aiclient restart",
        )
    else:
        ctx.checklist.ok(GROUP, "api key", "none set; loopback only, so none needed")


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def _check_control(ctx: DoctorContext) -> None:
    sock, directory = paths.control_socket(), paths.runtime_dir()
    sock_mode, dir_mode = _mode(sock), _mode(directory)
    if (sock_mode or 0) & 0o077 or (dir_mode or 0) & 0o077:
        ctx.checklist.fail(
            GROUP,
            "control socket",
            f"{sock} is {sock_mode or 0:04o} in a {dir_mode or 0:04o} directory: other users "
            "could control the daemon",
            f"chmod 700 '{directory}'; chmod 600 '{sock}'",
        )
    else:
        ctx.checklist.ok(GROUP, "control socket", f"{sock} (0600, directory 0700) answers")


def _check_ledger(ctx: DoctorContext) -> None:
    from aiclient_trio.daemon.main import ledger_path

    config = ctx.effective_config
    if not config.ledger.enabled:
        ctx.checklist.ok(GROUP, "ledger", "disabled in the config (ledger.enabled = false)")
        return
    path = ledger_path()
    where = path if path.exists() else path.parent
    if where.exists() and not os.access(where, os.W_OK):
        ctx.checklist.fail(
            GROUP,
            "ledger",
            f"{where} is not writable: usage is not being recorded",
            f"chmod u+w '{where}' (or fix its owner), then aiclient restart",
        )
        return
    try:
        ControlClient(paths.control_socket(), timeout=ctx.options.timeout).call(
            "usage", {"since": "1h"}
        )
    except (DaemonNotRunning, ControlError, OSError, ValueError) as exc:
        ctx.checklist.warn(GROUP, "ledger", f"the daemon could not read it: {exc}", "aiclient logs")
        return
    ctx.checklist.ok(GROUP, "ledger", f"{path} writable and readable")


def _check_logs(ctx: DoctorContext, status: dict[str, Any]) -> None:
    config = ctx.effective_config.logging
    path = Path(str(status.get("log_file") or ""))
    try:
        size = path.stat().st_size
    except OSError:
        ctx.checklist.warn(
            GROUP, "logs", f"no log file at {path}", "aiclient restart (it recreates the log)"
        )
        return
    if not os.access(path, os.W_OK):
        ctx.checklist.fail(GROUP, "logs", f"{path} is not writable", f"chmod u+w '{path}'")
        return
    rotated = sorted(path.parent.glob(path.name + ".*"))
    # The file rotates when a line would take it past max_bytes; well past it means it does not.
    if size > 2 * config.max_bytes + 65536:
        ctx.checklist.warn(
            GROUP,
            "logs",
            f"{path} is {size // 1024} KiB, over twice logging.max_bytes: it is not rotating",
            "aiclient restart",
        )
    else:
        ctx.checklist.ok(
            GROUP,
            "logs",
            f"{path}: {size // 1024} KiB, rotates at {config.max_bytes // 1024} KiB, "
            f"{len(rotated)} of {config.backups} old files kept",
        )


def check_daemon(ctx: DoctorContext) -> None:
    status = daemon_status(ctx.options.timeout, quota=True)
    ctx.daemon = status
    if status is None:
        _not_running(ctx)
        return
    pid, version = status.get("pid"), status.get("version")
    uptime = float(status.get("uptime") or 0)
    detail = f"PID {pid}, version {version}, up {uptime / 3600:.1f} h"
    if version != __version__:
        ctx.checklist.warn(
            GROUP,
            "running",
            f"{detail}; this command is version {__version__} (installed after the start?)",
            "aiclient restart",
        )
    else:
        ctx.checklist.ok(GROUP, "running", detail)
    with httpx.Client(timeout=ctx.options.timeout, trust_env=False) as client:
        if _check_listening(ctx, status, client):
            _check_host_guard(ctx, status, client)
            _check_api_key(ctx, status, client)
        else:
            ctx.checklist.skip(GROUP, "host allow-list", "skipped: HTTP does not answer")
            ctx.checklist.skip(GROUP, "api key", "skipped: HTTP does not answer")
    _check_control(ctx)
    _check_ledger(ctx)
    _check_logs(ctx, status)
