"""The Kiro provider: IR requests to CodeWhisperer and its event stream back to IR events.

Calls go through one `upstream.Pool` (directly on the hot path, through httpx for sign-in and
the model list); the response body is read with `aiter_raw()` into the sans-I/O event-stream
decoder, so leaving `open_stream` closes the upstream call at once. A 401/403 "bearer token
invalid" forces one refresh and one retry.
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
from aiclient_trio.errors import GatewayError, UpstreamError, UpstreamTimeout
from aiclient_trio.providers.base import ModelInfo, Provider, ProviderState, RequestContext
from aiclient_trio.providers.failures import watch_pool
from aiclient_trio.providers.kiro import client
from aiclient_trio.providers.kiro.auth import KiroAuth, SignedOut
from aiclient_trio.providers.kiro.convert import KiroRequest, build_request
from aiclient_trio.providers.kiro.credentials import TokenStore
from aiclient_trio.providers.kiro.models import FALLBACK_MODELS, parse_model_list, resolve_model_id
from aiclient_trio.providers.kiro.stream import KiroStreamTranslator
from aiclient_trio.providers.kiro.usage import estimate_request, estimate_text, quota_from_limits
from aiclient_trio.upstream import Pool, Response, Timeouts, http_client

__all__ = ["KiroProvider"]

log = logging.getLogger(__name__)


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
            except httpx.TimeoutException:
                self._pending.extend(
                    translator.fail(UpstreamTimeout("Kiro stopped sending mid-stream"))
                )
                continue
            except httpx.HTTPError as exc:
                self._pending.extend(
                    translator.fail(UpstreamError(f"Kiro connection broke mid-stream: {exc}"))
                )
                continue
            try:
                messages = self._decoder.feed(chunk)
            except EventStreamError as exc:
                self._pending.extend(translator.fail(UpstreamError(f"Kiro stream corrupt: {exc}")))
                continue
            for message in messages:
                self._pending.extend(translator.feed(message.headers, message.payload))
        return self._pending.popleft()


async def _close_body(response: Response, raw: AsyncIterator[bytes]) -> None:
    """Close the upstream call now, then run httpx's nested body generators to their end.

    Closing only the outermost generator would leave the inner ones to the garbage
    collector (ResourceWarning); once the connection is closed they end at once.
    """
    await response.aclose()
    try:
        async for _ in raw:
            pass
    except Exception:
        pass


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
        self._models: list[ModelInfo] = list(FALLBACK_MODELS)
        self._models_fetched_at = 0.0
        self._quota: dict[str, Any] | None = None

    # -- lifetime -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if await trio.to_thread.run_sync(self.auth.load):
            # Ready once the model list is known (or its fetch gave up), like Copilot.
            with trio.move_on_after(self.config.upstream.connect_timeout):
                await self.refresh_models()
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

    # -- models and quota -----------------------------------------------------------------------

    def models(self) -> Sequence[ModelInfo]:
        return self._models

    def resolve_model(self, name: str) -> ModelInfo:
        return resolve_model_id(name, self._models)

    def describe(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "endpoint": self._api_base(),
            "api_version": f"KiroIDE-{self.kiro.kiro_version}",
        }
        if self.auth.expires_at is not None:
            facts["token_expires_at"] = self.auth.expires_at
        if self.auth.auth_method:
            facts["plan"] = self.auth.auth_method
        return facts

    def _api_base(self) -> str:
        return client.api_base(self.kiro, client.api_region(self.kiro, self.auth.profile_arn))

    def _query(self, **params: str) -> dict[str, str]:
        params = {"origin": "AI_EDITOR", **params}
        if self.auth.profile_arn:
            params["profileArn"] = self.auth.profile_arn
        return params

    async def _get_json(self, path: str, params: dict[str, str]) -> dict[str, Any] | None:
        try:
            token = await self.auth.access_token()
            response = await self._http.get(
                self._api_base() + path, params=params, headers=self._headers(token)
            )
        except (httpx.HTTPError, GatewayError) as exc:
            log.warning("Kiro %s failed: %s", path, type(exc).__name__)
            return None
        if response.status_code != 200:
            log.warning("Kiro %s answered HTTP %s", path, response.status_code)
            return None
        try:
            data = response.json()
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    async def refresh_models(self) -> None:
        """ListAvailableModels into the cache; the built-in list stays on any failure."""
        data = await self._get_json("/ListAvailableModels", self._query(maxResults="50"))
        models = parse_model_list(data) if data else []
        if models:
            self._models = models
            self._models_fetched_at = time.time()

    async def refresh_quota(self) -> dict[str, Any] | None:
        data = await self._get_json("/getUsageLimits", self._query(resourceType="AGENTIC_REQUEST"))
        if data is not None:
            self._quota = quota_from_limits(data)
        return self._quota

    async def quota(self) -> dict[str, Any] | None:
        if self._quota is None:
            await self.refresh_quota()
        return self._quota

    # -- calls ------------------------------------------------------------------------------------

    def _headers(self, token: str) -> dict[str, str]:
        return client.request_headers(
            token,
            machine=client.machine_id(self.auth.record or {}),
            kiro_version=self.kiro.kiro_version,
            auth_method=self.auth.auth_method,
        )

    def convert(self, request: ir.Request, model: ModelInfo, ctx: RequestContext) -> KiroRequest:
        session = ctx.headers.get("x-claude-code-session-id")
        conversation = str(uuid.uuid5(uuid.NAMESPACE_URL, session)) if session else None
        return build_request(
            request,
            model_id=model.id,
            profile_arn=self.auth.profile_arn,
            conversation_id=conversation,
            max_bytes=self.kiro.max_request_bytes,
        )

    async def _send(self, body: bytes, stack: AsyncExitStack) -> Response:
        token = await self.auth.access_token()
        url = self._api_base() + "/generateAssistantResponse"
        for attempt in (1, 2):
            try:
                response = await self._upstream.open(
                    "POST", url, headers=self._headers(token), content=body
                )
            except httpx.TimeoutException:
                raise UpstreamTimeout("Kiro did not answer in time") from None
            except httpx.HTTPError as exc:
                raise UpstreamError(f"cannot reach Kiro: {type(exc).__name__}") from None
            if response.status_code == 200:
                return response
            try:
                error_body = await response.aread()
            finally:
                await response.aclose()
            if attempt == 1 and client.is_bearer_invalid(response.status_code, error_body):
                log.info("Kiro rejected the access token; refreshing once and retrying")
                try:
                    await self.auth.refresh(stale=token)
                except SignedOut as exc:
                    self._signed_out(exc.message)
                    raise
                token = await self.auth.access_token()
                continue
            raise client.map_http_error(response.status_code, error_body, response.headers)
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def _open(
        self, request: ir.Request, model: ModelInfo, ctx: RequestContext
    ) -> AsyncIterator[AsyncIterator[ir.StreamEvent]]:
        ctx.upstream_model = model.id
        converted = self.convert(request, model, ctx)
        async with AsyncExitStack() as stack:
            try:
                response = await self._send(converted.encoded, stack)
            except SignedOut as exc:
                self._signed_out(exc.message)
                raise
            raw = response.aiter_raw()
            stack.push_async_callback(_close_body, response, raw)
            translator = KiroStreamTranslator(
                message_id=f"msg_{uuid.uuid4().hex[:24]}",
                model=ctx.client_model or model.id,
                tool_names=converted.tool_names,
                thinking_tags=converted.thinking,
                context_window=model.context_window or 200_000,
                input_estimate=estimate_request(request),
                count_tokens=estimate_text,
            )
            yield _EventIterator(raw, translator, ctx)

    def open_stream(
        self, request: ir.Request, model: ModelInfo, ctx: RequestContext
    ) -> AbstractAsyncContextManager[AsyncIterator[ir.StreamEvent]]:
        return self._open(request, model, ctx)
