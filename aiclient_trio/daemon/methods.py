# The control methods a running daemon answers (status, config, providers, models, usage, logs).
# Each takes the JSON params and returns a JSON-able result or raises ControlError with a reason.
"""Control-socket methods of the daemon.

Methods: `status` ({quota?}: false skips the upstream quota calls), `config.show`,
`config.set` ({key, value}), `config.reload`,
`provider.enable` / `provider.disable` / `provider.reload` ({name}), `models` ({provider?}),
`usage` ({since?, until?, group?}), `logs.tail` ({lines?, level?}). The wire format is
in `aiclient_trio.daemon.control`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import trio

from aiclient_trio.config.load import ConfigError, config_to_dict, parse_text_value
from aiclient_trio.daemon.control import ControlError, Handler
from aiclient_trio.daemon.supervisor import describe_exception
from aiclient_trio.log import tail_lines
from aiclient_trio.providers.base import Provider

if TYPE_CHECKING:
    from aiclient_trio.daemon.main import Daemon

__all__ = ["control_handlers"]


def _str_param(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise ControlError("invalid_params", f"parameter {name!r} (a non-empty string) is required")
    return value


async def ready_quotas(providers: Mapping[str, Provider], wait: float = 3.0) -> dict[str, Any]:
    """Each ready provider's quota, asked concurrently; slow or failing ones report an error."""
    quotas: dict[str, Any] = {}

    async def ask(name: str, provider: Provider) -> None:
        try:
            with trio.fail_after(wait):
                quotas[name] = await provider.quota()
        except trio.TooSlowError:
            quotas[name] = {"error": "the upstream did not answer in time"}
        except Exception as exc:
            quotas[name] = {"error": describe_exception(exc)}

    async with trio.open_nursery() as nursery:
        for name, provider in providers.items():
            if provider.status.value.ready:
                nursery.start_soon(ask, name, provider)
    return dict(sorted(quotas.items()))


def control_handlers(daemon: Daemon) -> dict[str, Handler]:
    from aiclient_trio.config.file import set_value
    from aiclient_trio.daemon.main import log_path
    from aiclient_trio.providers.registry import PROVIDER_NAMES

    async def status(params: Mapping[str, Any]) -> Any:
        info = daemon.status()
        if params.get("quota", True):
            info["quota"] = await ready_quotas(daemon.gateway.providers)
        return info

    async def config_show(params: Mapping[str, Any]) -> Any:
        return {
            "path": str(daemon.config_path),
            "config": config_to_dict(daemon.gateway.config.value),
        }

    async def reload(params: Mapping[str, Any]) -> Any:
        try:
            return await daemon.reload()
        except ConfigError as exc:
            raise ControlError("failed", f"{exc} (the running config is unchanged)") from None

    async def config_set(params: Mapping[str, Any]) -> Any:
        key = _str_param(params, "key")
        raw = params.get("value")
        if not isinstance(raw, str):
            raise ControlError("invalid_params", "parameter 'value' (a string) is required")
        try:
            value = parse_text_value(key, raw, "config set")
            set_value(daemon.config_path, key, value)
        except ConfigError as exc:
            raise ControlError("failed", str(exc)) from None
        return await reload(params)

    def _provider(params: Mapping[str, Any]) -> str:
        name = _str_param(params, "name")
        known = daemon.provider_names()
        if name not in known:
            raise ControlError("failed", f"unknown provider {name!r}; known: {', '.join(known)}")
        return name

    async def set_enabled(params: Mapping[str, Any], enabled: bool) -> Any:
        name = _provider(params)
        assert daemon.manager is not None
        if name in PROVIDER_NAMES:
            try:
                set_value(daemon.config_path, f"providers.{name}.enabled", enabled)
            except ConfigError as exc:
                raise ControlError("failed", f"cannot persist the change: {exc}") from None
            result = await reload(params)
            # A flag or environment override wins over the file; still honour the request now.
        else:
            result = {"changed": [], "needs_restart": []}
        if enabled:
            await daemon.manager.start(name)
        else:
            await daemon.manager.stop(name)
        return {**result, "provider": name, "enabled": enabled}

    async def enable(params: Mapping[str, Any]) -> Any:
        return await set_enabled(params, True)

    async def disable(params: Mapping[str, Any]) -> Any:
        return await set_enabled(params, False)

    async def provider_reload(params: Mapping[str, Any]) -> Any:
        name = _provider(params)
        assert daemon.manager is not None
        await daemon.manager.restart(name)
        return {"provider": name, "restarted": name in daemon.manager.running()}

    async def models(params: Mapping[str, Any]) -> Any:
        only = params.get("provider")
        listed = [
            m.to_json()
            for name, p in sorted(daemon.gateway.providers.items())
            if only in (None, name)
            for m in p.models()
        ]
        aliases = {k: list(v) for k, v in daemon.gateway.config.value.aliases.items()}
        return {"models": listed, "aliases": aliases}

    async def usage(params: Mapping[str, Any]) -> Any:
        from aiclient_trio.errors import GatewayError
        from aiclient_trio.server.routes import usage_summary

        bounds = {k: params.get(k) for k in ("since", "until")}
        group = params.get("group", "model")
        if not all(v is None or isinstance(v, str) for v in (*bounds.values(), group)):
            raise ControlError("invalid_params", "'since', 'until' and 'group' must be strings")
        try:
            return await usage_summary(daemon.gateway, group=group, **bounds)
        except GatewayError as exc:
            raise ControlError("failed", exc.message) from None

    async def logs_tail(params: Mapping[str, Any]) -> Any:
        lines = params.get("lines", 50)
        level = params.get("level")
        if not isinstance(lines, int) or lines < 0:
            raise ControlError("invalid_params", "'lines' must be a whole number >= 0")
        if level is not None and not isinstance(level, str):
            raise ControlError("invalid_params", "'level' must be a string such as 'warning'")
        path = log_path(daemon.gateway.config.value)
        return {"path": str(path), "lines": tail_lines(path, lines, level)}

    return {
        "status": status,
        "config.show": config_show,
        "config.set": config_set,
        "config.reload": reload,
        "provider.enable": enable,
        "provider.disable": disable,
        "provider.reload": provider_reload,
        "models": models,
        "usage": usage,
        "logs.tail": logs_tail,
    }
