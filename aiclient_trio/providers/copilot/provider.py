"""The Copilot provider: credential lifecycle, model cache, native relay and translation.

`run()` keeps the Copilot token fresh and the models and quota cached; calls go to the
endpoint each model supports (§8), relayed byte for byte when the client speaks it.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import trio
from trio_util import AsyncValue

from aiclient_trio import ir, untrusted
from aiclient_trio.config.types import Config, CopilotConfig
from aiclient_trio.errors import (
    GatewayError,
    InvalidRequest,
    ProviderUnavailable,
    UpstreamError,
)
from aiclient_trio.formats.contract import RenderOptions
from aiclient_trio.formats.table import codec
from aiclient_trio.offload import body_is_big, off_loop, request_is_big
from aiclient_trio.providers.base import (
    ModelInfo,
    PassthroughResponse,
    Provider,
    ProviderState,
    RequestContext,
)
from aiclient_trio.providers.copilot.auth import (
    FIX_COMMAND,
    NoCopilotAccess,
    StoredCredential,
    TokenManager,
    TokenRevoked,
    credential_path,
    github_urls,
    load_credential,
)
from aiclient_trio.providers.copilot.billing import (
    Billed,
    TokenPrices,
    UsageFinder,
    parse_quota_headers,
    parse_token_prices,
)
from aiclient_trio.providers.copilot.bodies import (
    chat_response,
    describe_error,
    encode_base64_floats,
    ir_events,
    merged_chat_body,
    quota_from_user,
    reasoning_content_events,
    relay_bytes,
)
from aiclient_trio.providers.copilot.client import (
    VERSION_SETTINGS,
    CapiClient,
    make_pool,
)
from aiclient_trio.providers.copilot.headers import (
    CallHeaders,
    filter_anthropic_beta,
    github_headers,
)
from aiclient_trio.providers.copilot.initiator import (
    initiator_for_ir,
    premium_cost,
)
from aiclient_trio.providers.copilot.interaction import (
    InteractionTracker,
    interaction_type,
    load_device_ids,
    texts_of_request,
)
from aiclient_trio.providers.copilot.limits import (
    ModelLimits,
    parse_limits,
)
from aiclient_trio.providers.copilot.models import (
    FORMAT_PATHS,
    choose_upstream_format,
    parse_models,
    resolve_model_name,
)
from aiclient_trio.providers.copilot.outbound import passthrough_body, translated_body
from aiclient_trio.providers.failures import watch_pool
from aiclient_trio.upstream import Response, http_client
from aiclient_trio.upstream.failures import broken_body, close_body, transport_error

__all__ = ["CopilotProvider", "encode_base64_floats", "quota_from_user"]

log = logging.getLogger(__name__)

_CREDENTIAL_POLL = 2.0  # seconds between checks for a new sign-in while signed out
# A non-stream client's answer is asked for in one body only when it is surely short: a whole
# body must arrive within the first-byte timeout, while a stream only needs steady events.
_ONE_BODY_MAX_TOKENS = 4096


class CopilotProvider(Provider):
    name = "copilot"

    def __init__(self, config: Config, *, credentials_dir: Path | None = None) -> None:
        super().__init__()
        self.config = config
        self._cc = config.copilot
        self._cred_dir = credentials_dir
        # The hot path: CAPI calls (its failed answers are kept for `aiclient doctor`).
        self.upstream = watch_pool(make_pool(config.upstream), self.name)
        self.http = http_client(self.upstream)  # sign-in, token and quota calls, same pool
        self.tokens: TokenManager | None = None
        self._capi: CapiClient | None = None
        self._models: list[ModelInfo] = []
        self._models_at: float | None = None
        # Bumped at every successful model-list refresh (the health monitor's heartbeat).
        self.models_version: AsyncValue[int] = AsyncValue(0)
        self._quota: dict[str, Any] | None = None
        # AI-credit prices per model id (from /models), whether /copilot_internal/user says
        # the account pays per token, and the last quota snapshot header CAPI sent.
        self._prices: dict[str, TokenPrices] = {}
        self._limits: dict[str, ModelLimits] = {}
        self._interactions = InteractionTracker()
        self._token_billing: bool | None = None
        self._quota_header: Mapping[str, str] = {}
        self._credentials_event = trio.Event()

    # -- lifetime ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self.upstream.aclose()
        await self.http.aclose()

    def _credential_stamp(self) -> float | None:
        try:
            return credential_path(self._cred_dir).stat().st_mtime_ns / 1e9
        except OSError:
            return None

    def credentials_changed(self) -> None:
        """Tell a signed-out provider to look at the credential file now (after `auth`)."""
        self._credentials_event.set()

    async def _wait_for_new_credential(self, seen: float | None) -> None:
        # A new sign-in shows up as a new file stamp; `credentials_changed()` makes the
        # check immediate, the timeout covers an `aiclient auth` run without the daemon.
        while self._credential_stamp() == seen:
            with trio.move_on_after(_CREDENTIAL_POLL):
                await self._credentials_event.wait()
            self._credentials_event = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        started = False

        def report() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        failures = 0
        while True:
            stamp = self._credential_stamp()
            credential = load_credential(self._cred_dir)
            if credential is None:
                self.set_status(
                    ProviderState.UNAUTHENTICATED, "not signed in to GitHub Copilot", FIX_COMMAND
                )
                report()
                await self._wait_for_new_credential(stamp)
                continue
            signed_in = signed_in_config(self.config.copilot, credential)
            self._cc = signed_in
            self.tokens = TokenManager(
                self.http, signed_in, credential.github_token, on_refresh=self.report_refresh
            )
            self._capi = CapiClient(self.upstream, signed_in, self.tokens)
            self._capi.device = load_device_ids(credential_path(self._cred_dir).parent)
            self._capi.on_signed_out = self._signed_out
            self._capi.on_version_refused = self._version_refused
            self._capi.on_answer = self._note_answer_headers
            try:
                await self.tokens.refresh(None)
            except (TokenRevoked, NoCopilotAccess) as exc:
                self.set_status(ProviderState.UNAUTHENTICATED, exc.message, FIX_COMMAND)
                report()
                await self._wait_for_new_credential(stamp)
                continue
            except (GatewayError, httpx.HTTPError) as exc:
                failures += 1
                self.set_status(
                    ProviderState.ERROR, f"token exchange failed: {describe_error(exc)}"
                )
                report()
                await trio.sleep(_backoff(failures, exc))
                continue
            failures = 0
            await self._refresh_models()
            await self._refresh_quota()  # which billing applies (AI credits or requests)
            self._set_ready()
            report()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._refresh_loop, nursery.cancel_scope)
                nursery.start_soon(self._health_loop)
            await self._wait_for_new_credential(stamp)

    def _signed_out(self, exc: GatewayError) -> None:
        self.set_status(ProviderState.UNAUTHENTICATED, exc.message, FIX_COMMAND)

    def _version_refused(self, exc: GatewayError) -> None:
        """HTTP 466: nothing works until a setting or an upgrade names a newer version."""
        self.set_status(
            ProviderState.OUTDATED,
            f"Copilot no longer accepts this client version (X-GitHub-Api-Version "
            f"{self._cc.api_version}, {self._cc.editor_version}, {self._cc.editor_plugin_version})",
            f"aiclient config set {VERSION_SETTINGS[0]} <newer date>; aiclient version --check",
        )

    def _set_ready(self) -> None:
        """Ready, unless CAPI refused our version: a fresh token does not mend that."""
        if self.status.value.state != ProviderState.OUTDATED:
            self.set_status(ProviderState.READY)

    async def _refresh_loop(self, scope: trio.CancelScope) -> None:
        """Refresh at `refresh_in - 60` s; backoff with jitter (at least GitHub's retry-after);
        stay ready while the current token is valid; stop when revoked or the seat is gone."""
        assert self.tokens is not None
        while True:
            token = await self.tokens.get()
            await trio.sleep_until(token.refresh_at)
            attempt = 0
            while True:
                try:
                    valid = time.time() < token.expires_at
                    if valid and self.status.value.state != ProviderState.OUTDATED:
                        self.set_status(ProviderState.REFRESHING)
                    await self.tokens.refresh(token)
                    self._set_ready()
                    break
                except (TokenRevoked, NoCopilotAccess) as exc:
                    self.set_status(ProviderState.UNAUTHENTICATED, exc.message, FIX_COMMAND)
                    scope.cancel()
                    return
                except (GatewayError, httpx.HTTPError) as exc:
                    attempt += 1
                    if time.time() >= token.expires_at:
                        self.set_status(
                            ProviderState.ERROR, f"refresh failed: {describe_error(exc)}"
                        )
                    log.warning("copilot token refresh failed (%s)", describe_error(exc))
                    await trio.sleep(_backoff(attempt, exc))

    async def _health_loop(self) -> None:
        while True:
            await trio.sleep(self._cc.models_ttl)
            await self._refresh_models()
            await self._refresh_quota()

    async def _refresh_models(self) -> None:
        if self._capi is None:
            return
        try:
            payload = await self._capi.get_json("/models", _request_id())
        except (GatewayError, httpx.HTTPError, ValueError) as exc:
            log.warning("copilot model list failed (%s)", describe_error(exc))
            return
        if isinstance(payload, dict):
            self._prices = {
                str(entry["id"]): prices
                for entry in payload.get("data") or []
                if isinstance(entry, dict)
                and "id" in entry
                and (prices := parse_token_prices(entry)) is not None
            }
            self._limits = {
                str(entry["id"]): parse_limits(entry)
                for entry in payload.get("data") or []
                if isinstance(entry, dict) and "id" in entry
            }
            self._models = parse_models(payload)
            self._models_at = time.time()
            self.models_version.value += 1
            if self.status.value.state == ProviderState.OUTDATED:
                self.set_status(ProviderState.READY)  # CAPI takes our version again

    async def _refresh_quota(self) -> dict[str, Any] | None:
        if self.tokens is None:
            return None
        _, api = github_urls(self._cc)
        try:
            response = await self.http.get(
                f"{api}/copilot_internal/user",
                headers=github_headers(self._cc, self.tokens.github_token),
            )
        except httpx.HTTPError as exc:
            return {"error": describe_error(exc)}
        if response.status_code != 200:
            return {"error": f"HTTP {response.status_code}"}
        try:
            self._quota = quota_from_user(response.json())
        except ValueError:
            return {"error": "unreadable quota answer"}
        if self._quota.get("token_based_billing") is not None:
            self._token_billing = bool(self._quota["token_based_billing"])
        return self._quota

    # -- billing ----------------------------------------------------------------------------

    @property
    def billing(self) -> str:
        """ "credits" (AI credits per token) or "premium_requests" (annual Pro/Pro+)."""
        if self._cc.billing != "auto":
            return self._cc.billing
        return "premium_requests" if self._token_billing is False else "credits"

    def _note_answer_headers(self, headers: Mapping[str, str]) -> None:
        snapshot = {k: v for k, v in headers.items() if k.startswith("x-quota-snapshot-")}
        if snapshot:
            self._quota_header = snapshot  # parsed only when someone asks for the quota

    def _note_call(
        self,
        ctx: RequestContext,
        model: ModelInfo,
        upstream_fmt: ir.WireFormat,
        initiator: str,
        texts: tuple[str, str],
        images: bool,
    ) -> tuple[Callable[[Billed], None], CallHeaders]:
        """What the call tells Copilot about itself (interaction type and id, initiator,
        vision) and what the ledger records of it: the model, who started the turn, its
        cost (premium requests, or AI credits read off the answer, else estimated)."""
        kind = interaction_type(*texts, ctx.client_model)
        retry = self._interactions.is_retry(ctx.request_id, ctx.headers)
        if kind != "conversation-agent" or retry:
            initiator = "agent"  # subagents, compaction, background calls and retries
        ctx.upstream_model = model.id
        ctx.initiator = initiator
        call = CallHeaders(
            ctx.request_id,
            initiator=initiator,
            vision=images and (upstream_fmt == "openai_chat" or self._cc.vision_header == "all"),
            interaction_type=None if kind == "conversation-agent" else kind,
            interaction_id=self._interactions.interaction_id(ctx.headers, initiator == "user"),
            messages_proxy=upstream_fmt == "anthropic",
            client_user_agent=ctx.headers.get("user-agent", ""),
        )
        credits = self.billing == "credits"
        ctx.premium = 0.0 if credits else premium_cost(initiator, model)
        prices = self._prices.get(model.id)
        if credits and prices is not None:
            ctx.estimate_credits = prices.estimate

        def found(billed: Billed) -> None:
            ctx.credits, ctx.credits_estimated = billed.credits, False
            ctx.billed_usage = billed.usage

        return found, call

    # -- models -----------------------------------------------------------------------------

    def models(self) -> Sequence[ModelInfo]:
        return list(self._models)

    def resolve_model(self, name: str) -> ModelInfo:
        status = self.status.value
        if not self._models and not status.ready:
            fix = f"; run `{status.fix}`" if status.fix else ""
            raise ProviderUnavailable(f"copilot is {status.state}: {status.reason}{fix}")
        by_id = {m.id: m for m in self._models}
        return by_id[resolve_model_name(name, by_id, small_model=self._cc.small_model)]

    def passthrough(self, model: ModelInfo, inbound: ir.WireFormat) -> bool:
        return inbound in model.upstream_formats

    # -- calls ------------------------------------------------------------------------------

    def _client(self) -> CapiClient:
        if self._capi is None:
            raise ProviderUnavailable(f"copilot is not signed in; run `{FIX_COMMAND}`")
        return self._capi

    def open_passthrough(
        self, body: dict[str, Any], model: ModelInfo, ctx: RequestContext
    ) -> AbstractAsyncContextManager[PassthroughResponse]:
        return self._passthrough(body, model, ctx)

    @asynccontextmanager
    async def _passthrough(
        self, body: dict[str, Any], model: ModelInfo, ctx: RequestContext
    ) -> AsyncIterator[PassthroughResponse]:
        fmt = ctx.inbound_format
        if fmt not in model.upstream_formats:
            raise InvalidRequest(f"copilot/{model.id} does not speak {fmt} natively")
        capi = self._client()
        limits = self._limits.get(model.id, ModelLimits())
        prepared = await off_loop(body_is_big(body), passthrough_body, fmt, body, model, limits)
        upstream, gather = prepared.body, prepared.gather
        billed, call = self._note_call(
            ctx, model, fmt, prepared.initiator, prepared.texts, prepared.images
        )
        extra = filter_anthropic_beta(ctx.headers, self._cc) if fmt == "anthropic" else {}
        async with capi.open(
            "POST", FORMAT_PATHS[fmt], prepared.encoded, call, extra_headers=extra, inbound=fmt
        ) as response:
            content_type = response.headers.get("content-type", "application/json")
            raw = response.aiter_raw()
            if gather:
                content_type = "application/json"
                finder = UsageFinder(billed, streaming=True)
                relay = _gathered(fmt, raw, model.id, upstream, len(prepared.encoded), finder)
            else:
                if fmt == "openai_chat" and "json" in content_type and body.get("n") in (None, 1):
                    raw = merged_chat_body(response)
                elif fmt == "openai_chat" and "event-stream" in content_type:
                    raw = reasoning_content_events(raw)
                finder = UsageFinder(billed, streaming="event-stream" in content_type)
                relay = relay_bytes(raw, finder)
            try:
                yield PassthroughResponse(
                    status=response.status_code,
                    content_type=content_type,
                    body=relay,
                    headers={"x-request-id": ctx.request_id},
                )
            finally:
                await relay.aclose()
                await close_body(response, raw)

    def open_stream(
        self, request: ir.Request, model: ModelInfo, ctx: RequestContext
    ) -> AbstractAsyncContextManager[AsyncIterator[ir.StreamEvent]]:
        return self._stream(request, model, ctx)

    @asynccontextmanager
    async def _stream(
        self, request: ir.Request, model: ModelInfo, ctx: RequestContext
    ) -> AsyncIterator[AsyncIterator[ir.StreamEvent]]:
        fmt = choose_upstream_format(model, ctx.inbound_format)
        async with self._post_translated(request, model, ctx, fmt, stream=True) as posted:
            response, billed, size = posted
            parser = codec(fmt).stream_parser(model.id, max(1, size // 4))
            raw = response.aiter_raw()
            finder = UsageFinder(billed, streaming=True)
            events = ir_events(raw, parser, ctx.before_read, finder)
            try:
                yield events
            finally:
                await events.aclose()
                await close_body(response, raw)

    @asynccontextmanager
    async def _post_translated(
        self,
        request: ir.Request,
        model: ModelInfo,
        ctx: RequestContext,
        fmt: ir.WireFormat,
        *,
        stream: bool,
    ) -> AsyncIterator[tuple[Response, Callable[[Billed], None], int]]:
        """`request` translated to `fmt` (off the loop when big), the call noted for the
        ledger and POSTed to the format's endpoint: (the response, what reads its billing,
        the size of the upstream body)."""
        capi = self._client()
        limits = self._limits.get(model.id, ModelLimits())
        build = partial(translated_body, stream=stream)
        translated = await off_loop(request_is_big(request), build, fmt, request, model, limits)
        billed, call = self._note_call(
            ctx,
            model,
            fmt,
            initiator_for_ir(request),
            texts_of_request(request),
            request.has_images,
        )
        extra = filter_anthropic_beta(ctx.headers, self._cc) if fmt == "anthropic" else {}
        async with capi.open(
            "POST",
            FORMAT_PATHS[fmt],
            translated.encoded,
            call,
            extra_headers=extra,
            inbound=ctx.inbound_format,
        ) as response:
            yield response, billed, len(translated.encoded)

    async def complete(
        self,
        request: ir.Request,
        model: ModelInfo,
        ctx: RequestContext,
        on_progress: Callable[[], None] = lambda: None,
    ) -> ir.Response:
        """A short chat/completions answer in one JSON body (no SSE chunks to parse); the
        other endpoints and long answers gather the stream as before."""
        fmt = choose_upstream_format(model, ctx.inbound_format)
        most = self._limits.get(model.id, ModelLimits()).max_non_streaming_output
        if fmt != "openai_chat" or not _surely_short(request, most):
            return await super().complete(request, model, ctx, on_progress)
        if request.model != model.id or request.stream:  # the server's request already is
            request = replace(request, model=model.id, stream=False)
        async with self._post_translated(request, model, ctx, fmt, stream=False) as posted:
            response, billed, size = posted
            try:
                raw = await response.aread()
            except httpx.HTTPError as exc:
                raise broken_body(exc, "Copilot") from None
        finder = UsageFinder(billed, streaming=False)
        finder.feed(raw)
        finder.close()
        on_progress()
        return chat_response(raw, model.id, lambda: max(1, size // 4))

    async def embeddings(
        self, body: dict[str, Any], model: ModelInfo, ctx: RequestContext
    ) -> dict[str, Any]:
        """OpenAI embeddings; more inputs than the model's `max_inputs` go in several calls
        whose results are joined in input order."""
        ctx.upstream_model = model.id
        upstream = {k: v for k, v in body.items() if k not in ("encoding_format", "user")}
        upstream["model"] = model.id
        inputs = upstream.get("input")
        size = self._limits.get(model.id, ModelLimits()).max_inputs
        batched = (
            isinstance(inputs, list)
            and len(inputs) > size
            and not all(isinstance(i, int) for i in inputs)  # a list of ints is one input
        )
        if not batched:
            data = await self._embed(upstream, ctx)
        else:
            assert isinstance(inputs, list)
            parts = [
                await self._embed({**upstream, "input": inputs[i : i + size]}, ctx)
                for i in range(0, len(inputs), size)
            ]
            data = _joined_embeddings(parts, size)
        if body.get("encoding_format") == "base64":
            for item in data.get("data") or []:
                vector = item.get("embedding")
                if isinstance(vector, list):
                    item["embedding"] = encode_base64_floats(vector)
        return dict(data)

    async def _embed(self, upstream: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        capi = self._client()
        async with capi.open(
            "POST", "/embeddings", upstream, CallHeaders(ctx.request_id)
        ) as response:
            try:
                data = untrusted.loads(await response.aread())
            except httpx.HTTPError as exc:
                raise transport_error(exc, "Copilot") from None
            except ValueError:
                raise UpstreamError("Copilot returned an invalid embeddings body") from None
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise UpstreamError("Copilot returned an invalid embeddings body")
        return data

    def describe(self) -> dict[str, Any]:
        token = self.tokens.current if self.tokens is not None else None
        facts: dict[str, Any] = {"api_version": self._cc.api_version}
        if token is not None:
            facts.update(endpoint=token.api_url, token_expires_at=token.expires_at)
            if token.sku:
                facts["plan"] = token.sku
        return facts

    async def quota(self) -> dict[str, Any] | None:
        fresh = await self._refresh_quota()
        quota = dict(fresh if fresh is not None else self._quota or {})
        snapshot = parse_quota_headers(self._quota_header)
        if snapshot is not None:
            quota["snapshot"] = snapshot  # what the last answer said, between quota calls
            if quota.get("error") and snapshot["percent_remaining"] is not None:
                quota.setdefault("percent_remaining", snapshot["percent_remaining"])
                quota.setdefault("resets_at", snapshot["resets_at"])
        quota["billing"] = "AI credits" if self.billing == "credits" else "premium requests"
        return quota


def _surely_short(request: ir.Request, non_streaming_limit: int | None = None) -> bool:
    """The answer's output limit (thinking included) is known and small (and within the
    model's non-stream limit)."""
    if request.max_tokens is None:
        return False
    budget = request.thinking.budget_tokens if request.thinking is not None else None
    most = min(_ONE_BODY_MAX_TOKENS, non_streaming_limit or _ONE_BODY_MAX_TOKENS)
    return request.max_tokens + (budget or 0) <= most


async def _gathered(
    fmt: ir.WireFormat,
    raw: AsyncIterator[bytes],
    model_id: str,
    upstream: dict[str, Any],
    upstream_size: int,
    finder: UsageFinder,
) -> AsyncGenerator[bytes, None]:
    """A streamed upstream answer as the one JSON body a non-stream client asked for."""
    format_codec = codec(fmt)
    parser = format_codec.stream_parser(model_id, upstream_size // 4)
    builder = ir.ResponseBuilder()
    events = ir_events(raw, parser, None, finder)
    try:
        async for event in events:
            builder.feed(event)
    finally:
        await events.aclose()
    response = builder.response()  # the stream's error, if it failed, is raised here
    if fmt == "responses":
        custom = frozenset(
            str(t.get("name"))
            for t in upstream.get("tools") or []
            if isinstance(t, dict) and t.get("type") == "custom"
        )
        named = replace(response, model=model_id)
        rendered = format_codec.render_response(named, RenderOptions(custom_tools=custom))
    else:
        rendered = format_codec.render_response(response, RenderOptions())
    yield json.dumps(rendered).encode()


def _joined_embeddings(parts: list[dict[str, Any]], size: int) -> dict[str, Any]:
    """Batch answers as one: indexes shifted by each batch's offset, usage summed."""
    data: list[dict[str, Any]] = []
    usage = {"prompt_tokens": 0, "total_tokens": 0}
    for n, part in enumerate(parts):
        for item in part["data"]:
            index = item.get("index") if isinstance(item, dict) else None
            data.append({**item, "index": n * size + (index if isinstance(index, int) else 0)})
        raw_counts = part.get("usage")
        counts: dict[str, Any] = raw_counts if isinstance(raw_counts, dict) else {}
        for key in usage:
            value = counts.get(key)
            usage[key] += value if isinstance(value, int) else 0
    data.sort(key=lambda item: int(item["index"]))
    return {**parts[0], "data": data, "usage": usage}


def signed_in_config(config: CopilotConfig, credential: StoredCredential) -> CopilotConfig:
    """The config with the sign-in's GitHub host and plan where the config names none: a
    token from `aiclient auth copilot --enterprise-domain acme.ghe.com` only works there."""
    changes: dict[str, Any] = {}
    if credential.enterprise_domain and not config.enterprise_domain:
        changes["enterprise_domain"] = credential.enterprise_domain
    if config.account_type == "individual" and credential.account_type != "individual":
        changes["account_type"] = credential.account_type
    return replace(config, **changes) if changes else config


def _backoff(attempt: int, exc: BaseException | None = None) -> float:
    """Exponential backoff with jitter, never sooner than the upstream's retry-after (plus
    jitter too, so daemons rate-limited together do not come back together)."""
    delay = min(300.0, 2.0 ** min(attempt, 9)) * random.uniform(0.5, 1.0)
    retry_after = exc.retry_after if isinstance(exc, GatewayError) else None
    if retry_after is not None:
        delay = max(delay, retry_after * random.uniform(1.0, 1.25))
    return float(delay)


def _request_id() -> str:

    return str(uuid.uuid4())
