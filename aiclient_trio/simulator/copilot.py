"""A fake Copilot API (CAPI): models, chat completions, native messages, responses, embeddings.

Answers like api.githubcopilot.com, refusals included (wrong endpoint for a model, image
without the vision header, expired token, F10 errors), and records every request's headers.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio

from aiclient_trio.simulator import copilot_replies as replies
from aiclient_trio.simulator.asgi import Receive, Scope, Send, not_http, serve_app
from aiclient_trio.simulator.copilot_billing import (
    cache_split,
    charge,
    copilot_usage,
    quota_headers,
    with_token_prices,
)
from aiclient_trio.simulator.copilot_kit import (
    SimState,
    has_image,
    record_request,
    send_bytes,
    send_json,
    send_start,
    sse_frame,
    watch_disconnect,
)
from aiclient_trio.simulator.copilot_models import SIM_MODELS
from aiclient_trio.simulator.copilot_responses import (
    custom_tool_names,
    responses_body,
    responses_events,
)
from aiclient_trio.simulator.github import serve_github_simulator
from aiclient_trio.simulator.script import count_tokens

__all__ = [
    "SIM_MODELS",
    "VERSION_REFUSED",
    "CopilotAPISimulator",
    "CopilotSimulator",
    "serve_copilot_simulators",
]


_CHAT_PATHS = ("/chat/completions", "/v1/messages", "/responses")


# The answer to an outdated X-GitHub-Api-Version (status 466, since 2026-02-11).
VERSION_REFUSED: dict[str, Any] = {
    "error": {
        "message": "bad request: the specified API version is no longer supported. "
        "You may need to update your client to a newer version.\n",
        "type": "error",
    }
}


def _error(message: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"message": message, "code": code, **extra}}


def _anthropic_error(message: str) -> dict[str, Any]:
    """The body of a 400 on /v1/messages, in Anthropic's own shape."""
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


def _bad_body(path: str, message: str) -> _Refusal:
    """A 400 refusing a request body, in the shape of its endpoint."""
    if path == "/v1/messages":
        return _Refusal(400, _anthropic_error(message))
    return _Refusal(400, _error(message, "invalid_request_body"))


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """Puts a call's `copilot_usage` where each answer shape carries it: top level (responses,
    messages), or for chat/completions beside `usage` or inside it (`where`)."""

    usage: dict[str, Any] | None
    where: str  # "beside" | "inside" | "none"

    def put(self, target: dict[str, Any], usage: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.usage is not None and self.where != "none":
            inside = usage is not None and self.where == "inside"
            (usage if inside and usage is not None else target)["copilot_usage"] = self.usage
        return target

    def frames(self, events: list[tuple[str, dict[str, Any]]], carrier: str) -> list[bytes]:
        """Named SSE events as frames, `copilot_usage` put on the event named `carrier`."""
        for name, event in events:
            if name == carrier:
                self.put(event)
        return [sse_frame(json.dumps(data), name) for name, data in events]


class _Refusal(Exception):
    def __init__(
        self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class CopilotAPISimulator:
    """The CAPI ASGI app over a shared `SimState`."""

    def __init__(self, state: SimState, models: list[dict[str, Any]] | None = None) -> None:
        self.state = state
        self.models = {m["id"]: m for m in (models or SIM_MODELS)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if await not_http(scope, receive, send):
            return
        body, headers, path = await record_request(scope, receive, self.state, "copilot")
        try:
            await self._route(scope["method"], path, headers, body, receive, send)
        except _Refusal as refusal:
            if isinstance(refusal.body, str):
                await send_bytes(
                    send,
                    refusal.status,
                    refusal.body.encode(),
                    "text/plain; charset=utf-8",
                    refusal.headers,
                )
            else:
                await send_json(send, refusal.status, refusal.body, refusal.headers)

    # -- checks shared by every route ---------------------------------------------------

    def _check_auth(self, headers: dict[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if token in self.state.forbidden_tokens:
            raise _Refusal(403, _error("Copilot access for this token was revoked", "forbidden"))
        if scheme.lower() != "bearer" or token not in self.state.copilot_tokens:
            raise _Refusal(401, "unauthorized: token expired")
        if not headers.get("editor-version"):
            raise _Refusal(400, _error("missing Editor-Version header for IDE auth", "bad_request"))
        if headers.get("x-github-api-version", "") < self.state.min_api_version:
            raise _Refusal(466, VERSION_REFUSED)

    def _check_queued(self) -> None:
        queued = self.state.faults.queued_errors
        if queued:
            status, raw, ctype, extra = queued.pop(0)
            body: dict[str, Any] | str = (
                raw.decode() if ctype.startswith("text/") else json.loads(raw)
            )
            raise _Refusal(status, body, extra)

    def _chat_model(self, endpoint: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _Refusal(400, _error("invalid JSON body", "invalid_request_body"))
        mid = body.get("model")
        entry = self.models.get(mid) if isinstance(mid, str) else None
        if entry is None or entry.get("policy", {}).get("state") != "enabled":
            raise _Refusal(
                400,
                _error(
                    "The requested model is not supported.",
                    "model_not_supported",
                    param="model",
                    type="invalid_request_error",
                ),
            )
        endpoints = entry.get("supported_endpoints") or ["/chat/completions"]
        if entry["capabilities"]["type"] != "chat" or endpoint not in endpoints:
            raise _Refusal(
                400,
                _error(
                    f"model {mid} is not accessible via the {endpoint} endpoint",
                    "unsupported_api_for_model",
                ),
            )
        return entry

    # -- routes ---------------------------------------------------------------------------

    async def _route(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Any,
        receive: Receive,
        send: Send,
    ) -> None:
        if method == "GET" and path == "/models":
            self._check_auth(headers)
            if self.state.faults.models_rate_limited > 0:
                self.state.faults.models_rate_limited -= 1
                message = "Sorry, you've hit a rate limit; please try again in 60 seconds."
                raise _Refusal(429, _error(message, "rate_limited"), {"retry-after": "60"})
            version = headers.get("x-github-api-version", "")
            data = [with_token_prices(m, version) for m in self.models.values()]
            await send_json(send, 200, {"object": "list", "data": data})
            return
        if method != "POST" or path not in (*_CHAT_PATHS, "/embeddings"):
            raise _Refusal(404, _error(f"no route {method} {path}", "not_found"))
        self._check_auth(headers)
        self._check_queued()
        if path == "/embeddings":
            await self._embeddings(body, send)
            return
        entry = self._chat_model(path, body)
        assert isinstance(body, dict)
        self._check_body(path, entry, headers, body)
        turn = replies.read_turn(path, body)
        limit = entry["capabilities"]["limits"]["max_prompt_tokens"]
        if turn.prompt_tokens > limit:
            if path == "/v1/messages":
                raise _Refusal(
                    400,
                    _anthropic_error(
                        f"prompt is too long: {turn.prompt_tokens} tokens > {limit} maximum"
                    ),
                )
            raise _Refusal(
                400,
                _error(
                    f"prompt token count of {turn.prompt_tokens} exceeds the limit of {limit}",
                    "model_max_prompt_tokens_exceeded",
                ),
            )
        if turn.reply.error_status:
            raise _Refusal(*self._scripted_error(path, turn.reply.error_status))
        model = entry["id"]
        read, write = cache_split(self.state, body, turn.prompt_tokens)
        turn = dataclasses.replace(turn, cache_read=read, cache_write=write)
        usage = self._bill(model, turn)
        billed = QuotaUsage(usage, self.state.copilot_usage_at if usage else "none")
        extra = quota_headers(self.state)
        claude = entry.get("vendor") == "Anthropic"
        stream = bool(body.get("stream"))
        stall, reset = turn.reply.stall_ms, turn.reply.reset_after
        if path == "/chat/completions":
            if stream:
                chunks = replies.chat_chunks(turn, model, claude=claude)
                for chunk in chunks:
                    if "usage" in chunk:
                        billed.put(chunk, chunk["usage"])
                frames = [sse_frame(json.dumps(c)) for c in chunks] + [sse_frame("[DONE]")]
                cut = self.state.faults.error_after_events
                if cut is not None:  # a mid-stream error object, then the stream ends
                    mid_error = {"error": {"message": "upstream overloaded", "code": "overloaded"}}
                    frames = [*frames[:cut], sse_frame(json.dumps(mid_error))]
                await self._stream(send, receive, frames, stall, reset, extra)
            else:
                answer = replies.chat_body(turn, model, claude=claude)
                billed.put(answer, answer["usage"])
                await self._whole(send, receive, answer, stall, reset, extra)
        elif path == "/v1/messages":
            if stream:
                frames = billed.frames(replies.messages_events(turn, model), "message_delta")
                await self._stream(send, receive, frames, stall, reset, extra)
            else:
                await send_json(send, 200, billed.put(replies.messages_body(turn, model)), extra)
        elif stream:
            raw = responses_events(turn, model, custom_tool_names(body))
            response_id = self._response_id()
            for _, event in raw:
                if isinstance(event.get("response"), dict):
                    event["response"]["id"] = response_id
            frames = billed.frames(raw, "response.completed")
            await self._stream(send, receive, frames, stall, reset, extra)
        else:
            answer = responses_body(turn, model, custom=custom_tool_names(body))
            answer["id"] = self._response_id()
            await send_json(send, 200, billed.put(answer), extra)

    def _response_id(self) -> str:
        response_id = f"resp_sim{len(self.state.response_ids) + 1}"
        self.state.response_ids.append(response_id)
        return response_id

    def _bill(self, model: str, turn: replies.Turn) -> dict[str, Any] | None:
        """The call's `copilot_usage` (None for accounts billed per request), spent from
        the quota before the answer's quota headers are written."""
        if not self.state.token_billing:
            return None
        output = replies.out_tokens(turn.reply)
        usage = copilot_usage(model, turn.prompt_tokens, output, turn.cache_read, turn.cache_write)
        charge(self.state, usage)
        return usage

    def _check_body(
        self, path: str, entry: dict[str, Any], headers: dict[str, str], body: dict[str, Any]
    ) -> None:
        # The vision header is required on chat/completions only (the official client sends
        # it nowhere else; whether /responses and /v1/messages need it is not known).
        vision = headers.get("copilot-vision-request") == "true"
        if path == "/chat/completions" and has_image(body) and not vision:
            raise _Refusal(
                400,
                _error("missing required Copilot-Vision-Request header for vision requests", ""),
            )
        self._check_limits(path, entry, body)
        breakpoints = _count_key(
            body, "copilot_cache_control" if path != "/v1/messages" else "cache_control"
        )
        if breakpoints > 4:
            message = (
                f"A maximum of 4 blocks with cache_control may be provided. Found {breakpoints}."
            )
            raise _bad_body(path, message)
        mid = entry["id"]
        if (
            path == "/chat/completions"
            and "max_tokens" in body
            and (mid.startswith("gpt-5") or mid[:1] == "o")
        ):
            raise _Refusal(
                400,
                _error(
                    "Unsupported parameter: 'max_tokens' is not supported with this model. "
                    "Use 'max_completion_tokens' instead.",
                    "invalid_request_body",
                ),
            )
        if path == "/v1/messages":
            messages = body.get("messages") or []
            if messages and isinstance(messages[-1], dict) and messages[-1].get("role") != "user":
                raise _Refusal(
                    400,
                    _anthropic_error(
                        "This model does not support assistant message prefill. "
                        "The conversation must end with a user message."
                    ),
                )
            if (
                '"scope"' in json.dumps(body.get("system", "")) + json.dumps(messages)
                or "cache_control" in body
            ):
                raise _Refusal(
                    400, _anthropic_error("cache_control: Extra inputs are not permitted")
                )
            if body.get("temperature") is not None and body.get("top_p") is not None:
                raise _Refusal(
                    400,
                    _anthropic_error(
                        "`temperature` and `top_p` cannot both be specified "
                        "for this model. Please use only one."
                    ),
                )
            for tool in body.get("tools") or []:
                if isinstance(tool, dict) and (
                    "eager_input_streaming" in tool
                    or str(tool.get("type", "")).startswith("web_search")
                ):
                    raise _Refusal(400, _anthropic_error("tools: unsupported_value"))
        previous = body.get("previous_response_id")
        if (
            path == "/responses"
            and previous is not None
            and previous not in self.state.response_ids
        ):
            raise _Refusal(
                400,
                _error(
                    f"Previous response with id '{previous}' not found.",
                    "previous_response_not_found",
                    param="previous_response_id",
                ),
            )
        if path == "/responses" and body.get("service_tier") is not None:
            raise _Refusal(400, _error("service_tier is not supported", "invalid_request_body"))

    def _check_limits(self, path: str, entry: dict[str, Any], body: dict[str, Any]) -> None:
        """The 2026 limits: non-stream output, 128 tools (OpenAI endpoints), vision."""
        limits = entry["capabilities"]["limits"]
        anthropic = path == "/v1/messages"
        refuse = partial(_bad_body, path)

        non_streaming = limits.get("max_non_streaming_output_tokens")
        wanted = next(
            (
                body[k]
                for k in ("max_tokens", "max_completion_tokens", "max_output_tokens")
                if isinstance(body.get(k), int)
            ),
            None,
        )
        if not body.get("stream") and non_streaming and wanted and wanted > non_streaming:
            raise refuse(
                f"max_tokens {wanted} exceeds the limit of {non_streaming} for non-streaming "
                "requests to this model; use streaming"
            )
        tools = body.get("tools") or []
        if not anthropic and len(tools) > 128:
            raise refuse(
                f"Invalid 'tools': array too long. Expected an array with maximum length 128, "
                f"but got an array with length {len(tools)} instead."
            )
        vision = limits.get("vision") or {}
        images = list(_images(body))
        if images and vision:
            if len(images) > vision["max_prompt_images"]:
                raise refuse(
                    f"too many images: {len(images)} > {vision['max_prompt_images']} allowed"
                )
            for media_type, size in images:
                if media_type and media_type not in vision["supported_media_types"]:
                    raise refuse(f"image media type {media_type} is not supported")
                if size > vision["max_prompt_image_size"]:
                    raise refuse(
                        f"image of {size} bytes exceeds {vision['max_prompt_image_size']} bytes"
                    )

    @staticmethod
    def _scripted_error(path: str, status: int) -> tuple[int, dict[str, Any] | str, dict[str, str]]:
        if status == 401:
            return 401, "unauthorized: token expired", {}
        if status == 429:
            message = "Sorry, you've hit a rate limit; please try again in 2 seconds."
            return 429, _error(message, "rate_limited"), {"retry-after": "2"}
        if status == 402:
            return 402, _error("You have no quota", "quota_exceeded"), {}
        if path == "/v1/messages":
            kind = "overloaded_error" if status in (503, 529) else "api_error"
            return (
                status,
                {"type": "error", "error": {"type": kind, "message": f"scripted error {status}"}},
                {},
            )
        return status, _error(f"scripted error {status}", f"http_{status}"), {}

    async def _embeddings(self, body: Any, send: Send) -> None:
        if (
            not isinstance(body, dict)
            or self.models.get(str(body.get("model")), {}).get("capabilities", {}).get("type")
            != "embeddings"
        ):
            raise _Refusal(
                400, _error("The requested model is not supported.", "model_not_supported")
            )
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else [str(i) for i in inputs or []]
        limit = self.models[str(body["model"])]["capabilities"].get("limits", {}).get("max_inputs")
        if limit and len(texts) > limit:
            raise _Refusal(
                400,
                _error(
                    f"Too many inputs: {len(texts)} > {limit} allowed per request",
                    "invalid_request_body",
                ),
            )
        data = [
            {"object": "embedding", "index": i, "embedding": _vector(t)}
            for i, t in enumerate(texts)
        ]
        tokens = sum(count_tokens(t) for t in texts)
        await send_json(
            send,
            200,
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    async def _whole(
        self,
        send: Send,
        receive: Receive,
        body: dict[str, Any],
        stall_ms: int | None,
        reset_after: int | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """A non-stream answer: nothing until it is generated (a stall fault), then one body;
        a reset fault sends half the body and drops the connection."""
        data = json.dumps(body).encode()
        async with watch_disconnect(receive, self.state) as gone:
            if self.state.faults.first_byte_delay:
                await trio.sleep(self.state.faults.first_byte_delay)
            if stall_ms:
                await trio.sleep(stall_ms / 1000)  # the disconnect watcher ends it early
            if gone.is_set():
                return
            if reset_after is None and self.state.faults.reset_after_events is None:
                await send_bytes(send, 200, data, headers=headers)
                return
            length = {"content-length": str(len(data))}
            await send_start(send, 200, "application/json", {**(headers or {}), **length})
            half = data[: len(data) // 2]
            await send({"type": "http.response.body", "body": half, "more_body": True})
            # Returning without the rest: hypercorn drops the connection mid-body.

    async def _stream(
        self,
        send: Send,
        receive: Receive,
        frames: list[bytes],
        stall_ms: int | None,
        reset_after: int | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Write SSE frames; notice the client leaving; abort the connection on a reset fault."""
        faults = self.state.faults
        reset = reset_after if reset_after is not None else faults.reset_after_events
        async with watch_disconnect(receive, self.state) as gone:
            if faults.first_byte_delay:
                await trio.sleep(faults.first_byte_delay)
            self.state.note_stream_open()  # before the client can see the headers
            await send_start(
                send, 200, "text/event-stream", {"cache-control": "no-cache", **(headers or {})}
            )
            await send({"type": "http.response.body", "body": b": sim\n\n", "more_body": True})
            if stall_ms:
                await trio.sleep(stall_ms / 1000)
            for n, frame in enumerate(frames):
                if reset is not None and n >= reset:
                    return  # finish without the final chunk: hypercorn drops the connection
                if gone.is_set():
                    return
                if faults.hold_after_events is not None and n >= faults.hold_after_events:
                    await trio.sleep_forever()  # ended by the disconnect watcher
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                await trio.lowlevel.checkpoint()
            if faults.hold_after_events is not None and len(frames) >= faults.hold_after_events:
                await trio.sleep_forever()  # every event sent, the stream left open
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def _images(value: Any) -> list[tuple[str | None, int]]:
    """(media type, decoded size) of every inline or linked image, in any endpoint's shape."""
    found: list[tuple[str | None, int]] = []
    if isinstance(value, list):
        for item in value:
            found += _images(item)
    elif isinstance(value, dict):
        kind = value.get("type")
        url: Any = None
        if kind == "image_url":
            url = value.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
        elif kind == "input_image":
            url = value.get("image_url")
        elif kind == "image" and isinstance(value.get("source"), dict):
            source = value["source"]
            if source.get("type") == "base64":
                data = str(source.get("data", ""))
                return [(source.get("media_type"), len(data) * 3 // 4)]
            url = source.get("url")
        if isinstance(url, str):
            if url.startswith("data:"):
                head, _, data = url.partition(",")
                return [(head[5:].split(";")[0] or None, len(data) * 3 // 4)]
            return [(None, 0)]
        for item in value.values():
            if isinstance(item, list | dict):
                found += _images(item)
    return found


def _count_key(value: Any, key: str) -> int:
    """How many objects in `value` carry `key` (cache breakpoints)."""
    if isinstance(value, dict):
        return int(key in value) + sum(_count_key(v, key) for v in value.values())
    if isinstance(value, list):
        return sum(_count_key(v, key) for v in value)
    return 0


def _vector(text: str) -> list[float]:
    seed = sum(text.encode()) + 31 * len(text) + 1
    return [round(((seed * (i + 7) + 13 * i) % 101) / 101, 4) for i in range(8)]


@dataclass(slots=True)
class CopilotSimulator:
    """Handle of a running GitHub + Copilot simulator pair."""

    state: SimState
    github_url: str
    api_url: str


async def serve_copilot_simulators(
    state: SimState | None = None,
    *,
    task_status: trio.TaskStatus[CopilotSimulator] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the fake GitHub and the fake Copilot API on two 127.0.0.1 ports."""
    state = state or SimState()
    async with trio.open_nursery() as nursery:
        api_url: str = await nursery.start(
            partial(serve_app, clock_offset=lambda: state.faults.clock_offset),
            CopilotAPISimulator(state),
        )
        state.api_url = api_url
        github_url: str = await nursery.start(serve_github_simulator, state)
        task_status.started(CopilotSimulator(state, github_url, api_url))
