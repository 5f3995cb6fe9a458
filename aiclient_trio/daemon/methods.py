"""Control-socket methods of the daemon.

The control methods a running daemon answers (status, config, providers, models, usage,
logs). Each takes the JSON params and returns a JSON-able result or raises ControlError with
a reason.

Methods: `status` ({quota?}: false skips the upstream quota calls), `config.show`,
`config.set` ({key, value}), `config.reload`, `reloads.wait` ({after, timeout?}: waits until
more than `after` reloads have finished, e.g. after a SIGHUP, and returns the reload counters),
`provider.enable` / `provider.disable` / `provider.reload` ({name}), `models` ({provider?}),
`usage` ({since?, until?, group?}), `logs.tail` ({lines?, level?}). The wire format is
in `aiclient_trio.daemon.control`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import trio
from trio_util import AsyncValue

from aiclient_trio.config.file import set_value
from aiclient_trio.config.load import ConfigError, config_to_dict, parse_text_value
from aiclient_trio.config.paths import log_path
from aiclient_trio.daemon.control import ControlError, Handler
from aiclient_trio.daemon.supervisor import ProviderManager
from aiclient_trio.errors import GatewayError
from aiclient_trio.gateway import Gateway
from aiclient_trio.log import tail_lines
from aiclient_trio.providers.failures import last_failures
from aiclient_trio.providers.quotas import provider_quotas
from aiclient_trio.providers.registry import PROVIDER_NAMES
from aiclient_trio.server.routes import usage_summary

__all__ = ["ControlMethods", "DaemonState", "control_handlers"]


class DaemonState(Protocol):
    """What the control methods need of the running daemon (`daemon.main.Daemon`)."""

    gateway: Gateway
    config_path: Path
    manager: ProviderManager | None
    reloads: dict[str, Any]
    reloads_finished: AsyncValue[int]

    def status(self) -> dict[str, Any]: ...

    async def reload(self) -> dict[str, Any]: ...

    def provider_names(self) -> list[str]: ...


def _str_param(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise ControlError("invalid_params", f"parameter {name!r} (a non-empty string) is required")
    return value


class ControlMethods:
    """The control-socket methods, each a coroutine from JSON params to a JSON-able result."""

    def __init__(self, daemon: DaemonState) -> None:
        self.daemon = daemon

    def handlers(self) -> dict[str, Handler]:
        return {
            "status": self.status,
            "config.show": self.config_show,
            "config.set": self.config_set,
            "config.reload": self.reload,
            "reloads.wait": self.reloads_wait,
            "provider.enable": self.enable,
            "provider.disable": self.disable,
            "provider.reload": self.provider_reload,
            "models": self.models,
            "usage": self.usage,
            "logs.tail": self.logs_tail,
            "upstream.failures": self.upstream_failures,
        }

    async def status(self, params: Mapping[str, Any]) -> Any:
        info = self.daemon.status()
        if params.get("quota", True):
            info["quota"] = await provider_quotas(self.daemon.gateway.providers, ready_only=True)
        return info

    async def config_show(self, params: Mapping[str, Any]) -> Any:
        return {
            "path": str(self.daemon.config_path),
            "config": config_to_dict(self.daemon.gateway.config.value),
        }

    async def reload(self, params: Mapping[str, Any]) -> Any:
        try:
            return await self.daemon.reload()
        except ConfigError as exc:
            raise ControlError("failed", f"{exc} (the running config is unchanged)") from None

    async def reloads_wait(self, params: Mapping[str, Any]) -> Any:
        after, timeout = params.get("after"), params.get("timeout", 30)
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise ControlError(
                "invalid_params", "parameter 'after' (a reload count >= 0) is required"
            )
        if (
            not isinstance(timeout, int | float)
            or isinstance(timeout, bool)
            or not 0 < timeout <= 300
        ):
            raise ControlError("invalid_params", "parameter 'timeout' must be seconds in (0, 300]")
        with trio.move_on_after(timeout):
            await self.daemon.reloads_finished.wait_value(lambda n: n > after)
            return dict(self.daemon.reloads)
        raise ControlError(
            "timeout",
            f"no reload finished within {timeout}s "
            f"(finished so far: {self.daemon.reloads_finished.value})",
        )

    async def config_set(self, params: Mapping[str, Any]) -> Any:
        key = _str_param(params, "key")
        raw = params.get("value")
        if not isinstance(raw, str):
            raise ControlError("invalid_params", "parameter 'value' (a string) is required")
        try:
            value = parse_text_value(key, raw, "config set")
            set_value(self.daemon.config_path, key, value)
        except ConfigError as exc:
            raise ControlError("failed", str(exc)) from None
        return await self.reload(params)

    def _provider(self, params: Mapping[str, Any]) -> str:
        name = _str_param(params, "name")
        known = self.daemon.provider_names()
        if name not in known:
            raise ControlError("failed", f"unknown provider {name!r}; known: {', '.join(known)}")
        return name

    async def _set_enabled(self, params: Mapping[str, Any], enabled: bool) -> Any:
        name = self._provider(params)
        manager = self.daemon.manager
        assert manager is not None
        if name in PROVIDER_NAMES:
            try:
                set_value(self.daemon.config_path, f"providers.{name}.enabled", enabled)
            except ConfigError as exc:
                raise ControlError("failed", f"cannot persist the change: {exc}") from None
            result = await self.reload(params)
            # A flag or environment override wins over the file; still honour the request now.
        else:
            result = {"changed": [], "needs_restart": []}
        if enabled:
            await manager.start(name)
        else:
            await manager.stop(name)
        return {**result, "provider": name, "enabled": enabled}

    async def enable(self, params: Mapping[str, Any]) -> Any:
        return await self._set_enabled(params, True)

    async def disable(self, params: Mapping[str, Any]) -> Any:
        return await self._set_enabled(params, False)

    async def provider_reload(self, params: Mapping[str, Any]) -> Any:
        name = self._provider(params)
        manager = self.daemon.manager
        assert manager is not None
        await manager.restart(name)
        return {"provider": name, "restarted": name in manager.running()}

    async def models(self, params: Mapping[str, Any]) -> Any:
        only = params.get("provider")
        gateway = self.daemon.gateway
        listed = [
            m.to_json()
            for name, p in sorted(gateway.providers.items())
            if only in (None, name)
            for m in p.listed_models()
        ]
        aliases = {k: list(v) for k, v in gateway.config.value.aliases.items()}
        return {"models": listed, "aliases": aliases}

    async def usage(self, params: Mapping[str, Any]) -> Any:
        bounds = {k: params.get(k) for k in ("since", "until")}
        group = params.get("group", "model")
        if not all(v is None or isinstance(v, str) for v in (*bounds.values(), group)):
            raise ControlError("invalid_params", "'since', 'until' and 'group' must be strings")
        try:
            return await usage_summary(self.daemon.gateway, group=group, **bounds)
        except GatewayError as exc:
            raise ControlError("failed", exc.message) from None

    async def logs_tail(self, params: Mapping[str, Any]) -> Any:
        lines = params.get("lines", 50)
        level = params.get("level")
        if not isinstance(lines, int) or lines < 0:
            raise ControlError("invalid_params", "'lines' must be a whole number >= 0")
        if level is not None and not isinstance(level, str):
            raise ControlError("invalid_params", "'level' must be a string such as 'warning'")
        path = log_path(self.daemon.gateway.config.value)
        return {"path": str(path), "lines": tail_lines(path, lines, level)}

    async def upstream_failures(self, params: Mapping[str, Any]) -> Any:
        return last_failures()  # redacted: for `aiclient doctor --report`


def control_handlers(daemon: DaemonState) -> dict[str, Handler]:
    """The method table the daemon's control server answers."""
    return ControlMethods(daemon).handlers()
