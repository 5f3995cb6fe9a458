"""`aiclient start --foreground` runs `run_daemon()`.

The daemon: one Trio nursery owning signals, control socket, provider supervisors and HTTP.
SIGTERM drains (stop accepting, finish in-flight, then end streams), SIGHUP reloads the
config.

Nursery tree (see docs/architecture.md): signal watcher, control server, one supervisor per
enabled provider (`ProviderManager`), and `hypercorn.trio.serve` whose shutdown trigger is
`gateway.draining`. After `server.drain_timeout` the daemon calls `gateway.expire_drain()`,
which cancels the remaining requests' work so they end with a terminal error event; exits 0.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import hypercorn.config
import hypercorn.trio
import trio
from trio_util import AsyncValue

from aiclient_trio import __version__
from aiclient_trio.config import paths
from aiclient_trio.config.load import (
    ConfigError,
    check_bind_safety,
    diff_keys,
    load_config,
    restart_keys,
)
from aiclient_trio.config.paths import log_path
from aiclient_trio.config.types import Config
from aiclient_trio.daemon.control import ControlServer
from aiclient_trio.daemon.memory import release_when_idle
from aiclient_trio.daemon.methods import control_handlers
from aiclient_trio.daemon.permissions import secure_private_trees
from aiclient_trio.daemon.pidfile import PidLock
from aiclient_trio.daemon.supervisor import ProviderManager
from aiclient_trio.dashboard import Dashboard
from aiclient_trio.gateway import Gateway
from aiclient_trio.ledger import Ledger
from aiclient_trio.log import add_secrets, log_request, set_level, setup_logging
from aiclient_trio.metrics import GatewayMetrics
from aiclient_trio.providers import registry
from aiclient_trio.providers.base import Provider
from aiclient_trio.server.app import create_app

__all__ = ["DaemonOptions", "Extensions", "check_bind_safety", "run_daemon"]

log = logging.getLogger("aiclient.daemon")


def ledger_path() -> Path:
    """`$XDG_STATE_HOME/aiclient/usage.db`; a ledger from before the rename is adopted."""
    path = paths.state_dir() / "usage.db"
    old = path.with_name("usage.sqlite3")
    if not path.exists() and old.exists():
        for suffix in ("", "-wal", "-shm"):  # WAL files travel with the database
            try:
                os.replace(f"{old}{suffix}", f"{path}{suffix}")
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("cannot rename %s%s to %s: %s", old, suffix, path.name, exc)
                return old if suffix == "" else path
    return path


# Extra seconds after the drain deadline for streams to send their terminal event.
DRAIN_GRACE = 5.0


@dataclass(frozen=True, slots=True)
class Extensions:
    """Code a program embedding the daemon adds to it; the `aiclient` command adds none.

    `providers` are extra provider factories by name (always enabled unless the name is a
    real provider, whose factory they replace); `wrap_app(gateway, app)` returns the ASGI app
    to serve instead of `app`. The test harness passes them in (tests/aiclient_entry.py):
    nothing in the environment can make the daemon import code.
    """

    providers: Mapping[str, Callable[[Config], Provider]] = field(default_factory=dict)
    wrap_app: Callable[[Gateway, Any], Any] | None = None


@dataclass(slots=True)
class DaemonOptions:
    cli_overrides: dict[str, Any] = field(default_factory=dict)
    config_path: Path | None = None
    stderr_logging: bool = True
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    extensions: Extensions = field(default_factory=Extensions)


async def keep_running(
    name: str, task: Callable[[], Awaitable[None]], *, initial: float = 1.0, maximum: float = 60.0
) -> None:
    """Run a background task of the daemon; when it fails, log why and start it again after
    a pause (doubling to `maximum`). No background task's failure may end the daemon."""
    pause = initial
    while True:
        try:
            await task()
            return
        except Exception:
            log.exception("%s failed; restarting it in %gs", name, pause)
        await trio.sleep(pause)
        pause = min(pause * 2, maximum)


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class Daemon:
    def __init__(self, gateway: Gateway, options: DaemonOptions, config_path: Path) -> None:
        self.gateway = gateway
        self.options = options
        self.config_path = config_path
        self.extra_providers = options.extensions.providers
        self.urls: list[str] = []
        self.http_done = trio.Event()
        self.reloads: dict[str, Any] = {"attempts": 0, "ok": 0, "finished": 0, "last_error": None}
        # Finished reloads (any outcome): `reloads.wait` lets whoever sent SIGHUP learn the result.
        self.reloads_finished = AsyncValue(0)
        self.manager: ProviderManager | None = None
        self._nursery: trio.Nursery | None = None

    # -- providers ----------------------------------------------------------------------------

    def provider_names(self) -> list[str]:
        return [
            *registry.PROVIDER_NAMES,
            *(n for n in self.extra_providers if n not in registry.PROVIDER_NAMES),
        ]

    def enabled(self, config: Config, name: str) -> bool:
        section = getattr(config, name, None)
        return bool(getattr(section, "enabled", True))

    def _create(self, name: str, config: Config) -> Provider:
        factory = self.extra_providers.get(name)
        provider = factory(config) if factory else registry.create_provider(name, config)
        metrics = self.gateway.metrics
        if metrics is not None:
            provider.refresh_listeners.append(metrics.refresh_result)
        return provider

    def _start_ledger_and_metrics(self, nursery: trio.Nursery) -> None:
        """Usage ledger (SQLite, own task) and metrics, unless the embedder set them."""

        gateway, config = self.gateway, self.gateway.config.value
        if gateway.metrics is None:
            gateway.metrics = GatewayMetrics(
                active_streams=lambda: gateway.active_requests.value,
                provider_ready=lambda: {
                    name: p.status.value.ready for name, p in gateway.providers.items()
                },
                provider_quota=lambda: {
                    name: p.cached_quota() for name, p in gateway.providers.items()
                },
                circuits=lambda: {
                    target: str(b.state) for target, b in gateway.reliability.breakers.items()
                },
            )
            gateway.observers.append(gateway.metrics.observe)
        if gateway.ledger is None and config.ledger.enabled:
            paths.ensure_private_dir(paths.state_dir())
            gateway.ledger = Ledger(ledger_path(), retention_days=config.ledger.retention_days)
            gateway.observers.append(gateway.ledger.record)
            nursery.start_soon(keep_running, "usage ledger", gateway.ledger.run)

    # -- lifetime -----------------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until stopped; `task_status` reports the bound URLs once HTTP listens."""

        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self.manager = ProviderManager(self.gateway, nursery, self._create)
                self._start_ledger_and_metrics(nursery)
                handlers = control_handlers(self)
                control = ControlServer(paths.control_socket(), handlers)
                await nursery.start(control.serve)
                await self._start_dashboard(nursery, handlers)
                nursery.start_soon(self._watch_signals, signals)
                nursery.start_soon(self._drain_deadline)
                idle_release = partial(release_when_idle, self.gateway.active_requests)
                nursery.start_soon(keep_running, "memory release", idle_release)
                config = self.gateway.config.value
                for name in self.provider_names():
                    if self.enabled(config, name):
                        await self.manager.start(name)
                self.urls = await nursery.start(self._serve_http)
                log.info(
                    "aiclient %s listening on %s (PID %d)",
                    __version__,
                    ", ".join(self.urls),
                    os.getpid(),
                )
                task_status.started(self.urls)
                await self.http_done.wait()
                log.info("HTTP server stopped; stopping providers")
                with trio.move_on_after(DRAIN_GRACE) as scope:
                    scope.shield = True
                    await self.manager.stop_all()
                nursery.cancel_scope.cancel()
        log.info("aiclient stopped")

    async def _start_dashboard(self, nursery: trio.Nursery, handlers: dict[str, Any]) -> None:
        """The dashboard at /ui (unless an embedder set its own); changes go through `handlers`."""

        if self.gateway.dashboard is None:
            self.gateway.dashboard = Dashboard(self.gateway, handlers, self.provider_names)
        await nursery.start(self.gateway.dashboard.run)

    async def _serve_http(self, *, task_status: trio.TaskStatus[list[str]]) -> None:

        config = self.gateway.config.value
        hc = hypercorn.config.Config()
        host = config.server.host
        hc.bind = [
            f"[{host}]:{config.server.port}" if ":" in host else f"{host}:{config.server.port}"
        ]
        hc.backlog = 2048
        hc.graceful_timeout = config.server.drain_timeout + DRAIN_GRACE
        hc.keep_alive_timeout = 15
        hc.accesslog = None
        hc.errorlog = logging.getLogger("aiclient.http")
        app: Any = create_app(self.gateway)
        wrap_app = self.options.extensions.wrap_app
        if wrap_app is not None:
            app = wrap_app(self.gateway, app)
        try:
            await hypercorn.trio.serve(
                app, hc, shutdown_trigger=self.gateway.draining.wait, task_status=task_status
            )
        finally:
            self.http_done.set()

    async def _watch_signals(self, signals: Any) -> None:
        async for signum in signals:
            if signum == signal.SIGHUP:
                log.info("SIGHUP: reloading %s", self.config_path)
                try:
                    await self.reload()
                except ConfigError as exc:
                    log.error("config reload failed, keeping the running config: %s", exc)
                except Exception:
                    log.exception("config reload failed")
            elif not self.gateway.draining.is_set():
                log.info("%s: draining", signal.Signals(signum).name)
                self.gateway.draining.set()
            else:
                log.warning("second %s: ending in-flight streams now", signal.Signals(signum).name)
                self.gateway.expire_drain()

    async def _drain_deadline(self) -> None:
        """Whoever sets `gateway.draining` (signal, embedder), bound the drain in time."""
        await self.gateway.draining.wait()
        drain_for = self.gateway.config.value.server.drain_timeout
        log.info("draining: up to %gs for in-flight requests", drain_for)
        with trio.move_on_after(drain_for):
            await self.http_done.wait()
        if not self.http_done.is_set():
            active = self.gateway.active_requests.value
            log.warning(
                "drain timeout (%gs): ending %d in-flight API request(s) with an error event",
                drain_for,
                active,
            )
            self.gateway.expire_drain()
        with trio.move_on_after(DRAIN_GRACE):
            await self.http_done.wait()
        if not self.http_done.is_set() and self._nursery is not None:
            log.error("requests still open %gs after the drain deadline; closing them", DRAIN_GRACE)
            self._nursery.cancel_scope.cancel()

    # -- config -------------------------------------------------------------------------------

    def load(self) -> Config:
        return load_config(
            cli_overrides=self.options.cli_overrides,
            path=self.config_path,
            environ=self.options.environ,
        )

    async def reload(self) -> dict[str, Any]:
        """Re-read the file and apply it; ConfigError keeps the running config."""
        self.reloads["attempts"] += 1
        try:
            return await self._reload()
        finally:
            self.reloads["finished"] += 1
            self.reloads_finished.value = self.reloads["finished"]

    async def _reload(self) -> dict[str, Any]:

        try:
            new = self.load()
            check_bind_safety(new)
        except ConfigError as exc:
            self.reloads["last_error"] = str(exc)
            raise
        old = self.gateway.config.value
        changed = diff_keys(old, new)
        self.gateway.config.value = new
        set_level(new.logging.level)
        add_secrets([new.api_key])
        assert self.manager is not None
        for name in self.provider_names():
            was, now = self.enabled(old, name), self.enabled(new, name)
            section_changed = any(k.startswith(f"providers.{name}.") for k in changed)
            if was and not now:
                await self.manager.stop(name)
            elif now and not was:
                await self.manager.start(name)
            elif now and section_changed:
                await self.manager.restart(name)
        self.reloads["ok"] += 1
        self.reloads["last_error"] = None
        needs_restart = restart_keys(changed)
        if changed:
            log.info("config reloaded; changed: %s", ", ".join(changed))
        if needs_restart:
            log.warning("these keys need `aiclient restart` to apply: %s", ", ".join(needs_restart))
        return {"changed": changed, "needs_restart": needs_restart}

    def status(self) -> dict[str, Any]:
        providers: dict[str, dict[str, Any]] = {}
        for name in self.provider_names():
            provider = self.gateway.providers.get(name)
            if provider is None:
                providers[name] = {
                    "state": "disabled",
                    "reason": "disabled in the config",
                    "fix": f"aiclient provider enable {name}",
                }
            else:
                providers[name] = {
                    **provider.status.value.to_json(),
                    "since": provider.status.value.since,
                    "details": provider.describe(),
                }
        return {
            "running": True,
            "pid": os.getpid(),
            "version": __version__,
            "started_at": self.gateway.started_at,
            "uptime": time.time() - self.gateway.started_at,
            "urls": self.urls,
            "url": self.urls[0] if self.urls else None,
            "draining": self.gateway.draining.is_set(),
            "providers": providers,
            "active_requests": self.gateway.active_requests.value,
            "rss_bytes": _rss_bytes(),
            "config_path": str(self.config_path),
            "log_file": str(log_path(self.gateway.config.value)),
            "reloads": dict(self.reloads),
            # What `aiclient start` was given (never the API key), reused by `restart`.
            "start_flags": {k: v for k, v in self.options.cli_overrides.items() if k != "api_key"},
        }


def _first_os_error(exc: BaseException) -> OSError | None:
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_os_error(inner)
            if found is not None:
                return found
    return None


def run_daemon(options: DaemonOptions) -> int:
    """Run the daemon in this process until it is stopped; returns the exit code.

    ConfigError and AlreadyRunning propagate before anything starts (the CLI reports them).
    """

    config_path = options.config_path or paths.config_file()
    config = load_config(
        cli_overrides=options.cli_overrides, path=config_path, environ=options.environ
    )
    check_bind_safety(config)
    os.umask(0o077)  # logs, ledger and sockets are the user's business only
    paths.ensure_runtime_dir()
    lock = PidLock(paths.pid_file())
    lock.acquire()
    try:
        setup_logging(
            level=config.logging.level,
            file=log_path(config),
            max_bytes=config.logging.max_bytes,
            backups=config.logging.backups,
            stderr=options.stderr_logging,
            secrets=[config.api_key],
        )
        if lock.stale_pid:
            log.info("replaced a stale PID file (PID %d is not running)", lock.stale_pid)
        # Credentials, usage and sockets: nobody else may read them (fixes are logged).
        secure_private_trees([paths.config_dir(), paths.state_dir(), paths.runtime_dir()])
        gateway = Gateway(config=AsyncValue(config))
        gateway.observers.append(log_request)
        daemon = Daemon(gateway, options, config_path)
        try:
            trio.run(daemon.run)
        except Exception as exc:
            failure = _first_os_error(exc)
            if failure is None:
                log.exception("the daemon failed")
                return 1
            log.debug("start-up failed", exc_info=True)
            if failure.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
                where = f"{config.server.host}:{config.server.port}"
                log.error(
                    "cannot listen on %s: %s. Pick another port with --port or "
                    "`aiclient config set server.port N`.",
                    where,
                    failure.strerror,
                )
            else:
                log.error("the daemon failed: %s", failure)
            return 1
        return 0
    finally:
        lock.release()
