"""The intermediate representation (IR) every wire format converts to and from.

It follows Anthropic Messages, the richest of the three formats: content blocks, and a
stream of small events. Pure data: no I/O, no Trio, no provider knowledge. The format
modules (`aiclient_trio.formats.*`) parse client bodies into it and render it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeAlias

from aiclient_trio import untrusted
from aiclient_trio.errors import GatewayError, UpstreamError

__all__ = [
    "Block",
    "BlockStart",
    "BlockStop",
    "ContentBlock",
    "DocumentBlock",
    "Dropped",
    "ImageBlock",
    "JSONValue",
    "Leftovers",
    "Message",
    "MessageDelta",
    "MessageStart",
    "MessageStop",
    "RedactedThinkingBlock",
    "Request",
    "Response",
    "ResponseBuilder",
    "SignatureDelta",
    "StopReason",
    "StreamError",
    "StreamEvent",
    "TextBlock",
    "TextDelta",
    "ThinkingBlock",
    "ThinkingConfig",
    "ThinkingDelta",
    "Tool",
    "ToolChoice",
    "ToolInputDelta",
    "ToolResultBlock",
    "ToolUseBlock",
    "Usage",
    "WireFormat",
    "parse_tool_arguments",
]

# The three client-facing wire formats. Where bytes came from always says which one they
# hold; nothing sniffs JSON keys to guess.
WireFormat = Literal["openai_chat", "anthropic", "responses"]

# A decoded JSON value, as a client or an upstream sent it.
JSONValue: TypeAlias = dict[str, "JSONValue"] | list["JSONValue"] | str | int | float | bool | None

StopReason = Literal[
    "end_turn",
    "max_tokens",
    "tool_use",
    "stop_sequence",
    "content_filter",
    "refusal",
    "pause_turn",
    "model_context_window_exceeded",
]


# --------------------------------------------------------------------------- content


@dataclass(frozen=True, slots=True)
class TextBlock:
    text: str
    # Anthropic `cache_control` kept so a native upstream can receive it; others ignore it.
    cache_control: dict[str, Any] | None = None
    type: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ImageBlock:
    """An image, either inline base64 (`data` + `media_type`) or by `url`."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    type: Literal["image"] = "image"

    @property
    def data_url(self) -> str:
        if self.url is not None:
            return self.url
        return f"data:{self.media_type or 'image/png'};base64,{self.data or ''}"


@dataclass(frozen=True, slots=True)
class DocumentBlock:
    """An inline document (a PDF, base64) a user attached; `name` is its title if any."""

    data: str
    media_type: str = "application/pdf"
    name: str | None = None
    type: Literal["document"] = "document"

    @property
    def placeholder(self) -> str:
        """What upstreams without document support get instead (the text it always was)."""
        prefix = f"{self.name}\n\n" if self.name else ""
        return f"{prefix}[document omitted: {self.media_type}]"


@dataclass(frozen=True, slots=True)
class ToolUseBlock:
    id: str
    name: str
    input: dict[str, Any] = field(default_factory=dict)
    type: Literal["tool_use"] = "tool_use"


@dataclass(frozen=True, slots=True)
class ToolResultBlock:
    tool_use_id: str
    content: tuple[TextBlock | ImageBlock, ...] = ()
    is_error: bool = False
    type: Literal["tool_result"] = "tool_result"

    @property
    def text(self) -> str:
        """The text parts joined, the form text-only upstreams accept."""
        return "\n".join(b.text for b in self.content if isinstance(b, TextBlock))


@dataclass(frozen=True, slots=True)
class ThinkingBlock:
    thinking: str
    # Kept byte-exact: Anthropic rejects a replayed thinking block whose signature changed.
    signature: str | None = None
    type: Literal["thinking"] = "thinking"


@dataclass(frozen=True, slots=True)
class RedactedThinkingBlock:
    data: str
    type: Literal["redacted_thinking"] = "redacted_thinking"


ContentBlock = (
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
)
# Blocks an assistant response can hold (what a stream's BlockStart may open).
Block = TextBlock | ToolUseBlock | ThinkingBlock | RedactedThinkingBlock


@dataclass(frozen=True, slots=True)
class Message:
    role: Literal["user", "assistant"]
    content: tuple[ContentBlock, ...]


# --------------------------------------------------------------------------- request


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """auto / any (OpenAI "required") / none / tool (a named tool)."""

    type: Literal["auto", "any", "none", "tool"] = "auto"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ThinkingConfig:
    type: Literal["enabled", "adaptive", "disabled"] = "enabled"
    budget_tokens: int | None = None
    # reasoning effort ("low" | "medium" | "high" ...), from Anthropic output_config.effort
    # or OpenAI reasoning_effort / Responses reasoning.effort.
    effort: str | None = None


@dataclass(frozen=True, slots=True)
class Dropped:
    """Parts of a client's request that translation leaves out, named for the log."""

    tools: tuple[str, ...] = ()  # Responses hosted tools (web_search, ...), by name or type
    items: tuple[str, ...] = ()  # Responses input items with no IR form, described
    server_tools: tuple[str, ...] = ()  # Anthropic server tools, by name or type

    def __bool__(self) -> bool:
        return bool(self.tools or self.items or self.server_tools)


@dataclass(frozen=True, slots=True)
class Leftovers:
    """A client's top-level fields the IR does not model, kept so an upstream of the same
    format still receives them (`response_format`, `seed`, ... from an OpenAI chat client;
    `context_management`, ... from an Anthropic one; `metadata`, `store`, ... from Responses).
    The values are the client's JSON as it came."""

    format: WireFormat
    fields: Mapping[str, JSONValue]


@dataclass(frozen=True, slots=True)
class Request:
    model: str
    messages: tuple[Message, ...]
    system: tuple[TextBlock, ...] = ()
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: tuple[str, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    thinking: ThinkingConfig | None = None
    stream: bool = False
    # OpenAI `user` <-> Anthropic `metadata.user_id`.
    user: str | None = None
    # OpenAI stream_options.include_usage (the client asked for a usage chunk).
    include_usage: bool = False
    # Codex's freeform (custom) tools by name, and the namespace each namespaced tool came
    # in (Responses): its renderers give their calls back in those shapes.
    custom_tools: frozenset[str] = frozenset()
    tool_namespaces: Mapping[str, str] = field(default_factory=dict)
    # The client's prompt-cache key (OpenAI `prompt_cache_key`), for upstreams that take one.
    prompt_cache_key: str | None = None
    # Responses `reasoning.summary` as the client asked ("auto", "detailed", ...).
    reasoning_summary: str | None = None
    # What the IR cannot carry, left out of a translation (the server logs it).
    dropped: Dropped = Dropped()
    # The client's top-level fields the IR does not model (never needed to translate).
    leftovers: Leftovers | None = None

    @property
    def system_text(self) -> str:
        return "\n\n".join(b.text for b in self.system if b.text)

    def with_model(self, model: str) -> Request:
        return replace(self, model=model)

    @property
    def has_images(self) -> bool:
        for message in self.messages:
            for block in message.content:
                if isinstance(block, ImageBlock):
                    return True
                if isinstance(block, ToolResultBlock) and any(
                    isinstance(b, ImageBlock) for b in block.content
                ):
                    return True
        return False


# --------------------------------------------------------------------------- usage


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts with Anthropic semantics: `input_tokens` excludes cached tokens.

    OpenAI's `prompt_tokens` = input + cache_read + cache_creation.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    reasoning_tokens: int = 0
    # True when a number is our local estimate rather than the upstream's count.
    input_estimated: bool = False
    output_estimated: bool = False

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    @classmethod
    def from_openai(
        cls,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int = 0,
        cache_creation_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> Usage:
        """OpenAI counts include cached tokens; never go negative when subtracting."""
        cached = max(0, cached_tokens)
        creation = max(0, cache_creation_tokens)
        return cls(
            input_tokens=max(0, prompt_tokens - cached - creation),
            output_tokens=max(0, completion_tokens),
            cache_read_input_tokens=cached,
            cache_creation_input_tokens=creation,
            reasoning_tokens=max(0, reasoning_tokens),
        )


# --------------------------------------------------------------------------- stream events


@dataclass(frozen=True, slots=True)
class MessageStart:
    id: str
    model: str
    # Usually an estimate of the input; the real numbers come with MessageDelta.
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, slots=True)
class BlockStart:
    index: int
    # For tool_use the input is {} here and arrives through ToolInputDelta; for text and
    # thinking the text is "" here and arrives through deltas.
    block: Block


@dataclass(frozen=True, slots=True)
class TextDelta:
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    index: int
    thinking: str


@dataclass(frozen=True, slots=True)
class SignatureDelta:
    index: int
    signature: str


@dataclass(frozen=True, slots=True)
class ToolInputDelta:
    index: int
    partial_json: str


@dataclass(frozen=True, slots=True)
class BlockStop:
    index: int


@dataclass(frozen=True, slots=True)
class MessageDelta:
    stop_reason: StopReason | None
    usage: Usage
    stop_sequence: str | None = None


@dataclass(frozen=True, slots=True)
class MessageStop:
    pass


@dataclass(frozen=True, slots=True)
class StreamError:
    """The stream failed after it started; renderers turn it into the format's error event."""

    error: GatewayError


StreamEvent = (
    MessageStart
    | BlockStart
    | TextDelta
    | ThinkingDelta
    | SignatureDelta
    | ToolInputDelta
    | BlockStop
    | MessageDelta
    | MessageStop
    | StreamError
)


# --------------------------------------------------------------------------- response


@dataclass(frozen=True, slots=True)
class Response:
    id: str
    model: str
    content: tuple[Block, ...]
    stop_reason: StopReason | None
    usage: Usage
    stop_sequence: str | None = None


def parse_tool_arguments(raw: str) -> dict[str, Any]:
    """OpenAI `arguments` strings may be empty or invalid JSON: never crash, use {}.

    A valid JSON value that is not an object is wrapped so no information is lost.
    """
    if not raw or not raw.strip():
        return {}
    try:
        value = untrusted.loads(raw)
    except ValueError:
        return {}
    if isinstance(value, dict):
        return value
    return {"value": value}


class ResponseBuilder:
    """Aggregates a stream of IR events into one `Response` (the non-stream path).

    Feed every event; `response()` returns the result, or raises the stream's error.
    """

    def __init__(self) -> None:
        self._id = ""
        self._model = ""
        self._blocks: dict[int, Block] = {}
        self._text: dict[int, list[str]] = {}
        self._signature: dict[int, list[str]] = {}
        self._order: list[int] = []
        self._stop_reason: StopReason | None = None
        self._stop_sequence: str | None = None
        self._usage = Usage()
        self._error: GatewayError | None = None
        self.finished = False

    def feed(self, event: StreamEvent) -> None:
        match event:
            case MessageStart(id=id_, model=model, usage=usage):
                self._id, self._model, self._usage = id_, model, usage
            case BlockStart(index=index, block=block):
                self._blocks[index] = block
                self._text[index] = []
                self._signature[index] = []
                self._order.append(index)
            case TextDelta(index=index, text=text):
                self._text.setdefault(index, []).append(text)
            case ThinkingDelta(index=index, thinking=text):
                self._text.setdefault(index, []).append(text)
            case ToolInputDelta(index=index, partial_json=text):
                self._text.setdefault(index, []).append(text)
            case SignatureDelta(index=index, signature=sig):
                self._signature.setdefault(index, []).append(sig)
            case BlockStop():
                pass
            case MessageDelta(stop_reason=reason, usage=usage, stop_sequence=seq):
                self._stop_reason, self._usage, self._stop_sequence = reason, usage, seq
            case MessageStop():
                self.finished = True
            case StreamError(error=error):
                self._error = error

    def response(self) -> Response:
        if self._error is not None:
            raise self._error
        if not self.finished:
            raise UpstreamError("the upstream stream ended before the message was complete")
        content: list[Block] = []
        for index in self._order:
            block = self._blocks[index]
            text = "".join(self._text.get(index, ()))
            if isinstance(block, TextBlock):
                content.append(TextBlock(block.text + text))
            elif isinstance(block, ThinkingBlock):
                signature = "".join(self._signature.get(index, ())) or block.signature
                content.append(ThinkingBlock(block.thinking + text, signature))
            elif isinstance(block, ToolUseBlock):
                tool_input = parse_tool_arguments(text) if text else block.input
                content.append(ToolUseBlock(block.id, block.name, tool_input))
            else:
                content.append(block)
        return Response(
            id=self._id,
            model=self._model,
            content=tuple(content),
            stop_reason=self._stop_reason,
            usage=self._usage,
            stop_sequence=self._stop_sequence,
        )
