"""The Kiro provider: IR requests to Kiro's chat hosts and their event stream back to IR.

Calls go through one `upstream.Pool` (directly on the hot path, through httpx for sign-in and
the management API); the response body is read with `aiter_raw()` into the sans-I/O
event-stream decoder, so leaving `open_stream` closes the upstream call at once. A 401/403
"bearer token invalid" forces one refresh and one retry. With `endpoint = "auto"` a host
that is gone moves the call to the next family (`endpoints`), and the family that worked
is remembered per credential.
"""

from __future__ import annotations

import collections
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import trio

from aiclient_trio import ir
from aiclient_trio.codecs.eventstream import EventStreamDecoder, EventStreamError
from aiclient_trio.config.types import Config
from aiclient_trio.errors import GatewayError, UpstreamError
from aiclient_trio.offload import off_loop, request_is_big
from aiclient_trio.providers.base import ModelInfo, Provider, ProviderState, RequestContext
from aiclient_trio.providers.failures import watch_pool
from aiclient_trio.providers.kiro import client, endpoints
from aiclient_trio.providers.kiro.auth import KiroAuth, SignedOut
from aiclient_trio.providers.kiro.convert import (
    KiroRequest,
    build_request,
    conversation_id,
    encode_for,
    strip_reasoning,
)
from aiclient_trio.providers.kiro.credentials import TokenStore
from aiclient_trio.providers.kiro.endpoints import AuthKind, Family
from aiclient_trio.providers.kiro.identity import KiroIdentity
from aiclient_trio.providers.kiro.management import KiroManagement, ManagementError
from aiclient_trio.providers.kiro.models import (
    FALLBACK_MODELS,
    parse_model_extras,
    parse_model_list,
    resolve_model_id,
)
from aiclient_trio.providers.kiro.stream import KiroStreamTranslator
from aiclient_trio.providers.kiro.usage import estimate_request, estimate_text, quota_from_limits
from aiclient_trio.upstream import Pool, Response, Timeouts, http_client
from aiclient_trio.upstream.failures import broken_body, close_body, transport_error

__all__ = ["KiroProvider"]


log = logging.getLogger(__name__)


class _SignatureInvalid(Exception):
    """Kiro refused a replayed thinking signature (strip reasoningContent, retry once)."""


class _EventIterator:
    """IR events from one upstream body (a class, not a generator: nothing left to finalise)."""

    def __init__(
        self,
        raw: AsyncIterator[bytes],
        translator: KiroStreamTranslator,
        ctx: RequestContext,
    ) -> None:
        self._raw, self._translator, self._ctx = raw, translator, ctx
        self._decoder = EventStreamDecoder()
        self._pending: collections.deque[ir.StreamEvent] = collections.deque(translator.start())

    def __aiter__(self) -> _EventIterator:
        return self

    async def __anext__(self) -> ir.StreamEvent:
        translator = self._translator
        while not self._pending:
            if translator.done:
                raise StopAsyncIteration
            before_read = self._ctx.before_read
            if before_read is not None:
                await before_read()
            try:
                chunk = await self._raw.__anext__()
            except StopAsyncIteration:
                try:
                    self._decoder.close()
                except EventStreamError as exc:
                    self._pending.extend(
                        translator.fail(UpstreamError(f"Kiro stream ended mid-frame: {exc}"))
                    )
                self._pending.extend(translator.finish())
                self._ctx.credits = translator.credits
                continue
            except httpx.HTTPError as exc:
                self._pending.extend(translator.fail(broken_body(exc, "Kiro")))
                continue
            try:
                messages = self._decoder.feed(chunk)
            except EventStreamError as exc:
                self._pending.extend(translator.fail(UpstreamError(f"Kiro stream corrupt: {exc}")))
                continue
            for message in messages:
                self._pending.extend(translator.feed(message.headers, message.payload))
        return self._pending.popleft()


class KiroProvider(Provider):
    name = "kiro"

    def __init__(self, config: Config, *, token_path: Path | None = None) -> None:
        super().__init__()
        self.config = config
        self.kiro = config.kiro
        upstream = config.upstream
        # One pool: the hot path (generateAssistantResponse) calls it directly, sign-in,
        # model-list and quota calls go through httpx on the same connections.
        self._upstream = watch_pool(
            Pool(
                Timeouts(
                    connect=upstream.connect_timeout,
                    read=upstream.idle_timeout,
                    write=upstream.idle_timeout,
                    pool=upstream.connect_timeout,
                )
            ),
            self.name,
        )
        self._http = http_client(self._upstream)
        self.auth = KiroAuth(
            self.kiro,
            self._http,
            TokenStore(token_path),
            on_refresh=self._refreshed,
            on_refreshing=self._refreshing,
        )
        self.management = KiroManagement(self.kiro, self._http, self._credentials)
        self.identity = KiroIdentity(self.kiro, self.auth, self.management)
        self._models: list[ModelInfo] = list(FALLBACK_MODELS)
        self._models_fetched_at = 0.0
        self._live_models = False
        self._schemas: dict[str, dict[str, Any]] = {}
        self._default_model: str | None = None
        self._quota: dict[str, Any] | None = None
        # The chat family that last worked, per credential (auto mode starts there).
        self._families: dict[str, str] = {}

    # -- lifetime -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if await trio.to_thread.run_sync(self.auth.load):
            # Ready once the model list is known (or its fetch gave up), like Copilot.
            with trio.move_on_after(self.config.upstream.connect_timeout):
                await self.refresh_models()
                await self.refresh_quota()
            self.set_status(ProviderState.READY)
        else:
            self._signed_out("Kiro is not signed in")
        task_status.started()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.auth.run_refresh_loop, self._auth_state)
            nursery.start_soon(self._health_loop)

    async def aclose(self) -> None:
        await self._upstream.aclose()
        await self._http.aclose()

    def _refreshing(self) -> None:
        if self.status.value.state == ProviderState.READY:
            self.set_status(ProviderState.REFRESHING)

    def _refreshed(self, ok: bool) -> None:
        self.report_refresh(ok)
        live = (ProviderState.READY, ProviderState.REFRESHING, ProviderState.ERROR)
        if self.status.value.state not in live:
            return  # unauthenticated or disabled: only a new sign-in changes that
        expires = self.auth.expires_at
        if ok or (expires is not None and expires > time.time()):
            self.set_status(ProviderState.READY)
        else:
            self.set_status(ProviderState.ERROR, "Kiro token refresh is failing; retrying")

    def _signed_out(self, reason: str) -> None:
        self.set_status(ProviderState.UNAUTHENTICATED, reason, client.FIX_COMMAND)

    def _auth_state(self, reason: str | None) -> None:
        if reason is None:
            self.set_status(ProviderState.READY)
        else:
            self._signed_out(reason)

    async def _health_loop(self) -> None:
        while True:
            await trio.sleep(max(60.0, self.kiro.models_ttl))
            if self.status.value.ready:
                await self.refresh_models()
                await self.refresh_quota()

    async def _credentials(self) -> tuple[str, AuthKind, str]:
        return await self.identity.credentials()

    def describe(self) -> dict[str, Any]:
        """For `aiclient status` and the dashboard: the chat host family in use (remembered
        per credential), its URL, region, account kind and where the model list came from."""
        record = self.identity.record()
        family = self._families.get(self.identity.credential_key()) if record else None
        region = self.identity.region() if record else None
        facts: dict[str, Any] = {
            "api_version": f"KiroIDE-{self.kiro.kiro_version}",
            "family": family,
            "endpoint_setting": self.kiro.endpoint,
            "region": region,
            "models": "live" if self._live_models else "built-in",
            "default_model": self._default_model,
        }
        if family and region:
            facts["endpoint"] = endpoints.chat_url(self.kiro, endpoints.FAMILIES[family], region)
        if record:
            facts["auth"] = self.identity.kind()
            facts["plan"] = (self._quota or {}).get("subscription") or self.identity.kind()
        if self.auth.expires_at is not None and self.identity.kind() != "api_key":
            facts["token_expires_at"] = self.auth.expires_at
        return facts

    # -- models and quota -----------------------------------------------------------------------

    def models(self) -> Sequence[ModelInfo]:
        return self._models

    def resolve_model(self, name: str) -> ModelInfo:
        return resolve_model_id(name, self._models, live=self._live_models)

    async def _management_family(self) -> tuple[str, str | None]:
        return await self.identity.region_and_profile(endpoints.FAMILIES["runtime"])

    async def refresh_models(self) -> None:
        """ListAvailableModels into the cache; the last good list stays on any failure."""
        try:
            region, arn = await self._management_family()
            data = await self.management.list_models(region, arn)
        except (ManagementError, GatewayError) as exc:
            log.warning("Kiro ListAvailableModels failed (%s); keeping the cached list", exc)
            return
        models = parse_model_list(data)
        if models:
            self._models = models
            self._schemas, self._default_model = parse_model_extras(data)
            self._models_fetched_at = time.time()
            self._live_models = True

    async def refresh_quota(self) -> dict[str, Any] | None:
        try:
            region, arn = await self._management_family()
            data = await self.management.usage_limits(region, arn)
        except (ManagementError, GatewayError) as exc:
            log.warning("Kiro GetUsageLimits failed: %s", exc)
            return self._quota
        self._quota = quota_from_limits(data)
        return self._quota

    def cached_quota(self) -> dict[str, Any] | None:
        return self._quota

    async def quota(self) -> dict[str, Any] | None:
        if self._quota is None:
            await self.refresh_quota()
        return self._quota

    # -- calls ------------------------------------------------------------------------------------

    def convert(self, request: ir.Request, model: ModelInfo, ctx: RequestContext) -> KiroRequest:
        return build_request(
            request,
            model_id=model.id,
            conversation_id=conversation_id(request, ctx),
            max_bytes=self.kiro.max_request_bytes,
            effort_schema=self._schemas.get(model.id),
            max_tool_description=self.kiro.max_tool_description,
        )

    async def _send(self, converted: KiroRequest) -> tuple[Response, Family]:
        """POST to the chat host; in auto mode a host that is gone moves to the next family."""
        token = await self.auth.access_token()
        key = self.identity.credential_key()
        families = endpoints.family_order(self.kiro, self._families.get(key))
        for position, family in enumerate(families):
            last = position == len(families) - 1
            region, arn = await self.identity.region_and_profile(family)
            url = endpoints.chat_url(self.kiro, family, region) + "/"
            body = encode_for(converted, profile_arn=arn, agent_mode=family.agent_mode_in_body)
            for attempt in (1, 2):
                headers = endpoints.chat_headers(
                    family,
                    token,
                    kind=self.identity.kind(),
                    machine=client.machine_id(self.identity.record()),
                    config=self.kiro,
                    attempt=attempt,
                )
                try:
                    response = await self._upstream.open("POST", url, headers=headers, content=body)
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    if last:
                        raise UpstreamError(
                            f"cannot reach Kiro's {family.name} host: {type(exc).__name__}"
                        ) from None
                    log.warning("Kiro %s host unreachable; trying the next family", family.name)
                    break
                except httpx.HTTPError as exc:
                    raise transport_error(exc, "Kiro") from None
                status = response.status_code
                if status == 200:
                    if self._families.get(key) != family.name:
                        log.info("Kiro chat works on the %s host family", family.name)
                    self._families[key] = family.name
                    return response, family
                try:
                    error_body = await response.aread()
                finally:
                    await response.aclose()
                if attempt == 1 and client.is_bearer_invalid(status, error_body):
                    log.info("Kiro rejected the access token; refreshing once and retrying")
                    try:
                        await self.auth.refresh(stale=token)
                    except SignedOut as exc:
                        self._signed_out(exc.message)
                        raise
                    token = await self.auth.access_token()
                    continue
                if not last and endpoints.moves_to_next_family(status, error_body):
                    log.warning(
                        "Kiro %s host answered HTTP %s (gone); trying the next family",
                        family.name,
                        status,
                    )
                    break
                if client.is_signature_invalid(status, error_body):
                    raise _SignatureInvalid()
                trouble = client.account_trouble(status, error_body)
                if trouble:
                    self.set_status(
                        ProviderState.ERROR,
                        trouble,
                        f"sign in with another Kiro account (`{client.FIX_COMMAND}`) "
                        "or contact Kiro support",
                    )
                raise client.map_http_error(status, error_body, response.headers)
        raise AssertionError("unreachable: the last family raises")

    @asynccontextmanager
    async def _open(
        self, request: ir.Request, model: ModelInfo, ctx: RequestContext
    ) -> AsyncIterator[AsyncIterator[ir.StreamEvent]]:
        ctx.upstream_model = model.id
        # Converting and estimating a long history is seconds of CPU (issue 14 item 3).
        big = request_is_big(request)
        converted = await off_loop(big, self.convert, request, model, ctx)
        async with AsyncExitStack() as stack:
            try:
                try:
                    response, family = await self._send(converted)
                except _SignatureInvalid:
                    if not converted.has_reasoning:
                        raise UpstreamError("Kiro refused a thinking signature") from None
                    log.info("Kiro refused a replayed thinking signature; retrying without it")
                    converted = strip_reasoning(converted)
                    try:
                        response, family = await self._send(converted)
                    except _SignatureInvalid:
                        raise UpstreamError("Kiro refused a thinking signature") from None
            except SignedOut as exc:
                self._signed_out(exc.message)
                raise
            raw = response.aiter_raw()
            stack.push_async_callback(close_body, response, raw)
            input_estimate = await off_loop(big, estimate_request, request)
            translator = KiroStreamTranslator(
                message_id=f"msg_{uuid.uuid4().hex[:24]}",
                model=ctx.client_model or model.id,
                tool_names=converted.tool_names,
                thinking_tags=converted.thinking,
                context_window=model.context_window or 200_000,
                input_estimate=input_estimate,
                count_tokens=estimate_text,
                tail_needs_metadata=family.tail_needs_metadata,
            )
            yield _EventIterator(raw, translator, ctx)

    def open_stream(
        self, request: ir.Request, model: ModelInfo, ctx: RequestContext
    ) -> AbstractAsyncContextManager[AsyncIterator[ir.StreamEvent]]:
        return self._open(request, model, ctx)
