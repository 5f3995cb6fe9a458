"""Load, merge and validate the configuration.

Configuration loading: TOML file, AICLIENT_* environment and CLI flags merged over defaults.
Every value is checked against the typed schema in config.types; errors name source, key,
value.

Priority: CLI flags > environment (`AICLIENT_*`) > file > defaults. Keys are dotted paths
in the TOML layout: `api_key`, `server.port`, `providers.copilot.enabled`,
`models.aliases.<name>`. Environment names: `AICLIENT_HOST`, `AICLIENT_PORT`,
`AICLIENT_API_KEY`, `AICLIENT_LOG_LEVEL`, `AICLIENT_LOG_FILE`, `AICLIENT_DEFAULT_PROVIDER`,
`AICLIENT_OUTPUT_FORMAT`, and for every key `AICLIENT_` + the dotted key upper-cased with
dots as underscores (`AICLIENT_SERVER_DRAIN_TIMEOUT`, `AICLIENT_PROVIDERS_KIRO_ENABLED`).
Writing the file (`config set`, `config init`) lives in `aiclient_trio.config.file`.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiclient_trio.config import paths
from aiclient_trio.config.types import (
    Config,
    CopilotConfig,
    KiroConfig,
    LedgerConfig,
    LoggingConfig,
    ServerConfig,
    UpstreamConfig,
)
from aiclient_trio.providers.registry import PROVIDER_NAMES

__all__ = [
    "ENV_ALIASES",
    "HOT_KEYS",
    "ConfigError",
    "check_bind_safety",
    "check_file_layer",
    "config_to_dict",
    "default_config_path",
    "diff_keys",
    "env_name",
    "flatten",
    "is_loopback",
    "known_keys",
    "load_config",
    "mask_secret",
    "parse_text_value",
    "read_file_layer",
    "restart_keys",
    "validate_flat",
]

LEVELS = ("debug", "info", "warning", "error", "critical")
ALIAS_PREFIX = "models.aliases."

# TOML section -> (dataclass, attribute of Config holding it).
_SECTIONS: dict[str, tuple[type[Any], str]] = {
    "server": (ServerConfig, "server"),
    "upstream": (UpstreamConfig, "upstream"),
    "logging": (LoggingConfig, "logging"),
    "ledger": (LedgerConfig, "ledger"),
    "providers.copilot": (CopilotConfig, "copilot"),
    "providers.kiro": (KiroConfig, "kiro"),
}
_TOP_LEVEL = ("api_key", "default_provider", "output_format")
SECRET_KEYS = frozenset({"api_key"})

# Short, memorable environment names; every key also has its generic AICLIENT_<KEY> name.
ENV_ALIASES: dict[str, str] = {
    "AICLIENT_HOST": "server.host",
    "AICLIENT_PORT": "server.port",
    "AICLIENT_LOG_LEVEL": "logging.level",
    "AICLIENT_LOG_FILE": "logging.file",
}

# Keys a running daemon applies at once; provider sections restart that provider.
HOT_KEYS = (
    "api_key",
    "default_provider",
    "output_format",
    "logging.level",
    "models.aliases",
    "server.stream_coalesce_ms",
)
_RESTART_KEYS = ("server.host", "server.port", "logging.file", "logging.max_bytes")


class ConfigError(Exception):
    """A config problem; the message names the source, the key, the value and what is allowed."""


def default_config_path() -> Path:
    env = os.environ.get("AICLIENT_CONFIG")
    return Path(env) if env else paths.config_file()


def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def known_keys() -> dict[str, Any]:
    """Every scalar key (dotted) -> its type annotation. Aliases are handled apart."""
    keys: dict[str, Any] = {}
    config_hints = _hints(Config)
    for name in _TOP_LEVEL:
        keys[name] = config_hints[name]
    for section, (cls, _attr) in _SECTIONS.items():
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            keys[f"{section}.{f.name}"] = hints[f.name]
    return keys


_KEYS = known_keys()


def env_name(key: str) -> str:
    return "AICLIENT_" + key.upper().replace(".", "_")


def _env_map() -> dict[str, str]:
    mapping = {env_name(k): k for k in _KEYS}
    mapping.update(ENV_ALIASES)
    return mapping


# -- validation --------------------------------------------------------------------------------


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number >= 0"
    if tp is float:
        return "a number >= 0"
    if tp is str:
        return "a string"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        return "a list of strings"
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _describe(inner[0]) + " (or unset)"
    return str(tp)


_ALLOWED = {
    "server.port": "a port number 0-65535 (0 picks a free port)",
    "logging.level": "one of " + ", ".join(LEVELS),
    "server.stream_coalesce_ms": "a number of milliseconds 0-100 (0 sends every event alone)",
}


def _bad(where: str, key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{where}: key '{key}' has bad value {value!r}; allowed: {allowed}")


def _check(key: str, value: Any, where: str) -> Any:
    """Value of `key` converted to its schema type, or ConfigError."""
    if key.startswith(ALIAS_PREFIX):
        return _check_alias(key, value, where)
    if key not in _KEYS:
        raise _unknown(key, where)
    tp = _KEYS[key]
    allowed = _ALLOWED.get(key) or _describe(tp)
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        if value is None:
            return None
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    result: Any
    if tp is bool:
        if not isinstance(value, bool):
            raise _bad(where, key, value, allowed)
        result = value
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _bad(where, key, value, allowed)
        result = value
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise _bad(where, key, value, allowed)
        result = float(value)
    elif tp is str:
        if not isinstance(value, str):
            raise _bad(where, key, value, allowed)
        result = value
    elif typing.get_origin(tp) is typing.Literal:
        if value not in typing.get_args(tp):
            raise _bad(where, key, value, allowed)
        result = value
    elif typing.get_origin(tp) is tuple:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise _bad(where, key, value, allowed)
        result = tuple(value)
    else:  # pragma: no cover - schema uses only the types above
        raise _bad(where, key, value, allowed)
    return _check_extra(key, result, where)


def _check_extra(key: str, value: Any, where: str) -> Any:
    if key == "server.port" and not 0 <= value <= 65535:
        raise _bad(where, key, value, _ALLOWED[key])
    if key == "server.stream_coalesce_ms" and value > 100:
        raise _bad(where, key, value, _ALLOWED[key])
    if key == "server.host" and not value:
        raise _bad(where, key, value, "a host name or IP address such as 127.0.0.1")
    if key == "logging.level":
        if not isinstance(value, str) or value.lower() not in LEVELS:
            raise _bad(where, key, value, _ALLOWED[key])
        return value.lower()
    if key == "default_provider" and value not in PROVIDER_NAMES:
        raise _bad(where, key, value, "one of " + ", ".join(PROVIDER_NAMES))
    if key == "logging.backups" and value < 1:
        raise _bad(where, key, value, "a whole number >= 1")
    return value


def _check_alias(key: str, value: Any, where: str) -> tuple[str, ...]:
    name = key[len(ALIAS_PREFIX) :]
    allowed = "'provider/model' or a list of them (a fallback chain); providers: " + ", ".join(
        PROVIDER_NAMES
    )
    targets = [value] if isinstance(value, str) else value
    if not name or not isinstance(targets, list | tuple) or not targets:
        raise _bad(where, key, value, allowed)
    for target in targets:
        if not isinstance(target, str) or "/" not in target:
            raise _bad(where, key, value, allowed)
        provider, model = target.split("/", 1)
        if provider not in PROVIDER_NAMES or not model:
            raise _bad(where, key, value, allowed)
    return tuple(targets)


def _unknown(key: str, where: str) -> ConfigError:
    candidates = [*_KEYS, "models.aliases.<name>"]
    hint = difflib.get_close_matches(key, candidates, n=1)
    more = f" Did you mean '{hint[0]}'?" if hint else ""
    section = key.rsplit(".", 1)[0] if "." in key else ""
    in_section = [k for k in candidates if k.rsplit(".", 1)[0] == section] if section else []
    allowed = ", ".join(in_section or [*_TOP_LEVEL, *_SECTIONS, "models.aliases"])
    return ConfigError(f"{where}: unknown key '{key}'.{more} Allowed here: {allowed}")


# -- layers --------------------------------------------------------------------------------------


def flatten(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A parsed TOML document as {dotted key: raw value}; unknown keys raise ConfigError."""
    flat: dict[str, Any] = {}
    sections = {s.split(".")[0] for s in _SECTIONS} | {"models"}
    for name, value in data.items():
        if name in _TOP_LEVEL:
            flat[name] = value
        elif name in sections and isinstance(value, Mapping):
            _flatten_section(name, value, where, flat)
        else:
            raise _unknown(name, where)
    return flat


def _flatten_section(
    prefix: str, table: Mapping[str, Any], where: str, out: dict[str, Any]
) -> None:
    for name, value in table.items():
        key = f"{prefix}.{name}"
        if prefix == "models.aliases":
            out[key] = value
        elif key in _SECTIONS or key == "models.aliases":
            if not isinstance(value, Mapping):
                raise _bad(where, key, value, "a table")
            _flatten_section(key, value, where, out)
        elif key in _KEYS:
            out[key] = value
        else:
            raise _unknown(key, where)


def read_file_layer(path: Path) -> dict[str, Any]:
    """The config file as flat raw values ({} when it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
    return flatten(data, str(path))


def parse_text_value(key: str, text: str, where: str) -> Any:
    """A command-line or environment string converted to the type `key` expects."""
    if key.startswith(ALIAS_PREFIX):
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return _check_alias(key, parts, where)
    if key not in _KEYS:
        raise _unknown(key, where)
    tp = _KEYS[key]
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        if text == "":
            return None
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    value: Any = text
    try:
        if tp is bool:
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                value = True
            elif lowered in ("false", "0", "no", "off"):
                value = False
        elif tp is int:
            value = int(text)
        elif tp is float:
            value = float(text)
        elif typing.get_origin(tp) is tuple:
            value = [p.strip() for p in text.split(",") if p.strip()]
    except ValueError:
        raise _bad(where, key, text, _ALLOWED.get(key) or _describe(_KEYS[key])) from None
    return _check(key, value, where)


def _env_layer(environ: Mapping[str, str]) -> list[tuple[str, str, Any]]:
    mapping = _env_map()
    layer = []
    for name in sorted(environ):
        key = mapping.get(name)
        if key is not None:
            where = f"environment variable {name}"
            layer.append((key, where, parse_text_value(key, environ[name], where)))
    return layer


def validate_flat(layers: list[tuple[str, Mapping[str, Any]]]) -> Config:
    """Merge (later wins) and build a Config; each layer is (where, {dotted key: value})."""
    merged: dict[str, Any] = {}
    for where, flat in layers:
        for key, value in flat.items():
            merged[key] = _check(key, value, where)
    return _build(merged)


def _build(merged: Mapping[str, Any]) -> Config:
    top: dict[str, Any] = {k: merged[k] for k in _TOP_LEVEL if k in merged}
    for section, (cls, attr) in _SECTIONS.items():
        values = {
            k[len(section) + 1 :]: v
            for k, v in merged.items()
            if k.startswith(section + ".")
            and k[len(section) + 1 :] in {f.name for f in dataclasses.fields(cls)}
        }
        top[attr] = cls(**values)
    top["aliases"] = {
        k[len(ALIAS_PREFIX) :]: v for k, v in merged.items() if k.startswith(ALIAS_PREFIX)
    }
    return Config(**top)


def load_config(
    *,
    cli_overrides: Mapping[str, Any] | None = None,
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """The effective config: `cli_overrides` ({dotted key: value}) > env > file > defaults."""
    environ = os.environ if environ is None else environ
    if path is None:
        path = (
            Path(environ["AICLIENT_CONFIG"])
            if environ.get("AICLIENT_CONFIG")
            else paths.config_file()
        )
    file_layer = read_file_layer(path)
    layers: list[tuple[str, Mapping[str, Any]]] = [(str(path), file_layer)]
    for key, where, value in _env_layer(environ):
        layers.append((where, {key: value}))
    overrides = {k: v for k, v in (cli_overrides or {}).items() if v is not None}
    layers.append(("command-line flag", overrides))
    return validate_flat(layers)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_safety(config: Config) -> None:
    """A non-loopback listen address needs an api_key: refuse the config otherwise."""
    if not is_loopback(config.server.host) and not config.api_key:
        raise ConfigError(
            f"refusing to listen on {config.server.host} without an api_key: any machine that "
            "can reach this address could spend your Copilot/Kiro subscriptions. Set one with "
            "`aiclient config set api_key <secret>` (or --api-key), or use --host 127.0.0.1."
        )


def check_file_layer(
    path: Path, flat: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> Config:
    """Would `flat` (dotted key -> value) be a file the daemon accepts? The file's own Config,
    after checking it as `start` would load it (environment on top) and the rules that
    `start` and a reload enforce. Raises ConfigError naming the problem."""
    environ = os.environ if environ is None else environ
    own = validate_flat([(str(path), flat)])
    layers: list[tuple[str, Mapping[str, Any]]] = [(str(path), flat)]
    layers += [(where, {key: value}) for key, where, value in _env_layer(environ)]
    check_bind_safety(validate_flat(layers))
    return own


# -- presentation and comparison -----------------------------------------------------------------


def mask_secret(value: str | None) -> str | None:
    if not value:
        return value
    return "****" + (value[-2:] if len(value) >= 16 else "")


def config_to_dict(config: Config, *, mask: bool = True) -> dict[str, Any]:
    """The config in its TOML layout (JSON-able); secrets masked unless `mask=False`."""
    out: dict[str, Any] = {}
    for name in _TOP_LEVEL:
        value = getattr(config, name)
        out[name] = mask_secret(value) if mask and name in SECRET_KEYS else value
    for section, (_cls, attr) in _SECTIONS.items():
        table = dataclasses.asdict(getattr(config, attr))
        table = {k: list(v) if isinstance(v, tuple) else v for k, v in table.items()}
        head, _, tail = section.partition(".")
        if tail:
            out.setdefault(head, {})[tail] = table
        else:
            out[head] = table
    out["models"] = {"aliases": {k: list(v) for k, v in config.aliases.items()}}
    return out


def _flat_values(config: Config) -> dict[str, Any]:
    flat: dict[str, Any] = {k: getattr(config, k) for k in _TOP_LEVEL}
    for section, (_cls, attr) in _SECTIONS.items():
        for f in dataclasses.fields(getattr(config, attr)):
            flat[f"{section}.{f.name}"] = getattr(getattr(config, attr), f.name)
    flat["models.aliases"] = dict(config.aliases)
    return flat


def diff_keys(old: Config, new: Config) -> list[str]:
    """Dotted keys whose value differs between two snapshots."""
    a, b = _flat_values(old), _flat_values(new)
    return sorted(k for k in a if a[k] != b[k])


def restart_keys(changed: list[str]) -> list[str]:
    """The subset of `changed` that only takes effect after `aiclient restart`."""
    return [k for k in changed if k in _RESTART_KEYS]
