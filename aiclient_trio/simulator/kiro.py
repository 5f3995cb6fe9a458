"""A simulated Kiro / CodeWhisperer service: a real HTTP server on loopback.

Speaks the binary event stream, enforces the request rules of kiro.md section 10.1 with the
service's own "Improperly formed request." refusal, checks bearer tokens, and serves the
refresh, device-flow, PKCE, model-list and quota endpoints. Faults come from a switchboard
(`KiroFaults`) and from the shared script's directives. Never imports the gateway's codecs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from trio_util import AsyncValue

from aiclient_trio.simulator.kiro_auth import PROFILE_ARN, KiroAccounts, Outcome
from aiclient_trio.simulator.kiro_eventstream import encode_error, encode_event, encode_exception
from aiclient_trio.simulator.kiro_reply import (
    DEFAULT_MODELS,
    HTTP_ERRORS,
    STATUS_ERRORS,
    FrameSpec,
    plan_frames,
    reply_for,
)
from aiclient_trio.simulator.kiro_rules import check_request

__all__ = [
    "HTTP_ERRORS",
    "KiroFaults",
    "KiroSimulator",
    "ReceivedRequest",
    "encode_frames",
    "serve_kiro_simulator",
]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(slots=True)
class KiroFaults:
    """The switchboard: tests flip these between requests."""

    chunk_size: int | None = None  # 1 = every byte in its own chunk
    corrupt_frame: int | None = None  # flip a payload byte of this frame (0-based)
    truncate_frame: int | None = None  # end the body cleanly in the middle of this frame
    reset_after_frames: int | None = None  # abort the connection after this many frames
    hold_after_frames: int | None = None  # stop sending (until the client leaves) after N
    frame_delay: float = 0.0  # seconds between frames
    exception: str | None = None  # ThrottlingException / ContentLengthExceededException
    error_frame: bool = False
    native_reasoning: bool = False
    usage_events: bool = True
    # Names from HTTP_ERRORS, answered one per generate call before behaving normally.
    http_errors: list[str] = field(default_factory=list)
    # Exact frame lists (S1-S10 sequences), consumed one per generate call.
    scripts: list[list[FrameSpec]] = field(default_factory=list)
    max_body_bytes: int = 1_500_000
    require_profile_arn: bool = True


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(slots=True)
class KiroSimulator:
    """The handle `serve_kiro_simulator` reports: what tests inspect and steer."""

    base_url: str = ""
    accounts: KiroAccounts = field(default_factory=KiroAccounts)
    faults: KiroFaults = field(default_factory=KiroFaults)
    models: list[dict[str, Any]] = field(default_factory=lambda: list(DEFAULT_MODELS))
    requests: list[ReceivedRequest] = field(default_factory=list)
    # Why each refused generate request was refused (the service only says "Improperly...").
    violations: list[str] = field(default_factory=list)
    # Streams the client abandoned before the end, and handlers cancelled from outside.
    disconnects: AsyncValue[int] = field(default_factory=lambda: AsyncValue(0))
    cancellations: int = 0
    completed_streams: int = 0
    credits_used: float = 0.0
    credit_limit: float = 50.0

    def generate_requests(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.path in ("/generateAssistantResponse", "/")]

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode()))
        request = ReceivedRequest(scope["method"], scope["path"], query, headers, bytes(body))
        self.requests.append(request)
        try:
            await self._route(request, receive, send)
        except trio.Cancelled:
            self.cancellations += 1
            raise

    async def _route(self, request: ReceivedRequest, receive: Receive, send: Send) -> None:
        method, path = request.method, request.path
        target = request.headers.get("x-amz-target", "")
        if method == "POST" and (
            path == "/generateAssistantResponse"
            or (path == "/" and target.endswith("GenerateAssistantResponse"))
        ):
            await self._generate(request, receive, send)
            return
        try:
            payload = request.json() if request.body and method == "POST" else None
        except ValueError:
            await _respond(send, (400, {"message": "body is not JSON"}, {}))
            return
        accounts = self.accounts
        outcome: Outcome
        if method == "POST" and path == "/refreshToken":
            outcome = accounts.refresh_social(payload)
        elif method == "POST" and path == "/token":
            outcome = accounts.oidc_token(payload)
        elif method == "POST" and path == "/client/register":
            outcome = accounts.register_client(payload)
        elif method == "POST" and path == "/device_authorization":
            outcome = accounts.device_authorization(payload, self.base_url)
        elif method == "GET" and path == "/login":
            outcome = accounts.login_redirect(request.query)
        elif method == "POST" and path == "/oauth/token":
            outcome = accounts.pkce_token(payload)
        elif method == "GET" and path == "/ListAvailableModels":
            outcome = self._authorized(request) or self._list_models()
        elif method == "GET" and path == "/getUsageLimits":
            outcome = self._authorized(request) or self._usage_limits()
        else:
            outcome = (404, {"message": f"no route {method} {path}"}, {})
        await _respond(send, outcome)

    def _authorized(self, request: ReceivedRequest) -> Outcome | None:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        if not auth.startswith("Bearer ") or self.accounts.token_kind(token) is None:
            return HTTP_ERRORS["bearer"]
        return None

    def _list_models(self) -> Outcome:
        models = [
            {
                "modelId": m["modelId"],
                "modelName": m["modelName"],
                "description": m["modelName"],
                "supportedInputTypes": ["TEXT", "IMAGE"],
                "tokenLimits": {"maxInputTokens": m["window"], "maxOutputTokens": 64_000},
            }
            for m in self.models
        ]
        return 200, {"models": models, "defaultModel": models[0]}, {}

    def _usage_limits(self) -> Outcome:
        return (
            200,
            {
                "usageBreakdownList": [
                    {
                        "resourceType": "AGENTIC_REQUEST",
                        "usageLimitWithPrecision": self.credit_limit,
                        "currentUsageWithPrecision": round(self.credits_used, 4),
                        "unit": "credit",
                    }
                ],
                "subscriptionInfo": {"subscriptionTitle": "KIRO FREE"},
                "nextDateReset": 1_900_000_000,
            },
            {},
        )

    # -- generateAssistantResponse ------------------------------------------------------------

    async def _generate(self, request: ReceivedRequest, receive: Receive, send: Send) -> None:
        faults = self.faults
        denied = self._authorized(request)
        if denied:
            await _respond(send, denied)
            return
        if faults.http_errors:
            await _respond(send, HTTP_ERRORS[faults.http_errors.pop(0)])
            return
        if len(request.body) > faults.max_body_bytes:
            await _respond(send, HTTP_ERRORS["too_long"])
            return
        try:
            body = request.json()
        except ValueError:
            body = None
        problem = check_request(body)
        if problem is None and faults.require_profile_arn:
            token = request.headers["authorization"].removeprefix("Bearer ").strip()
            if (
                self.accounts.token_kind(token) == "social"
                and body.get("profileArn") != PROFILE_ARN
            ):
                problem = "profileArn missing or wrong for a social account"
        if problem is not None:
            self.violations.append(problem)
            await _respond(send, HTTP_ERRORS["malformed"])
            return
        state = body["conversationState"]
        model_id = state["currentMessage"]["userInputMessage"]["modelId"]
        if model_id not in {m["modelId"] for m in self.models}:
            await _respond(send, HTTP_ERRORS["invalid_model"])
            return
        stall = 0.0
        if faults.scripts:
            frames = faults.scripts.pop(0)
        else:
            reply = reply_for(state)
            if reply.error_status is not None:
                name = STATUS_ERRORS.get(reply.error_status)
                outcome = HTTP_ERRORS[name] if name else (reply.error_status, {"message": "x"}, {})
                await _respond(send, outcome)
                return
            frames = plan_frames(
                state,
                reply,
                native_reasoning=faults.native_reasoning or "thinking" in model_id,
                exception=faults.exception,
                error_frame=faults.error_frame,
                usage_events=faults.usage_events,
                conversation_id=str(state["conversationId"]),
            )
            if reply.reset_after is not None:
                frames = [*frames[: reply.reset_after], {"reset": True}]
            stall = (reply.stall_ms or 0) / 1000
        self.credits_used += 0.0123
        await self._stream(frames, stall, receive, send)

    async def _stream(
        self, frames: list[FrameSpec], stall: float, receive: Receive, send: Send
    ) -> None:
        finishing = False

        async def watch_disconnect(cancel: trio.CancelScope) -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not finishing:
                self.disconnects.value += 1
                cancel.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_disconnect, nursery.cancel_scope)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/vnd.amazon.eventstream"),
                        (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
                    ],
                }
            )
            if stall:
                await trio.sleep(stall)
            if await self._send_frames(frames, send):
                finishing = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                self.completed_streams += 1
            nursery.cancel_scope.cancel()

    async def _send_frames(self, frames: list[FrameSpec], send: Send) -> bool:
        """Send the frames with the configured faults; False when the connection is to drop."""
        faults = self.faults
        chunk = faults.chunk_size
        for position, spec in enumerate(frames):
            if faults.hold_after_frames is not None and position >= faults.hold_after_frames:
                await trio.sleep_forever()
            if faults.reset_after_frames is not None and position >= faults.reset_after_frames:
                return False
            if spec.get("reset"):
                return False
            if position and faults.frame_delay:
                await trio.sleep(faults.frame_delay)
            data = encode_frames([spec])
            if faults.corrupt_frame == position:
                flipped = bytearray(data)
                flipped[-5] ^= 0x01
                data = bytes(flipped)
            if faults.truncate_frame == position:
                await _body(send, data[: len(data) // 2], chunk)
                return True
            await _body(send, data, chunk)
        return True


def encode_frames(frames: list[FrameSpec]) -> bytes:
    """Frame specs (`event`/`exception`/`error` dicts, as in tests/data/kiro) to bytes."""
    out = bytearray()
    for spec in frames:
        if "event" in spec:
            out += encode_event(spec["event"], spec.get("payload", {}))
        elif "exception" in spec:
            out += encode_exception(spec["exception"], spec.get("message", ""))
        elif "error" in spec:
            out += encode_error(spec["error"], spec.get("message", ""))
        elif "raw_hex" in spec:
            out += bytes.fromhex(spec["raw_hex"])
    return bytes(out)


async def _body(send: Send, data: bytes, chunk: int | None) -> None:
    step = chunk or len(data) or 1
    for start in range(0, len(data), step):
        await send(
            {"type": "http.response.body", "body": data[start : start + step], "more_body": True}
        )


async def _respond(send: Send, outcome: Outcome) -> None:
    status, payload, extra = outcome
    body = json.dumps(payload).encode() if payload != {} or status != 302 else b""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def serve_kiro_simulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[KiroSimulator] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve a new simulator until cancelled; reports its handle (base URL set) when bound."""
    simulator = KiroSimulator()
    config = HypercornConfig()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.keep_alive_timeout = 30
    async with trio.open_nursery() as nursery:
        app: Any = simulator  # hypercorn types want its own TypedDict scopes
        binds = await nursery.start(partial(serve, app, config, mode="asgi"))
        simulator.base_url = str(binds[0])
        task_status.started(simulator)
