"""The provider contract: what the server and daemon may ask of an upstream.

A provider refreshes its credential, lists models with their capabilities, opens a
streaming call for an IR request or answers it whole (translation path; `complete` gathers
the stream unless the provider overrides it) or relays a native body (passthrough path),
reports quota and publishes its readiness. Everything upstream-specific (headers,
endpoint choice, name mapping, billing) stays inside the provider's own package; the
server reaches providers only through `aiclient_trio.providers.registry`.
"""

from __future__ import annotations

import abc
import dataclasses
import difflib
import enum
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

import trio
from trio_util import AsyncValue

from aiclient_trio import ir
from aiclient_trio.errors import NotFound

__all__ = [
    "ModelInfo",
    "PassthroughResponse",
    "Provider",
    "ProviderState",
    "ProviderStatus",
    "RequestContext",
    "close_matches",
]


class ProviderState(enum.StrEnum):
    STARTING = "starting"
    READY = "ready"
    REFRESHING = "refreshing"
    UNAUTHENTICATED = "unauthenticated"
    ERROR = "error"
    DISABLED = "disabled"
    # The upstream refuses the client version we present (Copilot's HTTP 466): a setting or
    # an upgrade fixes it, waiting does not.
    OUTDATED = "outdated"


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    state: ProviderState
    # Why the provider is not ready, and the command that fixes it ("aiclient auth kiro").
    reason: str | None = None
    fix: str | None = None
    since: float = field(default_factory=time.time)

    @property
    def ready(self) -> bool:
        return self.state in (ProviderState.READY, ProviderState.REFRESHING)

    def to_json(self) -> dict[str, Any]:
        return {"state": str(self.state), "reason": self.reason, "fix": self.fix}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str  # the upstream's id, e.g. "claude-sonnet-4.5"
    provider: str  # "copilot" | "kiro"
    display_name: str = ""
    context_window: int | None = None
    max_prompt_tokens: int | None = None
    max_output_tokens: int | None = None
    supports_tools: bool = True
    supports_vision: bool = False
    supports_thinking: bool = False
    # Wire formats the upstream itself speaks for this model (passthrough candidates).
    upstream_formats: tuple[ir.WireFormat, ...] = ()
    kind: Literal["chat", "embeddings"] = "chat"
    premium_multiplier: float | None = None
    # False when the upstream lists the model but its policy is not enabled for the user.
    enabled: bool = True

    @property
    def qualified_id(self) -> str:
        return f"{self.provider}/{self.id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.qualified_id,
            "provider": self.provider,
            "upstream_id": self.id,
            "display_name": self.display_name or self.id,
            "context_window": self.context_window,
            "max_prompt_tokens": self.max_prompt_tokens,
            "max_output_tokens": self.max_output_tokens,
            "supports_tools": self.supports_tools,
            "supports_vision": self.supports_vision,
            "supports_thinking": self.supports_thinking,
            "upstream_formats": list(self.upstream_formats),
            "kind": self.kind,
            "premium_multiplier": self.premium_multiplier,
            "enabled": self.enabled,
        }


@dataclass(slots=True)
class RequestContext:
    """Per-request facts a provider needs and things it reports back (for the ledger)."""

    request_id: str
    inbound_format: ir.WireFormat
    client_model: str
    # Inbound request headers, lower-cased names (anthropic-beta, x-claude-code-session-id...).
    headers: Mapping[str, str] = field(default_factory=dict)
    # Filled by the provider: upstream model id, Copilot initiator, Kiro credits, ...
    upstream_model: str | None = None
    initiator: str | None = None
    credits: float | None = None
    # Copilot premium requests this call costs: the model's multiplier for a user turn, else 0.
    premium: float | None = None
    # Copilot AI credits: `credits` is an estimate (no `copilot_usage` in the answer); the
    # upstream's own token split (truer than the format's usage about cache writes); how to
    # estimate credits from the final usage when the answer reported none.
    credits_estimated: bool = False
    billed_usage: ir.Usage | None = None
    estimate_credits: Callable[[ir.Usage], float] | None = None
    # True once any byte went to the client: from then on no retry or fallback.
    committed: bool = False
    # Set by the server on translated streams: a provider awaits it before each upstream
    # read, so what the events of the previous read rendered leaves in one write (and a
    # burst can be paced, see server.stream_coalesce_ms). None: nothing to call.
    before_read: Callable[[], Awaitable[None]] | None = None

    def billing(self, usage: ir.Usage | None) -> tuple[ir.Usage | None, float | None, bool]:
        """(usage, credits, credits estimated?) to record once the call ended."""
        if self.billed_usage is not None:
            reasoning = usage.reasoning_tokens if usage is not None else 0
            usage = dataclasses.replace(self.billed_usage, reasoning_tokens=reasoning)
        if self.credits is None and self.estimate_credits is not None and usage is not None:
            return usage, self.estimate_credits(usage), True
        return usage, self.credits, self.credits_estimated


@dataclass(slots=True)
class PassthroughResponse:
    """An upstream answer relayed as bytes (the inbound format equals the upstream's)."""

    status: int
    content_type: str
    body: AsyncIterator[bytes]
    headers: Mapping[str, str] = field(default_factory=dict)


def close_matches(name: str, candidates: Sequence[str], limit: int = 5) -> list[str]:

    return difflib.get_close_matches(name, list(candidates), n=limit, cutoff=0.4)


class Provider(abc.ABC):
    """Base class of providers. Subclasses live in `aiclient_trio.providers.<name>`."""

    name: str

    def __init__(self) -> None:
        self.status: AsyncValue[ProviderStatus] = AsyncValue(ProviderStatus(ProviderState.STARTING))
        # Told of every credential refresh (name, success); the daemon hooks metrics here.
        self.refresh_listeners: list[Callable[[str, bool], None]] = []

    # -- lifetime ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Long-running work (credential refresh loop, health monitor), run by the supervisor.

        Call `task_status.started()` once the first credential check is done (ready or not).
        Raising lets the supervisor mark the provider `error` and restart it with backoff.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release resources (HTTP clients) when the daemon stops."""

    # -- models -----------------------------------------------------------------------------

    @abc.abstractmethod
    def models(self) -> Sequence[ModelInfo]:
        """Every model this provider can serve now (cached; never does I/O)."""

    def listed_models(self) -> list[ModelInfo]:
        """The one rule for every model list (`GET /v1/models`, `aiclient models`, the demo
        banner): the models that can answer now, i.e. of a ready provider and enabled for the
        account. A signed-out provider's models would all answer 503, so none is listed."""
        if not self.status.value.ready:
            return []
        return [m for m in self.models() if m.enabled]

    def resolve_model(self, name: str) -> ModelInfo:
        """Map a client's model name (without the `provider/` prefix) to a model.

        Raises `NotFound` naming close matches. Providers override this to normalise names
        (dated Claude ids, dashes vs dots, case).
        """
        models = {m.id: m for m in self.models()}
        if name in models:
            return models[name]
        hints = close_matches(name, list(models))
        hint = f" Did you mean: {', '.join(self.name + '/' + h for h in hints)}?" if hints else ""
        raise NotFound(f"model {name!r} is not available on {self.name}.{hint}", param="model")

    # -- calls ------------------------------------------------------------------------------

    def passthrough(self, model: ModelInfo, inbound: ir.WireFormat) -> bool:
        """True when `inbound` bodies for `model` are relayed natively (no translation)."""
        return False

    @abc.abstractmethod
    def open_stream(
        self, request: ir.Request, model: ModelInfo, ctx: RequestContext
    ) -> AbstractAsyncContextManager[AsyncIterator[ir.StreamEvent]]:
        """Call the upstream for an IR request and yield IR events as they arrive.

        Errors before the first event raise `GatewayError` from `__aenter__`; errors after
        it arrive as a final `ir.StreamError` event. The iterator ends after `MessageStop`
        or `StreamError`. Leaving the context closes the upstream request at once.
        """

    async def complete(
        self,
        request: ir.Request,
        model: ModelInfo,
        ctx: RequestContext,
        on_progress: Callable[[], None] = lambda: None,
    ) -> ir.Response:
        """The whole answer to an IR request, for a client that did not ask to stream.

        The default gathers `open_stream`'s events, calling `on_progress` at each one (the
        server's idle timeout); the stream's error is raised. Providers whose upstream can
        answer in one body override this (`on_progress` then marks the body's arrival).
        """
        builder = ir.ResponseBuilder()
        async with self.open_stream(request, model, ctx) as events:
            try:
                async for event in events:
                    on_progress()
                    builder.feed(event)
            finally:
                aclose = getattr(events, "aclose", None)
                if aclose is not None:  # an async generator left early: closed, not GC'd
                    await aclose()
        return builder.response()

    def open_passthrough(
        self, body: dict[str, Any], model: ModelInfo, ctx: RequestContext
    ) -> AbstractAsyncContextManager[PassthroughResponse]:
        """Relay a native body (model already renamed by the provider) and yield the bytes."""
        raise NotImplementedError(f"{self.name} has no passthrough route")

    async def embeddings(
        self, body: dict[str, Any], model: ModelInfo, ctx: RequestContext
    ) -> dict[str, Any]:
        """OpenAI embeddings; `body["encoding_format"]` is "float" or "base64"."""
        raise NotFound(f"{self.name} does not serve embeddings", param="model")

    def describe(self) -> dict[str, Any]:
        """Facts for status screens, never a secret: {"endpoint": base URL in use,
        "api_version": str, "token_expires_at": unix seconds, "plan": str}, each optional."""
        return {}

    def cached_quota(self) -> dict[str, Any] | None:
        """The quota as last read (no I/O; for /metrics), or None."""
        return None

    async def quota(self) -> dict[str, Any] | None:
        """Upstream quota, or None if unknown. Shape: {"remaining": n, "limit": n, "unit":
        "premium requests", "unlimited": bool, "resets_at": "YYYY-MM-DD", "raw": {...}}."""
        return None

    # -- helpers ----------------------------------------------------------------------------

    def report_refresh(self, ok: bool) -> None:
        """Call after every credential refresh attempt."""
        for listener in self.refresh_listeners:
            listener(self.name, ok)

    def set_status(
        self, state: ProviderState, reason: str | None = None, fix: str | None = None
    ) -> None:
        current = self.status.value
        if current.state != state or current.reason != reason or current.fix != fix:
            self.status.value = ProviderStatus(state, reason, fix)
