"""Write the configuration file.

Writing the TOML config file: the commented starter file and single-key edits. Edits change
one line so the user's comments and layout survive; tomli_w is the fallback.

`set_value(path, key, value)` validates the whole file with the new value before writing,
edits the one line that holds the key (or inserts it into its section) and checks that the
edited text parses back to exactly the intended values; if not (unusual layouts such as
inline tables or dotted keys), it rewrites the file with tomli_w. Writes are atomic and 0600
because the file may hold the API key.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from aiclient_trio.config import paths
from aiclient_trio.config.load import (
    ALIAS_PREFIX,
    ConfigError,
    check_file_layer,
    flatten,
    read_file_layer,
)
from aiclient_trio.config.types import Config

__all__ = ["STARTER_TEXT", "set_value", "write_atomic", "write_starter"]

STARTER_TEXT = """\
# aiclient configuration. Uncomment a line to change it; `aiclient config show` prints the
# effective values. Precedence: command-line flags > AICLIENT_* environment > this file.

# API key clients must send (Authorization: Bearer ... or x-api-key). Required when
# server.host is not a loopback address.
# api_key = "choose-a-long-random-string"

# Provider used when a model name has no "provider/" prefix and no alias matches.
# default_provider = "copilot"

# "native": each endpoint answers in its own format; "openai" or "anthropic" force one
# format on every endpoint (per request: header x-output-format).
# output_format = "native"

[server]
# host = "127.0.0.1"
# port = 9090
# Seconds in-flight requests may finish after SIGTERM before streams are ended.
# drain_timeout = 30.0
# Stream events arriving within this many ms of the previous write leave in one write
# (less CPU per event; each event at most this much later). 0 sends every event alone.
# stream_coalesce_ms = 4.0

[upstream]
# connect_timeout = 10.0
# first_byte_timeout = 300.0
# idle_timeout = 120.0
# retries = 2

[logging]
# level = "info"            # debug, info, warning, error
# file = "~/.local/state/aiclient/aiclient.log"
# max_bytes = 10485760       # rotate when the file reaches this size
# backups = 5

[ledger]
# enabled = true
# retention_days = 90

[providers.copilot]
# enabled = true
# account_type = "individual"   # individual, business, enterprise

[providers.kiro]
# enabled = true

[models.aliases]
# Client-visible name = "provider/model", or a list of them tried in order (fallback).
# sonnet = "copilot/claude-sonnet-4.5"
# fast = ["copilot/gpt-4.1", "kiro/claude-haiku-4.5"]
"""

_HEADER = re.compile(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$")


def write_atomic(path: Path, text: str) -> None:
    """Write the config file `text` to `path` (0600, atomic) in its 0700 directory."""
    paths.ensure_private_dir(path.parent)
    paths.write_private(path, text, prefix=".config-")


def restore_text(path: Path, text: str | None) -> None:
    """Put back a file's earlier `text` (None: the file did not exist)."""
    if text is None:
        path.unlink(missing_ok=True)
    else:
        write_atomic(path, text)


def write_starter(path: Path) -> None:
    write_atomic(path, STARTER_TEXT)


def _split_key(key: str) -> tuple[str, str]:
    if key.startswith(ALIAS_PREFIX):
        return "models.aliases", key[len(ALIAS_PREFIX) :]
    if "." not in key:
        return "", key
    section, _, name = key.rpartition(".")
    return section, name


def _norm_section(raw: str) -> str:
    return ".".join(p.strip().strip('"').strip("'") for p in raw.split("."))


def _render_line(name: str, value: Any) -> str:
    if isinstance(value, tuple):
        value = list(value)
    return tomli_w.dumps({name: value}).strip()


def _edit_text(text: str, key: str, value: Any) -> str:
    """`text` with `key` set to `value` (None removes it), editing as few lines as possible."""
    section, name = _split_key(key)
    lines = text.splitlines()
    # Section spans: (name, first line index after header, end index exclusive).
    spans: list[tuple[str, int, int]] = []
    current, start = "", 0
    for i, line in enumerate(lines):
        match = _HEADER.match(line)
        if match and not line.lstrip().startswith("[["):
            spans.append((current, start, i))
            current, start = _norm_section(match.group(1)), i + 1
    spans.append((current, start, len(lines)))
    key_re = re.compile(rf"^\s*(\"{re.escape(name)}\"|'{re.escape(name)}'|{re.escape(name)})\s*=")
    target = [s for s in spans if s[0] == section]
    new_line = None if value is None else _render_line(name, value)
    if target:
        _, begin, end = target[0]
        for i in range(begin, end):
            if key_re.match(lines[i]):
                if new_line is None:
                    del lines[i]
                else:
                    lines[i] = new_line
                return "\n".join(lines) + "\n"
        if new_line is None:
            return text
        insert_at = end
        while insert_at > begin and not lines[insert_at - 1].strip():
            insert_at -= 1
        lines.insert(insert_at, new_line)
        return "\n".join(lines) + "\n"
    if new_line is None:
        return text
    if section == "":
        return new_line + "\n" + text
    suffix = "" if not text or text.endswith("\n") else "\n"
    return f"{text}{suffix}\n[{section}]\n{new_line}\n"


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in flat.items():
        section, name = _split_key(key)
        table = doc
        for part in section.split(".") if section else []:
            table = table.setdefault(part, {})
        table[name] = list(value) if isinstance(value, tuple) else value
    return doc


def set_value(path: Path, key: str, value: Any) -> Config:
    """Set `key` (already type-checked value; None unsets) in the file; return the file's Config.

    Raises ConfigError (and writes nothing) if the file would not be valid afterwards, or
    `aiclient start` (environment included) would refuse it.
    """
    current = read_file_layer(path)
    wanted = dict(current)
    if value is None:
        wanted.pop(key, None)
    else:
        wanted[key] = value
    config = check_file_layer(path, wanted)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    edited = _edit_text(text, key, value)
    try:
        ok = _same(flatten(tomllib.loads(edited), str(path)), wanted)
    except (tomllib.TOMLDecodeError, ConfigError, RecursionError):
        ok = False
    if not ok:
        edited = tomli_w.dumps(_nest(wanted))
    write_atomic(path, edited)
    return config


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def norm(d: dict[str, Any]) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    return norm(a) == norm(b)
