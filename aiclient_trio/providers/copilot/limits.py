"""Copilot's per-model limits (2026), checked before a call so the client gets a clear 400.

`/models` states a non-stream output limit, an embeddings batch size and vision limits; the
official client also refuses more than 128 tools. A request over a limit that we can work
around (non-stream output, embeddings batch) is reshaped instead of refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiclient_trio import ir
from aiclient_trio.errors import InvalidRequest

__all__ = [
    "DEFAULT_MAX_INPUTS",
    "MAX_TOOLS",
    "ModelLimits",
    "check_request",
    "parse_limits",
    "requested_output",
]

MAX_TOOLS = 128  # the official client's HARD_TOOL_LIMIT; OpenAI endpoints refuse more
DEFAULT_MAX_INPUTS = 256  # embeddings inputs per call when /models names no max_inputs
_OUTPUT_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


@dataclass(frozen=True, slots=True)
class ModelLimits:
    max_non_streaming_output: int | None = None
    max_inputs: int = DEFAULT_MAX_INPUTS
    max_images: int | None = None
    max_image_bytes: int | None = None
    media_types: frozenset[str] | None = None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def parse_limits(entry: Mapping[str, Any]) -> ModelLimits:
    caps = entry.get("capabilities")
    limits = caps.get("limits") if isinstance(caps, dict) else None
    if not isinstance(limits, dict):
        return ModelLimits()
    raw_vision = limits.get("vision")
    vision: Mapping[str, Any] = raw_vision if isinstance(raw_vision, dict) else {}
    types = vision.get("supported_media_types")
    return ModelLimits(
        max_non_streaming_output=_int(limits.get("max_non_streaming_output_tokens")),
        max_inputs=_int(limits.get("max_inputs")) or DEFAULT_MAX_INPUTS,
        max_images=_int(vision.get("max_prompt_images")),
        max_image_bytes=_int(vision.get("max_prompt_image_size")),
        media_types=frozenset(str(t) for t in types) if isinstance(types, list) else None,
    )


def requested_output(body: Mapping[str, Any]) -> int | None:
    """The output limit a body asks for, under whichever name its format uses."""
    return next((v for k in _OUTPUT_KEYS if (v := _int(body.get(k))) is not None), None)


def _images(value: Any) -> Iterator[tuple[str | None, int | None]]:
    """(media type, decoded bytes) of each image in a chat, messages or responses body;
    images by URL have no known size or type."""
    if isinstance(value, list):
        for item in value:
            yield from _images(item)
        return
    if not isinstance(value, dict):
        return
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
            data = str(source.get("data") or "")
            yield source.get("media_type"), _decoded_size(data)
            return
        url = source.get("url")
    if isinstance(url, str):
        if url.startswith("data:"):
            head, _, data = url.partition(",")
            yield head[5:].split(";")[0] or None, _decoded_size(data)
        else:
            yield None, None
        return
    for item in value.values():
        if isinstance(item, list | dict):
            yield from _images(item)


def _decoded_size(data: str) -> int:
    return len(data) * 3 // 4 - data[-2:].count("=")


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def check_request(
    fmt: ir.WireFormat, body: Mapping[str, Any], model_id: str, limits: ModelLimits
) -> None:
    """Refuse, naming the limit, what Copilot would refuse with an opaque 400."""
    name = f"copilot/{model_id}"
    tools = body.get("tools")
    if isinstance(tools, list) and len(tools) > MAX_TOOLS:
        raise InvalidRequest(
            f"{name} takes at most {MAX_TOOLS} tools per request (Copilot's limit); this "
            f"request offers {len(tools)}. Offer fewer tools, or load rarely used ones on demand.",
            param="tools",
            code="too_many_tools",
        )
    images = list(_images(body.get("messages") or body.get("input") or []))
    images += list(_images(body.get("system") or []))
    if not images:
        return
    if limits.max_images is not None and len(images) > limits.max_images:
        raise InvalidRequest(
            f"{name} takes at most {limits.max_images} images per request (max_prompt_images); "
            f"this request has {len(images)}. Send fewer images, or split the question.",
            param="messages",
            code="too_many_images",
        )
    for n, (media_type, size) in enumerate(images, 1):
        if limits.media_types and media_type and media_type not in limits.media_types:
            allowed = ", ".join(sorted(limits.media_types))
            raise InvalidRequest(
                f"image {n} is {media_type}; {name} accepts {allowed} "
                "(supported_media_types). Convert the image first.",
                param="messages",
                code="unsupported_image_type",
            )
        if limits.max_image_bytes and size and size > limits.max_image_bytes:
            raise InvalidRequest(
                f"image {n} is {_megabytes(size)}; {name} takes images up to "
                f"{_megabytes(limits.max_image_bytes)} (max_prompt_image_size). "
                "Scale it down first.",
                param="messages",
                code="image_too_large",
            )
