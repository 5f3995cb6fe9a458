"""The dashboard's state inside the daemon: live feed, secrets, sign-ins and what pages show.

`Dashboard.run` lives in the daemon's nursery and owns the sign-in tasks the page starts (a
device flow outlives the POST that started it). Changes go through the daemon's control
methods, so the page applies them exactly as `aiclient config set` and `aiclient provider` do.
Nothing here renders a secret: accounts, expiry times and endpoints only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx
import trio
from trio_util import AsyncValue

from aiclient_trio.config.types import Config
from aiclient_trio.daemon.control import ControlError, Handler
from aiclient_trio.dashboard.live import LiveFeed
from aiclient_trio.dashboard.security import DashboardKeys
from aiclient_trio.dashboard.settings import check_editable, hot_settings
from aiclient_trio.errors import GatewayError, InvalidRequest, NotFound, ProviderUnavailable
from aiclient_trio.ledger import Ledger, LedgerUnavailable
from aiclient_trio.log import redact
from aiclient_trio.providers import registry
from aiclient_trio.providers.base import Provider
from aiclient_trio.providers.quotas import provider_quotas
from aiclient_trio.record import RequestRecord
from aiclient_trio.reliability import Reliability

__all__ = ["RANGES", "Dashboard", "GatewayState"]

log = logging.getLogger("aiclient.dashboard")

# Seconds a finished sign-in stays on the provider's card.
SIGN_IN_SHOWN_FOR = 120.0
# Chart range -> (seconds back, bucket seconds).
RANGES: dict[str, tuple[float, float]] = {
    "24h": (86400.0, 3600.0),
    "7d": (7 * 86400.0, 86400.0),
    "30d": (30 * 86400.0, 86400.0),
}


class GatewayState(Protocol):
    """What the dashboard reads of the running gateway (`aiclient_trio.gateway.Gateway`).

    A protocol here, not the class, because the gateway holds the dashboard: the dashboard sits
    below the gateway in the import graph (tests/test_layering.py).
    """

    config: AsyncValue[Config]
    providers: dict[str, Provider]
    started_at: float
    draining: trio.Event
    active_requests: AsyncValue[int]
    observers: list[Callable[[RequestRecord], None]]
    start_observers: list[Callable[[str, str, float], None]]
    reliability: Reliability
    ledger: Ledger | None


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, GatewayError):
        return redact(exc.message)
    if isinstance(exc, httpx.HTTPError):
        return f"could not reach the sign-in service ({type(exc).__name__}); try again"
    if isinstance(exc, ControlError):
        return redact(exc.message)
    return redact(f"{type(exc).__name__}: {exc}")


class Dashboard:
    """One per daemon; the HTTP routes in `dashboard.routes` read and change it."""

    def __init__(
        self,
        gateway: GatewayState,
        control: Mapping[str, Handler],
        provider_names: Callable[[], list[str]],
    ) -> None:
        self.gateway = gateway
        self.control = control
        self.provider_names = provider_names
        self.live = LiveFeed()
        self.keys = DashboardKeys()
        # provider -> the last sign-in started from the page (no secrets: code and link only).
        self.sign_ins: dict[str, dict[str, Any]] = {}
        self._nursery: trio.Nursery | None = None
        gateway.start_observers.append(self.live.request_started)
        gateway.observers.append(self.live.request_finished)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold the sign-in tasks; on drain end the live streams so HTTP can stop."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await self.gateway.draining.wait()
            self.live.close()
            nursery.cancel_scope.cancel()

    async def call(self, method: str, **params: Any) -> Any:
        """A daemon control method; its refusal becomes a 400 naming the reason."""
        try:
            return await self.control[method](params)
        except ControlError as exc:
            raise InvalidRequest(exc.message) from None

    # -- providers -----------------------------------------------------------------------------

    async def providers(self) -> list[dict[str, Any]]:
        status = await self.call("status", quota=False)
        rows = []
        for name, info in status["providers"].items():
            provider = self.gateway.providers.get(name)
            row: dict[str, Any] = {
                "name": name,
                "enabled": provider is not None,
                "state": info.get("state"),
                "reason": info.get("reason"),
                "fix": info.get("fix"),
                "since": info.get("since"),
                "sign_in": [],
                "sign_in_progress": self._sign_in_shown(name),
            }
            circuits = self.gateway.reliability.circuits(name)
            if circuits:  # breakers are per model: the provider's open ones
                row["circuits"] = circuits
                row["circuit"] = next(iter(circuits.values()))
            if provider is not None:
                try:
                    row.update(provider.describe())
                except Exception:  # a status screen never fails on one provider's facts
                    log.exception("provider %s: describe() failed", name)
            if name in registry.PROVIDER_NAMES:
                row["sign_in"] = registry.sign_in_methods(name)
                summary = await trio.to_thread.run_sync(registry.credential_summary, name)
                row["account"] = summary.get("account")
                row["signed_in"] = summary.get("signed_in")
                row.setdefault("token_expires_at", summary.get("expires_at"))
            rows.append(row)
        return rows

    async def quotas(self) -> dict[str, Any]:

        quotas = await provider_quotas(self.gateway.providers, ready_only=True)
        # The gauges need the figures only, not the upstream's whole answer.
        return {
            name: {k: v for k, v in quota.items() if k != "raw"} if quota else quota
            for name, quota in quotas.items()
        }

    async def set_enabled(self, name: str, enabled: bool) -> Any:
        self._known(name)
        return await self.call("provider.enable" if enabled else "provider.disable", name=name)

    def _known(self, name: str) -> None:
        if name not in self.provider_names():
            raise NotFound(f"unknown provider {name!r}; known: {', '.join(self.provider_names())}")

    # -- sign-in -------------------------------------------------------------------------------

    def _sign_in_shown(self, name: str) -> dict[str, Any] | None:
        """The sign-in to show on the provider's card: a success only for a while."""
        state = self.sign_ins.get(name)
        stale = time.time() - SIGN_IN_SHOWN_FOR
        if state is not None and state["state"] == "done" and state["finished_at"] < stale:
            return None
        return state

    def _publish_sign_in(self, name: str, state: dict[str, Any]) -> None:
        self.sign_ins[name] = state
        self.live.publish("signin", dict(state))

    async def start_device_sign_in(self, name: str) -> dict[str, Any]:
        """Ask for a device code and keep polling in the background; returns the code and link
        (or the failure) as soon as they are known. A second call while one runs joins it."""
        self._known(name)
        current = self.sign_ins.get(name)
        if current is not None and current["state"] in ("starting", "waiting"):
            return current
        if "device" not in registry.sign_in_methods(name):
            raise InvalidRequest(f"{name} has no device sign-in; use `aiclient auth {name}`")
        assert self._nursery is not None, "Dashboard.run() is not running"
        shown = trio.Event()
        state: dict[str, Any] = {"provider": name, "method": "device", "state": "starting"}
        self._publish_sign_in(name, state)
        config = self.gateway.config.value

        def on_code(user_code: str, verification_uri: str, expires_in: float) -> None:
            state.update(
                state="waiting",
                user_code=user_code,
                verification_uri=verification_uri,
                expires_at=time.time() + expires_in,
                message="waiting for you to enter the code",
            )
            self._publish_sign_in(name, state)
            shown.set()

        def on_progress(message: str) -> None:
            state["message"] = message
            self._publish_sign_in(name, state)

        async def flow() -> None:
            try:
                account = await registry.device_sign_in(name, config, on_code, on_progress)
                await self._reload_provider(name)
                who = f" as {account}" if account else ""
                state.update(state="done", account=account, message=f"signed in{who}")
                log.info("%s: signed in from the dashboard%s", name, who)
            except Exception as exc:
                state.update(state="failed", message=_describe_failure(exc))
                log.warning("%s: dashboard sign-in failed: %s", name, state["message"])
            finally:
                state["finished_at"] = time.time()
                self._publish_sign_in(name, state)
                shown.set()

        self._nursery.start_soon(flow)
        await shown.wait()
        return dict(state)

    async def import_credentials(self, name: str, source: str) -> dict[str, Any]:
        self._known(name)
        if "import" not in registry.sign_in_methods(name):
            raise InvalidRequest(f"{name} cannot import a token; use `aiclient auth {name}`")
        try:
            origin = await trio.to_thread.run_sync(registry.import_credentials, name, source)
        except (OSError, ValueError) as exc:
            raise InvalidRequest(f"cannot import {name} credentials: {redact(str(exc))}") from None
        await self._reload_provider(name)
        state: dict[str, Any] = {"provider": name, "method": "import", "state": "done"}
        state.update(message=f"imported from {origin}", finished_at=time.time())
        self._publish_sign_in(name, state)
        return state

    async def sign_out(self, name: str) -> dict[str, Any]:
        self._known(name)
        if name not in registry.PROVIDER_NAMES:
            raise InvalidRequest(f"{name} has no stored credential")
        deleted = await trio.to_thread.run_sync(registry.revoke, name)
        await self._reload_provider(name)
        self.sign_ins.pop(name, None)
        return {"provider": name, "deleted": deleted}

    async def _reload_provider(self, name: str) -> None:
        if name in self.gateway.providers:
            await self.call("provider.reload", name=name)

    # -- usage ---------------------------------------------------------------------------------

    async def usage(self, range_name: str) -> dict[str, Any]:
        if range_name not in RANGES:
            raise InvalidRequest(
                f"range {range_name!r} is not one of {', '.join(RANGES)}", param="range"
            )
        ledger = self.gateway.ledger
        if ledger is None:
            raise ProviderUnavailable("the usage ledger is disabled ([ledger] enabled = false)")
        back, bucket = RANGES[range_name]
        now = time.time()
        since = (now - back) // bucket * bucket + bucket  # whole buckets, the current one last

        try:
            rows = await ledger.series(since, bucket)
        except LedgerUnavailable as exc:
            raise ProviderUnavailable(str(exc)) from None
        return {
            "range": range_name,
            "since": since,
            "until": now,
            "bucket": bucket,
            "buckets": int(back // bucket),
            "rows": rows,
        }

    async def request_row(self, request_id: str) -> dict[str, Any]:
        ledger = self.gateway.ledger
        if ledger is None:
            raise ProviderUnavailable("the usage ledger is disabled ([ledger] enabled = false)")
        row = await ledger.request_row(request_id)
        if row is None:
            raise NotFound(f"no ledger row for request {request_id!r} (yet)")
        return row

    # -- logs and settings ---------------------------------------------------------------------

    async def logs(self, lines: int, level: str | None) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("logs.tail", lines=lines, level=level)
        result["lines"] = [redact(line) for line in result["lines"]]
        return result

    def settings(self) -> list[dict[str, Any]]:

        return hot_settings(self.gateway.config.value)

    async def change_setting(self, key: str, value: str) -> Any:

        check_editable(key)
        return await self.call("config.set", key=key, value=value)
