"""A simulated Kiro service as it is in late 2026: a real HTTP server on loopback.

Serves the chat host families (runtime, q, codewhisperer) and the management API under
path prefixes (`simulator.kiro_hosts`), speaks the binary event stream, enforces the
request rules of kiro.md section 10.1 with the service's own "Improperly formed request."
refusal, checks bearer tokens, API keys and their regions, and serves the refresh,
device-flow and PKCE endpoints. Faults come from a switchboard (`KiroFaults`) and from the
shared script's directives. Never imports the gateway's codecs.
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

from aiclient_trio.simulator.kiro_auth import KiroAccounts, Outcome, profile_arn
from aiclient_trio.simulator.kiro_eventstream import encode_error, encode_event, encode_exception
from aiclient_trio.simulator.kiro_hosts import (
    AWS_JSON,
    CHAT_FAMILIES,
    chat_refusal,
    check_chat_protocol,
    management_operation,
    profiles_answer,
    split_host,
    wrong_region,
)
from aiclient_trio.simulator.kiro_models import (
    DEFAULT_MODELS,
    check_model_fields,
    list_models_answer,
)
from aiclient_trio.simulator.kiro_reply import (
    HTTP_ERRORS,
    STATUS_ERRORS,
    FrameSpec,
    plan_frames,
    reply_for,
    signature_for,
)
from aiclient_trio.simulator.kiro_rules import check_request, iter_messages

__all__ = [
    "HTTP_ERRORS",
    "KiroFaults",
    "KiroSimulator",
    "ReceivedRequest",
    "encode_frames",
    "serve_kiro_simulator",
    "urls_for",
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
    usage_events: bool = True  # False: the stream ends without its usage tail (cut off)
    stop_reason: str | None = None  # e.g. "CONTENT_FILTERED" in the tail's metadataEvent
    # Names from HTTP_ERRORS, answered one per generate call before behaving normally.
    http_errors: list[str] = field(default_factory=list)
    # Exact frame lists (S1-S10 sequences), consumed one per generate call.
    scripts: list[list[FrameSpec]] = field(default_factory=list)
    max_body_bytes: int = 1_500_000
    # Management operations that fail (HTTP 500) while listed here, e.g. "ListAvailableModels".
    failing_operations: set[str] = field(default_factory=set)


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
    # Chat families that are gone (answer 404), e.g. {"q"} after its shutdown; `doctor` and
    # the `auto` fallback tests switch hosts off here.
    retired: set[str] = field(default_factory=set)

    def generate_requests(self, family: str | None = None) -> list[ReceivedRequest]:
        """Chat calls that reached a host (any family, or the one named)."""
        found = []
        for request in self.requests:
            host = split_host(request.path)
            if host and host[0] in CHAT_FAMILIES and (family is None or host[0] == family):
                found.append(request)
        return found

    def management_requests(self, operation: str | None = None) -> list[ReceivedRequest]:
        found = []
        for request in self.requests:
            host = split_host(request.path)
            if host and host[0] == "management":
                target = request.headers.get("x-amz-target", "")
                if operation is None or target.endswith("." + operation):
                    found.append(request)
        return found

    def url(self, host: str, region: str = "us-east-1") -> str:
        return f"{self.base_url}/{host}/{region}"

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
        host = split_host(path)
        if host is not None and host[0] in CHAT_FAMILIES:
            await self._generate(host[0], host[1], host[2], request, receive, send)
            return
        if host is not None:
            await _respond(send, self._management(host[1], host[2], request))
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
        else:
            outcome = (404, {"message": f"no route {method} {path}"}, {})
        await _respond(send, outcome)

    def _caller(self, request: ReceivedRequest, region: str) -> tuple[str, Outcome | None]:
        """(token kind, None) for a bearer the service accepts in `region`, else ("", refusal)."""
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        kind = self.accounts.token_kind(token) if auth.startswith("Bearer ") else None
        if kind is None:
            return "", HTTP_ERRORS["bearer"]
        if kind == "api_key" and request.headers.get("tokentype") != "API_KEY":
            return "", HTTP_ERRORS["bearer"]  # a key without its TokenType: a bad bearer
        if self.accounts.token_region(token) != region:
            return "", wrong_region()
        return kind, None

    # -- management.{region}.kiro.dev -------------------------------------------------------------

    def _management(self, region: str, rest: str, request: ReceivedRequest) -> Outcome:
        kind, refused = self._caller(request, region)
        if refused is not None:
            return refused
        if request.method == "GET" and rest == "/getUsageLimits":
            return self._usage_limits()  # the query form kiro-cli uses (and the key probe)
        operation, refusal = management_operation(
            request.headers.get("x-amz-target", ""), request.headers
        )
        if refusal is not None or request.method != "POST" or rest != "/":
            return refusal or (404, {"message": "Not Found"}, {})
        if operation in self.faults.failing_operations:
            return HTTP_ERRORS["internal"]
        try:
            body = request.json() or {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return 400, {"__type": "SerializationException", "message": "body is not JSON"}, {}
        if operation == "ListAvailableProfiles":
            return profiles_answer(kind, region)
        if kind not in ("api_key", "builder_id"):
            own = profile_arn(kind, region)
            if body.get("profileArn") != own:
                return HTTP_ERRORS["forbidden"]
        if operation == "GetUsageLimits":
            return self._usage_limits()
        return 200, list_models_answer(self.models), {"content-type": AWS_JSON}

    def _usage_limits(self) -> Outcome:
        used = round(self.credits_used, 4)
        return (
            200,
            {
                "usageBreakdownList": [
                    {
                        "resourceType": "CREDIT",
                        "currentUsage": int(used),
                        "currentUsageWithPrecision": used,
                        "usageLimit": int(self.credit_limit),
                        "usageLimitWithPrecision": self.credit_limit,
                        "overageCap": 0,
                        "bonuses": [],
                        "unit": "credit",
                    }
                ],
                "subscriptionInfo": {"subscriptionTitle": "KIRO FREE", "type": "Q_DEVELOPER_FREE"},
                "overageConfiguration": {"overageStatus": "DISABLED"},
                "nextDateReset": 1_900_000_000,
            },
            {"content-type": AWS_JSON},
        )

    # -- generateAssistantResponse ------------------------------------------------------------

    async def _generate(
        self,
        family: str,
        region: str,
        rest: str,
        request: ReceivedRequest,
        receive: Receive,
        send: Send,
    ) -> None:
        faults = self.faults
        if family in self.retired:
            await _respond(send, (404, {"message": "Not Found"}, {}))
            return
        refused = check_chat_protocol(family, request.method, rest, request.headers)
        if refused is not None:
            self.violations.append(refused[1])
            await _respond(send, refused[0])
            return
        kind, denied = self._caller(request, "us-east-1" if family == "codewhisperer" else region)
        if denied is not None:
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
        if problem is None:
            refusal = chat_refusal(family, kind, region, body)
            if refusal is not None:
                self.violations.append(refusal[1])
                await _respond(send, refusal[0])
                return
        if problem is not None:
            self.violations.append(problem)
            await _respond(send, HTTP_ERRORS["malformed"])
            return
        state = body["conversationState"]
        model_id = state["currentMessage"]["userInputMessage"]["modelId"]
        model = next((m for m in self.models if m["modelId"] == model_id), None)
        if model is None:
            await _respond(send, HTTP_ERRORS["invalid_model"])
            return
        fields = body.get("additionalModelRequestFields")
        if fields is not None:
            problem = check_model_fields(model, fields)
            if problem is not None:
                self.violations.append(problem)
                await _respond(
                    send,
                    (
                        400,
                        {"message": f"Invalid request: {problem}", "reason": "INVALID_FIELDS"},
                        {"x-amzn-errortype": "ValidationException"},
                    ),
                )
                return
        if _bad_signature(state):
            self.violations.append("a replayed thinking signature does not match its text")
            await _respond(send, HTTP_ERRORS["signature"])
            return
        native = faults.native_reasoning or "thinking" in model_id or _effort_on(fields)
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
                native_reasoning=native,
                exception=faults.exception,
                error_frame=faults.error_frame,
                usage_events=faults.usage_events,
                conversation_id=str(state["conversationId"]),
                metadata_event=family == "runtime",
                stop_reason=faults.stop_reason,
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


def _effort_on(fields: Any) -> bool:
    """Thinking asked for through additionalModelRequestFields (Claude or GPT shape)."""
    if not isinstance(fields, dict):
        return False
    thinking = fields.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "adaptive":
        return True
    return isinstance(fields.get("reasoning"), dict)


def _bad_signature(state: dict[str, Any]) -> bool:
    for role, message in iter_messages(state):
        reasoning = message.get("reasoningContent") if role == "assistantResponseMessage" else None
        text = (reasoning or {}).get("reasoningText") if isinstance(reasoning, dict) else None
        if isinstance(text, dict) and text.get("signature") != signature_for(str(text["text"])):
            return True
    return False


def urls_for(simulator: KiroSimulator) -> dict[str, str]:
    """KiroConfig settings that point every Kiro host at `simulator` (region templated)."""
    base = simulator.base_url
    return {
        "runtime_url": base + "/runtime/{region}",
        "q_url": base + "/q/{region}",
        "codewhisperer_url": base + "/codewhisperer/us-east-1",
        "management_url": base + "/management/{region}",
        "auth_url": base,
        "oidc_url": base,
    }


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
    extra = {"content-type": "application/json", **extra}
    headers = [(b"content-length", str(len(body)).encode())]
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
