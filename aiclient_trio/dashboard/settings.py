"""The settings the dashboard edits: the config keys a running daemon applies at once.

Values are set through the daemon's `config.set` control method, the very path of
`aiclient config set` (same parsing, same validation, written to the file, then reloaded).
The API key is a hot key too but is never shown or set here: the page renders no secret.
"""

from __future__ import annotations

import typing
from typing import Any

from aiclient_trio.config.load import ALIAS_PREFIX, HOT_KEYS, LEVELS, SECRET_KEYS, known_keys
from aiclient_trio.config.types import Config
from aiclient_trio.errors import InvalidRequest

__all__ = ["check_editable", "hot_settings"]

_HELP = {
    "default_provider": "Provider used when a model name has no provider prefix.",
    "output_format": "Answer format: native (the client's own), openai or anthropic.",
    "logging.level": "Lowest level written to the log.",
    "server.stream_coalesce_ms": "Milliseconds to gather stream events into one write (0-100).",
}


def _editable() -> list[str]:
    return [k for k in HOT_KEYS if k not in SECRET_KEYS and k != "models.aliases"]


def _choices(key: str, tp: Any) -> list[str] | None:
    if key == "logging.level":
        return list(LEVELS)
    if typing.get_origin(tp) is typing.Literal:
        return [str(a) for a in typing.get_args(tp)]
    return None


def _current(config: Config, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        if part == "providers":
            continue
        value = getattr(value, part)
    return value


def hot_settings(config: Config) -> list[dict[str, Any]]:
    """[{key, value, choices?, help}] for each editable hot key, then one row per alias."""
    keys = known_keys()
    rows: list[dict[str, Any]] = []
    for key in _editable():
        rows.append(
            {
                "key": key,
                "value": str(_current(config, key)),
                "choices": _choices(key, keys[key]),
                "help": _HELP.get(key, ""),
            }
        )
    for name, targets in sorted(config.aliases.items()):
        rows.append(
            {
                "key": ALIAS_PREFIX + name,
                "value": ",".join(targets),
                "choices": None,
                "help": "Model alias: tried in order (comma-separated provider/model ids).",
            }
        )
    return rows


def check_editable(key: str) -> None:
    """Refuse keys the page does not edit (restart-only keys, the API key)."""
    if key in _editable() or (key.startswith(ALIAS_PREFIX) and len(key) > len(ALIAS_PREFIX)):
        return
    raise InvalidRequest(
        f"the dashboard edits only the settings a running daemon applies at once "
        f"({', '.join(_editable())}, models.aliases.<name>); set {key!r} with "
        f"`aiclient config set`",
        param="key",
    )
