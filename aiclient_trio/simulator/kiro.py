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
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import trio
from trio_util import AsyncValue

from aiclient_trio.simulator.asgi import (
    Receive,
    Scope,
    Send,
    not_http,
    read_body,
    scope_headers,
    serve_app,
)
from aiclient_trio.simulator.kiro_auth import KiroAccounts, Outcome, profile_arn
from aiclient_trio.simulator.kiro_hosts import (
    AWS_JSON,
    CHAT_FAMILIES,
    chat_refusal,
    check_chat_protocol,
    management_operation,
    profiles_answer,
    split_host,
    usage_limits_answer,
    wrong_region,
)
from aiclient_trio.simulator.kiro_models import (
    DEFAULT_MODELS,
    check_model_fields,
    effort_on,
    list_models_answer,
)
from aiclient_trio.simulator.kiro_reply import (
    HTTP_ERRORS,
    STATUS_ERRORS,
    FrameSpec,
    bad_signature,
    plan_frames,
    reply_for,
)
from aiclient_trio.simulator.kiro_rules import check_request
from aiclient_trio.simulator.kiro_wire import (
    KiroFaults,
    encode_frames,
    respond,
    send_frames,
)

__all__ = [
    "HTTP_ERRORS",
    "KiroFaults",
    "KiroSimulator",
    "ReceivedRequest",
    "encode_frames",
    "serve_kiro_simulator",
    "urls_for",
]


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
        if await not_http(scope, receive, send):
            return
        body = await read_body(receive)
        if body is None:
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode()))
        request = ReceivedRequest(scope["method"], scope["path"], query, scope_headers(scope), body)
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
            await respond(send, self._management(host[1], host[2], request))
            return
        try:
            payload = request.json() if request.body and method == "POST" else None
        except ValueError:
            await respond(send, (400, {"message": "body is not JSON"}, {}))
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
        await respond(send, outcome)

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
            return usage_limits_answer(
                self.credits_used, self.credit_limit
            )  # the query form kiro-cli uses (and the key probe)
        target = request.headers.get("x-amz-target", "")
        operation, refusal = management_operation(target, request.headers)
        if target.partition(".")[0] in self.faults.unknown_services:
            operation, refusal = None, HTTP_ERRORS["unknown_operation"]
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
            return usage_limits_answer(self.credits_used, self.credit_limit)
        return 200, list_models_answer(self.models), {"content-type": AWS_JSON}

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
            await respond(send, (404, {"message": "Not Found"}, {}))
            return
        refused = check_chat_protocol(family, request.method, rest, request.headers)
        if refused is not None:
            self.violations.append(refused[1])
            await respond(send, refused[0])
            return
        kind, denied = self._caller(request, "us-east-1" if family == "codewhisperer" else region)
        if denied is not None:
            await respond(send, denied)
            return
        if faults.http_errors:
            await respond(send, HTTP_ERRORS[faults.http_errors.pop(0)])
            return
        if len(request.body) > faults.max_body_bytes:
            await respond(send, HTTP_ERRORS["too_long"])
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
                await respond(send, refusal[0])
                return
        if problem is not None:
            self.violations.append(problem)
            await respond(send, HTTP_ERRORS["malformed"])
            return
        state = body["conversationState"]
        model_id = state["currentMessage"]["userInputMessage"]["modelId"]
        model = next((m for m in self.models if m["modelId"] == model_id), None)
        if model is None:
            await respond(send, HTTP_ERRORS["invalid_model"])
            return
        fields = body.get("additionalModelRequestFields")
        if fields is not None:
            problem = check_model_fields(model, fields)
            if problem is not None:
                self.violations.append(problem)
                await respond(
                    send,
                    (
                        400,
                        {"message": f"Invalid request: {problem}", "reason": "INVALID_FIELDS"},
                        {"x-amzn-errortype": "ValidationException"},
                    ),
                )
                return
        if bad_signature(state):
            self.violations.append("a replayed thinking signature does not match its text")
            await respond(send, HTTP_ERRORS["signature"])
            return
        native = faults.native_reasoning or "thinking" in model_id or effort_on(fields)
        stall = 0.0
        if faults.scripts:
            frames = faults.scripts.pop(0)
        else:
            reply = reply_for(state)
            if reply.error_status is not None:
                name = STATUS_ERRORS.get(reply.error_status)
                outcome = HTTP_ERRORS[name] if name else (reply.error_status, {"message": "x"}, {})
                await respond(send, outcome)
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
            if await send_frames(frames, send, self.faults):
                finishing = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                self.completed_streams += 1
            nursery.cancel_scope.cancel()


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


async def serve_kiro_simulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[KiroSimulator] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve a new simulator until cancelled; reports its handle (base URL set) when bound."""
    simulator = KiroSimulator()
    async with trio.open_nursery() as nursery:
        simulator.base_url = await nursery.start(
            partial(serve_app, simulator, bind=f"{host}:{port}", keep_alive=30.0)
        )
        task_status.started(simulator)
