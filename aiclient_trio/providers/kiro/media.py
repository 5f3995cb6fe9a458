"""Images and documents in Kiro's shapes (kiro.md rule 9, kiro-2026.md section 8).

Images: base64 png/jpeg/gif/webp only. Documents: PDFs on the current message only, at most
five, named without an extension; what the service would refuse becomes a text note.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from aiclient_trio import ir
from aiclient_trio.errors import InvalidRequest

__all__ = ["IMAGE_FORMATS", "MAX_DOCUMENTS", "documents", "image"]

MAX_DOCUMENTS = 5
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_ -]+")
IMAGE_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "gif": "gif", "webp": "webp"}


def image(block: ir.ImageBlock) -> dict[str, Any]:
    media_type, data = block.media_type, block.data
    if block.url is not None:
        if not block.url.startswith("data:"):
            raise InvalidRequest(
                "Kiro accepts only inline base64 images, not image URLs", param="messages"
            )
        header, _, data = block.url.partition(",")
        media_type = header[5:].split(";")[0]
    if data and data.startswith("data:"):
        header, _, data = data.partition(",")
        media_type = media_type or header[5:].split(";")[0]
    subtype = (media_type or "image/png").split("/")[-1].lower()
    if subtype not in IMAGE_FORMATS:
        raise InvalidRequest(
            f"Kiro accepts png, jpeg, gif and webp images, not {media_type}", param="messages"
        )
    try:
        base64.b64decode(data or "", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("image data is not valid base64", param="messages") from None
    if not data:
        raise InvalidRequest("image without data", param="messages")
    return {"format": IMAGE_FORMATS[subtype], "source": {"bytes": data}}


def _document_name(document: ir.DocumentBlock, position: int) -> str:
    stem = (document.name or "").rsplit("/", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    stem = _UNSAFE_NAME.sub("-", stem).strip("-")[:64]
    return stem or f"document-{position + 1}"


def documents(
    blocks: list[ir.DocumentBlock], *, current: bool
) -> tuple[list[dict[str, Any]], list[str]]:
    """PDFs as the service takes them (kiro-2026.md section 8): on the current message only,
    at most five, named without an extension; a text note says what was left out."""
    documents: list[dict[str, Any]] = []
    notes: list[str] = []
    for position, block in enumerate(blocks):
        name = _document_name(block, position)
        if block.media_type != "application/pdf":
            notes.append(f"[document {name} omitted: Kiro takes only PDF documents]")
        elif not current:
            notes.append(
                f"[document {name} omitted: Kiro takes documents only in the latest message]"
            )
        elif len(documents) >= MAX_DOCUMENTS:
            notes.append(f"[document {name} omitted: Kiro takes at most {MAX_DOCUMENTS} documents]")
        else:
            documents.append({"format": "pdf", "name": name, "source": {"bytes": block.data}})
    return documents, notes
