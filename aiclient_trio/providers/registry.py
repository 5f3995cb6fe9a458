"""Where provider implementations are found, by name.

The server and daemon reach providers only through this table, so adding a provider
touches no route or format. Implementations are imported lazily: a broken or missing
provider package never stops the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiclient_trio.config.types import Config

if TYPE_CHECKING:
    import click

    from aiclient_trio.providers.base import Provider

__all__ = [
    "PROVIDER_NAMES",
    "auth_command",
    "create_provider",
    "credential_summary",
    "device_sign_in",
    "import_credentials",
    "revoke",
    "sign_in_methods",
]

# name -> module; the module exports `Provider` (the class); its `commands` submodule exports
# `auth_command` (a click command run as `aiclient auth <name>`), `credential_summary()` and
# `revoke_credentials()`, and for the dashboard optionally `web_device_sign_in(config, on_code,
# on_progress)` (a device flow) and `web_import(source)` (a token another app keeps).
_MODULES: dict[str, str] = {
    "copilot": "aiclient_trio.providers.copilot",
    "kiro": "aiclient_trio.providers.kiro",
}
PROVIDER_NAMES: tuple[str, ...] = tuple(_MODULES)


def _module(name: str, sub: str = "") -> Any:
    if name not in _MODULES:
        raise KeyError(f"unknown provider {name!r}; known: {', '.join(PROVIDER_NAMES)}")
    return importlib.import_module(_MODULES[name] + (f".{sub}" if sub else ""))


def create_provider(name: str, config: Config) -> Provider:
    """A new, not yet running provider instance configured from `config`."""
    provider: Provider = _module(name).Provider(config)
    return provider


def auth_command(name: str) -> click.Command:
    command: click.Command = _module(name, "commands").auth_command
    return command


def credential_summary(name: str) -> dict[str, Any]:
    """{"signed_in": bool, "account": str|None, "expires_at": float|None, "path": str}."""
    summary: dict[str, Any] = _module(name, "commands").credential_summary()
    return summary


def revoke(name: str) -> bool:
    """Delete the stored credential; True if something was deleted."""
    deleted: bool = _module(name, "commands").revoke_credentials()
    return deleted


def sign_in_methods(name: str) -> list[str]:
    """What the dashboard can offer for `name`: "device" and/or "import"."""
    module = _module(name, "commands")
    found = [("device", "web_device_sign_in"), ("import", "web_import")]
    return [method for method, attr in found if hasattr(module, attr)]


async def device_sign_in(
    name: str,
    config: Config,
    on_code: Callable[[str, str, float], None],
    on_progress: Callable[[str], None],
) -> str | None:
    """Run `name`'s device flow and store the credential; returns the account (or None)."""
    flow = getattr(_module(name, "commands"), "web_device_sign_in", None)
    if flow is None:
        raise KeyError(f"{name} has no device sign-in; use `aiclient auth {name}`")
    account: str | None = await flow(config, on_code, on_progress)
    return account


def import_credentials(name: str, source: str) -> str:
    """Import `name`'s token from `source` ("ide", "cli"); returns where it was found."""
    importer = getattr(_module(name, "commands"), "web_import", None)
    if importer is None:
        raise KeyError(f"{name} cannot import a token; use `aiclient auth {name}`")
    origin: str = importer(source)
    return origin
