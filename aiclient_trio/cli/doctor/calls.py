"""`aiclient doctor --call`: real requests through the gateway.

`aiclient doctor --call`: one minimal streaming request per ready provider and client format
through the running daemon, each answer parsed to its end. It may spend a request or credits.

For each ready provider one model is picked (an included, free model when the provider says
which), then a tiny streamed request goes to `/v1/chat/completions`, `/v1/messages` and
`/v1/responses`. A call passes when its stream parses and ends with the format's terminal
event (`[DONE]`, `message_stop`, `response.completed`) and carries some text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from aiclient_trio.cli.doctor.context import DoctorContext
from aiclient_trio.cli.lifecycle import probe_url
from aiclient_trio.codecs.sse import SSEDecoder, SSEError, SSEEvent
from aiclient_trio.config import paths
from aiclient_trio.daemon.control import ControlClient, ControlError, DaemonNotRunning
from aiclient_trio.redact import redact

__all__ = ["FORMATS", "check_calls", "pick_model", "read_answer"]

GROUP = "call"
PROMPT = "Reply with the single word OK."
MAX_TOKENS = 16


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    text: str
    problem: str | None = None


def _messages_body(model: str) -> dict[str, Any]:
    """The streamed call of Chat Completions and Anthropic Messages: at this size their
    bodies are the same (one user message, `max_tokens`)."""
    return {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
        "stream": True,
    }


def _responses_body(model: str) -> dict[str, Any]:
    return {"model": model, "input": PROMPT, "max_output_tokens": MAX_TOKENS, "stream": True}


def _chat_events(events: list[SSEEvent]) -> Outcome:
    text, done = "", False
    for event in events:
        if event.data == "[DONE]":
            done = True
            continue
        data = json.loads(event.data)
        if "error" in data:
            return Outcome(False, text, f"error frame: {json.dumps(data['error'])[:300]}")
        for choice in data.get("choices") or []:
            text += str((choice.get("delta") or {}).get("content") or "")
    return Outcome(done, text, None if done else "the stream ended without [DONE]")


def _messages_events(events: list[SSEEvent]) -> Outcome:
    text, done = "", False
    for event in events:
        data = json.loads(event.data)
        kind = event.event or data.get("type")
        if kind == "error":
            return Outcome(False, text, f"error event: {json.dumps(data.get('error'))[:300]}")
        if kind == "content_block_delta":
            text += str((data.get("delta") or {}).get("text") or "")
        done = done or kind == "message_stop"
    return Outcome(done, text, None if done else "the stream ended without message_stop")


def _responses_events(events: list[SSEEvent]) -> Outcome:
    text, done = "", False
    for event in events:
        data = json.loads(event.data)
        kind = event.event or data.get("type")
        if kind in ("error", "response.failed"):
            return Outcome(False, text, f"{kind}: {json.dumps(data)[:300]}")
        if kind == "response.output_text.delta":
            text += str(data.get("delta") or "")
        done = done or kind == "response.completed"
    return Outcome(done, text, None if done else "the stream ended without response.completed")


# client format -> (path, request body, stream reader)
FORMATS: dict[
    str,
    tuple[str, Callable[[str], dict[str, Any]], Callable[[list[SSEEvent]], Outcome]],
] = {
    "openai chat": ("/v1/chat/completions", _messages_body, _chat_events),
    "anthropic messages": ("/v1/messages", _messages_body, _messages_events),
    "openai responses": ("/v1/responses", _responses_body, _responses_events),
}


def read_answer(response: httpx.Response, parse: Callable[[list[SSEEvent]], Outcome]) -> Outcome:
    """Decode a streamed answer as it arrives and judge it by its format's rules."""
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    try:
        for chunk in response.iter_raw():
            events += decoder.feed(chunk)
        events += decoder.close()
        outcome = parse(events)
    except (SSEError, ValueError, AttributeError, TypeError) as exc:
        return Outcome(False, "", f"the stream does not parse: {exc}")
    if outcome.ok and not outcome.text.strip():
        return Outcome(False, "", "the stream ended properly but carried no text")
    return outcome


def pick_model(models: list[dict[str, Any]], provider: str) -> str | None:
    """A chat model of `provider`, preferring one that costs no premium request."""
    chat = [
        m
        for m in models
        if m.get("provider") == provider
        and m.get("kind", "chat") == "chat"
        and m.get("enabled", True)
    ]
    free = [m for m in chat if m.get("premium_multiplier") == 0]
    chosen = free or chat
    return str(chosen[0]["id"]) if chosen else None


def _one_call(
    client: httpx.Client, url: str, key: str | None, fmt: str, model: str
) -> tuple[Outcome, int | None]:
    path, body, parse = FORMATS[fmt]
    headers = {"x-api-key": key} if key else {}
    with client.stream("POST", url + path, json=body(model), headers=headers) as response:
        if response.status_code != 200:
            raw = response.read()[:400].decode("utf-8", "replace")
            return Outcome(False, "", f"HTTP {response.status_code}: {raw}"), response.status_code
        return read_answer(response, parse), 200


def check_calls(ctx: DoctorContext, notice: Callable[[str], None]) -> None:

    if ctx.daemon is None:
        ctx.checklist.skip(GROUP, "requests", "skipped: --call needs the running daemon")
        return
    try:
        listed = ControlClient(paths.control_socket(), timeout=ctx.options.timeout).call("models")
    except (DaemonNotRunning, ControlError, OSError, ValueError) as exc:
        ctx.checklist.fail(GROUP, "requests", f"the daemon did not list its models: {exc}", None)
        return
    models: list[dict[str, Any]] = list((listed or {}).get("models") or [])
    url = probe_url(str(ctx.daemon.get("url") or "")).rstrip("/")
    providers = ctx.daemon.get("providers") or {}
    notice(
        "--call: sending one short request per provider and client format through the daemon; "
        "this may spend premium requests or credits"
    )
    timeout = httpx.Timeout(ctx.options.timeout, read=max(ctx.options.timeout, 60.0))
    with httpx.Client(timeout=timeout, trust_env=False) as client:
        for name in ctx.provider_names():
            state = (providers.get(name) or {}).get("state")
            if state not in ("ready", "refreshing"):
                ctx.checklist.skip(GROUP, name, f"skipped: {name} is {state or 'not running'}")
                continue
            model = pick_model(models, name)
            if model is None:
                ctx.checklist.fail(GROUP, name, "no chat model listed", "aiclient models")
                continue
            for fmt in FORMATS:
                check = f"{name} via {fmt}"
                try:
                    outcome, _status = _one_call(
                        client, url, ctx.effective_config.api_key, fmt, model
                    )
                except httpx.HTTPError as exc:
                    outcome = Outcome(False, "", f"{type(exc).__name__}: {exc}")
                if outcome.ok:
                    ctx.checklist.ok(
                        GROUP, check, f"{model} streamed {outcome.text.strip()[:40]!r}"
                    )
                else:
                    ctx.checklist.fail(
                        GROUP,
                        check,
                        f"{model}: {redact(outcome.problem or 'failed')}",
                        "aiclient logs --level warning (then aiclient doctor --report FILE "
                        "for a bug report)",
                    )
