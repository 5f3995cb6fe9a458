"""Try the whole product without an account.

`aiclient demo`: the real daemon plus simulated GitHub, Copilot and Kiro in one Trio
nursery. Temporary XDG home; simulated credentials go through the real import, exchange and
refresh paths.

`run_demo(options)` (inside Trio) starts, in one nursery: the GitHub + Copilot simulators,
the Kiro simulator, then the real daemon (control socket, providers, HTTP server) configured
to reach the simulators. Credentials are created the way a user's would be:

- Copilot: a GitHub OAuth token the fake GitHub knows is imported with the same code as
  `aiclient auth copilot --github-token` (one token exchange + login lookup, then a 0600
  file); the provider then exchanges it for a Copilot token and keeps it fresh.
- Kiro: a token file like the one `aiclient auth kiro` writes, whose access token has
  already expired (and is revoked in the simulator), so the provider's first call must go
  through the real refresh endpoint.

SIGINT/SIGTERM make the daemon drain and stop; the simulators stop after it, and the
temporary home is removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
import trio
from trio_util import AsyncValue

from aiclient_trio.cli import client_env
from aiclient_trio.cli.lifecycle import probe_url
from aiclient_trio.config import paths
from aiclient_trio.config.load import ConfigError, is_loopback, load_config
from aiclient_trio.config.paths import log_path
from aiclient_trio.config.types import CopilotConfig
from aiclient_trio.daemon.pidfile import AlreadyRunning, PidLock
from aiclient_trio.providers.base import Provider

__all__ = ["DEMO_GITHUB_TOKEN", "DemoOptions", "DemoRun", "demo_endpoint", "run_demo"]

log = logging.getLogger("aiclient.demo")

# Not a real credential: the GitHub simulator accepts it, and only the demo ever sends it.
DEMO_GITHUB_TOKEN = "gho_demo-simulated-not-a-real-token"
XDG_VARS = ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR", "AICLIENT_CONFIG")
# How long providers may take to become ready before the banner is printed anyway.
READY_TIMEOUT = 20.0


@dataclass(slots=True)
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 9090
    api_key: str | None = None
    drain_timeout: float = 3.0
    log_level: str = "info"
    stderr_logging: bool = True
    # Where the banner goes (stdout by default); tests capture it.
    echo: Callable[[str], None] = field(default=lambda text: print(text, flush=True))
    home: Path | None = None  # None: a new temporary directory, removed on exit


@dataclass(slots=True)
class DemoRun:
    """What a started demo reports (tests drive it through this)."""

    home: Path
    url: str
    endpoint: client_env.Endpoint
    providers: dict[str, Provider]
    stop: Callable[[], None]
    # The simulators' handles (CopilotSimulator, KiroSimulator): tests inject faults there.
    copilot: Any = None
    kiro: Any = None


@contextlib.contextmanager
def _private_home(home: Path) -> Iterator[None]:
    """Point the XDG variables at `home` for this process, and restore them afterwards."""
    saved = {name: os.environ.get(name) for name in XDG_VARS}
    os.environ.update(
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_RUNTIME_DIR=str(home / "run"),
    )
    os.environ.pop("AICLIENT_CONFIG", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _write_config(
    path: Path, options: DemoOptions, github_url: str, kiro_urls: dict[str, str]
) -> None:
    data: dict[str, Any] = {
        "server": {
            "host": options.host,
            "port": options.port,
            "drain_timeout": options.drain_timeout,
        },
        "logging": {"level": options.log_level},
        "providers": {
            "copilot": {"github_url": github_url, "github_api_url": github_url},
            # Every Kiro host (runtime, q, codewhisperer, management, sign-in) on the
            # simulator; `endpoint = "runtime"`: the demo uses today's host family.
            "kiro": {"endpoint": "runtime", **kiro_urls},
        },
    }
    if options.api_key:
        data["api_key"] = options.api_key
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(
        "# aiclient demo: providers point at the simulators started by `aiclient demo`.\n"
        + tomli_w.dumps(data),
        encoding="utf-8",
    )
    path.chmod(0o600)


async def _sign_in_copilot(github_url: str) -> None:
    """The real `aiclient auth copilot --github-token` path against the fake GitHub."""
    from aiclient_trio.providers.copilot.commands import import_github_token

    config = CopilotConfig(github_url=github_url, github_api_url=github_url)
    await import_github_token(config, DEMO_GITHUB_TOKEN)


def _sign_in_kiro(kiro: Any) -> None:
    """A token file as `aiclient auth kiro` writes it, already expired: the first use refreshes."""
    from aiclient_trio.providers.kiro.credentials import (
        TokenStore,
        default_token_path,
        format_expires_at,
    )

    issued = kiro.accounts.issue("social")
    kiro.accounts.revoke_access(issued["accessToken"])  # only a refresh can make it work
    record = {
        "accessToken": issued["accessToken"],
        "refreshToken": issued["refreshToken"],
        "expiresAt": format_expires_at(time.time() - 60),
        "authMethod": "social",
        "provider": "Github",
        "region": "us-east-1",
        "profileArn": issued["profileArn"],
    }
    TokenStore(default_token_path()).save(record, replace=True)


def demo_endpoint(
    url: str, api_key: str | None, providers: dict[str, Provider]
) -> client_env.Endpoint:
    """The client-facing view of the running gateway: URL, key, model ids."""
    entries = [m.to_json() for name in sorted(providers) for m in providers[name].listed_models()]
    return client_env.endpoint_from_models(url, api_key, entries)


async def _wait_ready(providers: dict[str, Provider]) -> None:
    async def one(provider: Provider) -> None:
        await provider.status.wait_value(lambda status: status.ready)

    with trio.move_on_after(READY_TIMEOUT):
        async with trio.open_nursery() as nursery:
            for provider in providers.values():
                nursery.start_soon(one, provider)
    for name, provider in sorted(providers.items()):
        if not provider.status.value.ready:
            log.warning("%s is not ready: %s", name, provider.status.value.reason)


async def _demo(options: DemoOptions, home: Path, task_status: trio.TaskStatus[DemoRun]) -> None:
    from aiclient_trio.daemon.main import Daemon, DaemonOptions, check_bind_safety
    from aiclient_trio.gateway import Gateway
    from aiclient_trio.log import log_request, setup_logging
    from aiclient_trio.simulator.copilot import serve_copilot_simulators
    from aiclient_trio.simulator.copilot_kit import SimState
    from aiclient_trio.simulator.kiro import serve_kiro_simulator, urls_for

    async with trio.open_nursery() as nursery:
        state = SimState(github_tokens={DEMO_GITHUB_TOKEN}, login="demo-user")
        # A device-flow sign-in (the dashboard's "Sign in") is authorised at the second poll.
        state.faults.device_polls = [
            {"error": "authorization_pending"},
            {"access_token": DEMO_GITHUB_TOKEN, "token_type": "bearer", "scope": "read:user"},
        ]
        copilot = await nursery.start(serve_copilot_simulators, state)
        kiro = await nursery.start(serve_kiro_simulator)
        config_path = paths.config_file()
        _write_config(config_path, options, copilot.github_url, urls_for(kiro))
        daemon_options = DaemonOptions(
            config_path=config_path, stderr_logging=options.stderr_logging, environ={}
        )
        config = load_config(path=config_path, environ={})
        check_bind_safety(config)
        setup_logging(
            level=config.logging.level,
            file=log_path(config),
            stderr=options.stderr_logging,
            secrets=[config.api_key, DEMO_GITHUB_TOKEN],
        )
        await _sign_in_copilot(copilot.github_url)
        _sign_in_kiro(kiro)

        paths.ensure_runtime_dir()
        lock = PidLock(paths.pid_file())
        lock.acquire()
        try:
            gateway = Gateway(config=AsyncValue(config))
            gateway.observers.append(log_request)
            daemon = Daemon(gateway, daemon_options, config_path)
            done = trio.Event()

            async def run_daemon(*, task_status: trio.TaskStatus[list[str]]) -> None:
                try:
                    await daemon.run(task_status=task_status)
                finally:
                    done.set()

            urls: list[str] = await nursery.start(run_daemon)

            url = probe_url(urls[0]).rstrip("/")
            await _wait_ready(gateway.providers)

            def stop() -> None:
                gateway.draining.set()

            endpoint = demo_endpoint(url, config.api_key, gateway.providers)
            task_status.started(
                DemoRun(home, url, endpoint, dict(gateway.providers), stop, copilot, kiro)
            )
            options.echo(client_env.banner(endpoint, home=str(home)))
            await done.wait()
        finally:
            lock.release()
        nursery.cancel_scope.cancel()


async def run_demo(
    options: DemoOptions, *, task_status: trio.TaskStatus[DemoRun] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run the demo until SIGINT/SIGTERM (or `DemoRun.stop()`); cleans up its home."""
    if options.api_key is None and not is_loopback(options.host):
        options.api_key = "demo-" + secrets.token_urlsafe(12)
    home = options.home or Path(tempfile.mkdtemp(prefix="aiclient-demo-"))
    try:
        with _private_home(home):
            await _demo(options, home, task_status)
    finally:
        if options.home is None:
            shutil.rmtree(home, ignore_errors=True)
        log.info("demo stopped")


def _first_error(
    exc: BaseException, kinds: tuple[type[BaseException], ...]
) -> BaseException | None:
    """`exc` itself or the first exception of `kinds` inside (nested) exception groups."""
    if isinstance(exc, kinds):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_error(inner, kinds)
            if found is not None:
                return found
    return None


def main(options: DemoOptions) -> int:
    """Synchronous entry for the CLI; returns the exit code."""

    try:
        trio.run(run_demo, options)
    except BaseException as exc:
        if _first_error(exc, (KeyboardInterrupt,)) is not None:
            return 130  # a Ctrl-C before the daemon's signal handler was installed
        found = _first_error(exc, (OSError, ConfigError, AlreadyRunning))
        if found is None:
            raise
        print(f"aiclient demo: cannot start: {found}", file=sys.stderr)
        if isinstance(found, OSError) and options.port:
            print(f"(is port {options.port} in use? try --port 0)", file=sys.stderr)
        return 1
    return 0
