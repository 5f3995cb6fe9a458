"""Where provider implementations are found, by name.

The server and daemon reach providers only through this table, so adding a provider
touches no route or format. Implementations are imported lazily: a broken or missing
provider package never stops the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from aiclient_trio.config.types import Config

if TYPE_CHECKING:
    import click

    from aiclient_trio.providers.base import Provider

__all__ = ["PROVIDER_NAMES", "auth_command", "create_provider", "credential_summary", "revoke"]

# name -> module; the module exports `Provider` (the class); its `commands` submodule exports
# `auth_command` (a click command run as `aiclient auth <name>`), `credential_summary()` and
# `revoke_credentials()`.
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
