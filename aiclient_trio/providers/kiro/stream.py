"""CodeWhisperer event-stream messages -> IR stream events (kiro.md sections 6 and 8).

`KiroStreamTranslator` is a sans-I/O state machine: feed it each decoded message's headers
and payload, then `finish()` at the end of the body. It opens blocks lazily, keys tool calls
by toolUseId, parses tag thinking across events, and works out usage and the stop reason.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from aiclient_trio import ir, untrusted
from aiclient_trio.errors import (
    ContextLengthExceeded,
    GatewayError,
    Overloaded,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    UpstreamError,
)
from aiclient_trio.providers.kiro.thinking import ThinkingTagParser
from aiclient_trio.providers.kiro.tools import ToolNames

__all__ = ["KiroStreamTranslator", "UsageFormula", "exception_error"]

log = logging.getLogger(__name__)
UsageFormula = Literal["combined", "input"]
_IGNORED = frozenset(
    {
        "messageMetadataEvent",
        "followupPromptEvent",
        "codeReferenceEvent",
        "supplementaryWebLinksEvent",
        "citationEvent",
        "codeEvent",
        "intentsEvent",
        "interactionComponentsEvent",
        "toolResultEvent",
        "dryRunSucceedEvent",
    }
)
_STOP_REASONS: dict[str, ir.StopReason] = {
    "TOOL_USE": "tool_use",
    "END_TURN": "end_turn",
    "MAX_TOKENS": "max_tokens",
    "STOP_SEQUENCE": "stop_sequence",
    # Each format's refusal stop: Anthropic "refusal", OpenAI "content_filter",
    # Responses incomplete/content_filter.
    "CONTENT_FILTERED": "refusal",
}
_logged_unknown: set[str] = set()


def _chars_estimate(text: str) -> int:
    return math.ceil(len(text) / 4)


def exception_error(name: str, message: str) -> GatewayError:
    """A mid-stream exception frame as the gateway error a client should see."""
    short = name.split("#")[-1].split(":")[0]
    text = f"Kiro: {message or short}"
    if short.startswith("Throttling"):
        return RateLimited(text)
    if short.startswith("ServiceQuotaExceeded"):
        return QuotaExceeded(text)
    if short.startswith("AccessDenied"):
        return PermissionDenied(text)
    if short.startswith("Validation") and "too long" in message.lower():
        return ContextLengthExceeded(f"prompt is too long ({message})")
    if short.startswith(("InternalServer", "ServiceUnavailable")):
        return Overloaded(text)
    return UpstreamError(f"{text} ({short})")


class KiroStreamTranslator:
    def __init__(
        self,
        *,
        message_id: str,
        model: str,
        tool_names: ToolNames | None = None,
        thinking_tags: bool = False,
        context_window: int = 200_000,
        input_estimate: int = 0,
        usage_formula: UsageFormula = "combined",
        count_tokens: Callable[[str], int] = _chars_estimate,
        tail_needs_metadata: bool = True,
    ) -> None:
        self._id, self._model = message_id, model
        self._names = tool_names or ToolNames()
        self._tags = ThinkingTagParser() if thinking_tags else None
        self._window, self._formula = context_window, usage_formula
        self._input_estimate, self._count = input_estimate, count_tokens
        self._next_index = 0
        self._open: tuple[str, int] | None = None  # (kind, index) of the open block
        self._tool_id: str | None = None
        self._tool_json: list[str] = []
        self._tool_name = ""
        self._tool_ids: set[str] = set()
        self._emitted: list[str] = []  # for the output-token estimate
        self._kinds: set[str] = set()
        self._token_usage: dict[str, Any] | None = None
        self._percent: float | None = None
        self._metadata_stop: str | None = None
        self._capped = False
        self.credits: float | None = None
        self.saw_usage_event = False
        # The tail a complete stream ends with: metadataEvent -> contextUsageEvent ->
        # meteringEvent (the legacy hosts may leave out metadataEvent).
        self._tail: set[str] = set()
        self._tail_needs = {"contextUsageEvent", "meteringEvent"} | (
            {"metadataEvent"} if tail_needs_metadata else set()
        )
        self.cut_off = False
        self.done = False

    # -- public -------------------------------------------------------------------------------

    def start(self) -> list[ir.StreamEvent]:
        usage = ir.Usage(input_tokens=self._input_estimate, input_estimated=True)
        return [ir.MessageStart(self._id, self._model, usage)]

    def feed(self, headers: Mapping[str, object], payload: bytes) -> list[ir.StreamEvent]:
        if self.done:
            return []
        message_type = headers.get(":message-type")
        try:
            data = untrusted.loads(payload) if payload else {}
        except ValueError:
            return self.fail(UpstreamError("Kiro sent an event whose payload is not JSON"))
        if not isinstance(data, dict):
            data = {}
        if message_type == "event":
            return self._event(str(headers.get(":event-type", "")), data)
        if message_type == "exception":
            name = str(headers.get(":exception-type", "UnknownException"))
            if name.split("#")[-1].startswith("ContentLengthExceeded"):
                self._capped = True  # the output cap: a normal max_tokens end
                return []
            return self.fail(exception_error(name, str(data.get("message", ""))))
        if message_type == "error":
            code = headers.get(":error-code", "UnknownError")
            detail = headers.get(":error-message", "")
            return self.fail(UpstreamError(f"Kiro stream error {code}: {detail}"))
        return self.fail(UpstreamError(f"Kiro sent an unknown message type {message_type!r}"))

    def fail(self, error: GatewayError) -> list[ir.StreamEvent]:
        if self.done:
            return []
        self.done = True
        return [ir.StreamError(error)]

    def finish(self) -> list[ir.StreamEvent]:
        """The body ended cleanly: close blocks, then the stop reason and usage."""
        if self.done:
            return []
        events = self._flush_tags()
        if self._tool_id is not None:
            events += self._stop_tool()
            if self.done:
                return events
        thinking_only = "thinking" in self._kinds and not ({"text", "tool"} & self._kinds)
        if thinking_only:
            events += self._text(" ")  # peers' convention: never an answer without text
        events += self._close()
        if not self._tail_needs <= self._tail:
            # No complete tail: the upstream cut the answer off. Never a clean end_turn.
            self.cut_off = True
            missing = ", ".join(sorted(self._tail_needs - self._tail))
            log.warning("Kiro stream ended without its tail (%s): answer cut off", missing)
        self.done = True
        events.append(ir.MessageDelta(self._stop_reason(thinking_only), self._usage()))
        events.append(ir.MessageStop())
        return events

    # -- events -------------------------------------------------------------------------------

    def _event(self, kind: str, data: dict[str, Any]) -> list[ir.StreamEvent]:
        if kind in ("metadataEvent", "contextUsageEvent", "meteringEvent"):
            self._tail.add(kind)
        if kind == "assistantResponseEvent":
            content = data.get("content")
            if not isinstance(content, str) or not content:
                return []
            if self._tags is None:
                return self._text(content)
            return self._pieces(self._tags.feed(content))
        if kind == "toolUseEvent":
            return self._tool(data)
        if kind == "reasoningContentEvent":
            return self._reasoning(data)
        if kind == "meteringEvent":
            self.saw_usage_event = True
            usage = data.get("usage")
            if isinstance(usage, int | float):
                self.credits = float(usage)  # cumulative: the last one counts
            return []
        if kind == "contextUsageEvent":
            self.saw_usage_event = True
            percent = data.get("contextUsagePercentage")
            if isinstance(percent, int | float):
                self._percent = float(percent)
            return []
        if kind == "metadataEvent":
            self.saw_usage_event = True
            if isinstance(data.get("tokenUsage"), dict):
                self._token_usage = data["tokenUsage"]
            if isinstance(data.get("stopReason"), str):
                self._metadata_stop = data["stopReason"]
            return []
        if kind == "invalidStateEvent":
            reason = data.get("message") or data.get("reason") or "invalid state"
            return self.fail(UpstreamError(f"Kiro: {reason}"))
        if kind not in _IGNORED and kind not in _logged_unknown:
            _logged_unknown.add(kind)
            log.info("ignoring unknown Kiro event type %s", kind)
        return []

    def _pieces(self, pieces: Sequence[tuple[str, str]]) -> list[ir.StreamEvent]:
        events: list[ir.StreamEvent] = []
        for kind, text in pieces:
            events += self._thinking(text) if kind == "thinking" else self._text(text)
        return events

    def _flush_tags(self) -> list[ir.StreamEvent]:
        return self._pieces(self._tags.flush()) if self._tags is not None else []

    def _ensure(self, kind: str, block: ir.Block) -> tuple[list[ir.StreamEvent], int]:
        if self._open is not None and self._open[0] == kind:
            return [], self._open[1]
        events = self._close()
        index = self._next_index
        self._next_index += 1
        self._open = (kind, index)
        self._kinds.add(kind)
        events.append(ir.BlockStart(index, block))
        return events, index

    def _close(self) -> list[ir.StreamEvent]:
        if self._open is None:
            return []
        index = self._open[1]
        self._open = None
        return [ir.BlockStop(index)]

    def _text(self, text: str) -> list[ir.StreamEvent]:
        if not text:
            return []
        events, index = self._ensure("text", ir.TextBlock(""))
        self._emitted.append(text)
        events.append(ir.TextDelta(index, text))
        return events

    def _thinking(self, text: str) -> list[ir.StreamEvent]:
        if not text:
            return []
        events, index = self._ensure("thinking", ir.ThinkingBlock(""))
        self._emitted.append(text)
        events.append(ir.ThinkingDelta(index, text))
        return events

    def _reasoning(self, data: dict[str, Any]) -> list[ir.StreamEvent]:
        events = self._flush_tags()
        if isinstance(data.get("text"), str):
            events += self._thinking(data["text"])
        if isinstance(data.get("signature"), str) and data["signature"]:
            more, index = self._ensure("thinking", ir.ThinkingBlock(""))
            events += [*more, ir.SignatureDelta(index, data["signature"])]
        redacted = data.get("redactedContent")
        if redacted:
            events += self._close()
            index = self._next_index
            self._next_index += 1
            self._kinds.add("thinking")
            events += [ir.BlockStart(index, ir.RedactedThinkingBlock(str(redacted))),
                       ir.BlockStop(index)]  # fmt: skip
        return events

    def _tool(self, data: dict[str, Any]) -> list[ir.StreamEvent]:
        tool_id = data.get("toolUseId")
        if not isinstance(tool_id, str) or not tool_id:
            return []
        events = self._flush_tags()
        if tool_id != self._tool_id:
            if self._tool_id is not None:  # a new id implicitly ends the previous call
                events += self._stop_tool()
                if self.done:
                    return events
            if tool_id in self._tool_ids:
                return events  # fragments of a call already stopped
            self._tool_ids.add(tool_id)
            self._tool_id, self._tool_json = tool_id, []
            self._tool_name = self._names.client(str(data.get("name", "")))
            events += self._close()
            index = self._next_index
            self._next_index += 1
            self._open = ("tool", index)
            self._kinds.add("tool")
            events.append(ir.BlockStart(index, ir.ToolUseBlock(tool_id, self._tool_name, {})))
        fragment = data.get("input")
        if isinstance(fragment, dict):
            fragment = json.dumps(fragment)
        if isinstance(fragment, str) and fragment and self._open is not None:
            self._tool_json.append(fragment)
            self._emitted.append(fragment)
            events.append(ir.ToolInputDelta(self._open[1], fragment))
        if data.get("stop") is True:
            events += self._stop_tool()
        return events

    def _stop_tool(self) -> list[ir.StreamEvent]:
        arguments = "".join(self._tool_json)
        name, self._tool_id = self._tool_name, None
        if arguments.strip():
            try:
                untrusted.loads(arguments)
            except ValueError:
                return self.fail(
                    UpstreamError(
                        f"Kiro cut off the arguments of the {name} tool call "
                        f"({len(arguments)} characters arrived); the call is incomplete"
                    )
                )
        return self._close()

    # -- the end ------------------------------------------------------------------------------

    def _stop_reason(self, thinking_only: bool) -> ir.StopReason:
        if self.cut_off:
            return "max_tokens"
        if "tool" in self._kinds:
            return "tool_use"
        if self._capped:
            return "max_tokens"
        if self._percent is not None and self._percent >= 100.0:
            return "model_context_window_exceeded"
        if self._metadata_stop:
            mapped = _STOP_REASONS.get(self._metadata_stop.upper())
            if mapped is not None:
                return mapped
        return "max_tokens" if thinking_only else "end_turn"

    def _usage(self) -> ir.Usage:
        output = self._count("".join(self._emitted)) if self._emitted else 0
        exact = self._token_usage
        if exact is not None:
            return ir.Usage(
                input_tokens=int(exact.get("uncachedInputTokens") or 0),
                output_tokens=int(exact.get("outputTokens") or output),
                cache_read_input_tokens=int(exact.get("cacheReadInputTokens") or 0),
                cache_creation_input_tokens=int(exact.get("cacheWriteInputTokens") or 0),
                output_estimated="outputTokens" not in exact,
            )
        if self._percent is not None:
            total = round(self._percent * self._window / 100.0)
            input_tokens = max(0, total - output) if self._formula == "combined" else total
            return ir.Usage(input_tokens, output, input_estimated=True, output_estimated=True)
        return ir.Usage(self._input_estimate, output, input_estimated=True, output_estimated=True)
