"""What kind of interaction a call is, told the way the official client tells Copilot.

`X-Interaction-Type` is `conversation-agent` unless the call is a subagent's, a compaction
(summary) or a background call (titles, probes, haiku-class side calls); those, retries and
agent continuations go with `X-Initiator: agent`. `X-Interaction-Id` is renewed per user
turn. The device ids are random, made once per install and kept in a 0600 file.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiclient_trio import ir
from aiclient_trio.config.paths import ensure_private_dir, write_private

__all__ = [
    "DeviceIds",
    "InteractionTracker",
    "interaction_type",
    "load_device_ids",
    "texts_of_body",
    "texts_of_request",
]

# Claude Code's subagents and its compaction prompt announce themselves in plain text.
_SUBAGENT_MARKERS = ("You are an agent for Claude Code",)
_COMPACTION_MARKERS = (
    "Your task is to create a detailed summary of the conversation so far",
    "summary of the conversation so far",
    "Create a summary of the conversation",
)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    return ""


def texts_of_body(fmt: ir.WireFormat, body: Mapping[str, Any]) -> tuple[str, str]:
    """(system text, last user text) of a native body of any of the three formats."""
    if fmt == "anthropic":
        system = _text(body.get("system"))
        messages = body.get("messages") or []
    elif fmt == "responses":
        system = str(body.get("instructions") or "")
        items = body.get("input")
        messages = [{"role": "user", "content": items}] if isinstance(items, str) else items or []
    else:
        messages = body.get("messages") or []
        system = "\n".join(
            _text(m.get("content"))
            for m in messages
            if isinstance(m, dict) and m.get("role") in ("system", "developer")
        )
    last_user = next(
        (
            _text(m.get("content"))
            for m in reversed(messages)
            if isinstance(m, dict) and m.get("role") == "user"
        ),
        "",
    )
    return system, last_user


def texts_of_request(request: ir.Request) -> tuple[str, str]:
    last_user = next(
        (
            "\n".join(b.text for b in m.content if isinstance(b, ir.TextBlock))
            for m in reversed(request.messages)
            if m.role == "user"
        ),
        "",
    )
    return request.system_text, last_user


def interaction_type(system: str, last_user: str, client_model: str) -> str:
    """`conversation-subagent`, `-compaction`, `-background` or `-agent`."""
    if any(marker in system for marker in _SUBAGENT_MARKERS):
        return "conversation-subagent"
    if any(marker in last_user or marker in system for marker in _COMPACTION_MARKERS):
        return "conversation-compaction"
    if "haiku" in client_model.lower():
        return "conversation-background"
    return "conversation-agent"


class InteractionTracker:
    """X-Interaction-Id per conversation (Claude Code's session header, else one shared),
    renewed at each user turn; remembers recent request ids to tell a retry."""

    _SESSION_HEADERS = ("x-claude-code-session-id", "session_id", "x-session-id")

    def __init__(self, remembered: int = 4096) -> None:
        self._ids: OrderedDict[str, str] = OrderedDict()
        self._calls: OrderedDict[str, None] = OrderedDict()
        self._remembered = remembered

    def _remember(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self._remembered:
            table.popitem(last=False)

    def is_retry(self, request_id: str, headers: Mapping[str, str]) -> bool:
        """The gateway or the client's SDK already sent this request once."""
        again = request_id in self._calls
        self._remember(self._calls, request_id, None)
        retries = headers.get("x-stainless-retry-count", "0")
        return again or (retries.isdigit() and int(retries) > 0)

    def interaction_id(self, headers: Mapping[str, str], user_turn: bool) -> str:
        session = next((headers[h] for h in self._SESSION_HEADERS if headers.get(h)), "")
        current = self._ids.get(session)
        if current is None or user_turn:
            current = str(uuid.uuid4())
        self._remember(self._ids, session, current)
        return current


@dataclass(frozen=True, slots=True)
class DeviceIds:
    """VScode-SessionId (this daemon run), VScode-MachineId and Editor-Device-Id (this
    install)."""

    session_id: str
    machine_id: str
    device_id: str


_SESSION_ID = f"{uuid.uuid4()}{int(time.time() * 1000)}"  # as VS Code makes it


def load_device_ids(directory: Path) -> DeviceIds:
    """The install's random ids from `directory/device.json` (0600), made on first use."""
    path = directory / "device.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        machine, device = str(data["machine_id"]), str(data["device_id"])
        if machine and device:
            return DeviceIds(_SESSION_ID, machine, device)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    machine, device = os.urandom(32).hex(), str(uuid.uuid4())
    try:
        ensure_private_dir(directory)
        ids = json.dumps({"machine_id": machine, "device_id": device})
        write_private(path, ids, prefix=".device.")
    except OSError:
        pass  # unwritable: these ids last for this run only
    return DeviceIds(_SESSION_ID, machine, device)
