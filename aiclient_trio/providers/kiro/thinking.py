"""Tag-emulated thinking: split `<thinking>...</thinking>` out of Kiro's text stream (6.4).

A small state machine fed text deltas as they arrive, so the tags may be split anywhere
across events. Only a leading block counts as thinking; it holds back at most a tag's worth
of characters, so text still streams.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["ThinkingTagParser"]

OPEN, CLOSE = "<thinking>", "</thinking>"
Piece = tuple[Literal["thinking", "text"], str]


class ThinkingTagParser:
    def __init__(self) -> None:
        self._state: Literal["start", "thinking", "text"] = "start"
        self._buffer = ""
        self._drop_newline = False
        self.saw_thinking = False

    def feed(self, text: str) -> list[Piece]:
        if self._state == "text":
            return [("text", text)] if text else []
        self._buffer += text
        return self._advance(final=False)

    def flush(self) -> list[Piece]:
        """End of text (end of stream or a tool call): decide whatever is held back."""
        if self._state == "text":
            return []
        return self._advance(final=True)

    def _advance(self, final: bool) -> list[Piece]:
        pieces: list[Piece] = []
        if self._state == "start":
            stripped = self._buffer.lstrip()
            if not stripped:
                if final:
                    self._buffer = ""
                return pieces
            if stripped.startswith(OPEN):
                self._state = "thinking"
                self.saw_thinking = True
                self._buffer = stripped[len(OPEN) :]
                self._drop_newline = True
            elif OPEN.startswith(stripped) and not final:
                return pieces  # maybe the open tag, split across events
            else:
                self._state = "text"
                text, self._buffer = self._buffer, ""
                return [("text", text)]
        if self._state == "thinking":
            pieces.extend(self._inside(final))
        return pieces

    def _inside(self, final: bool) -> list[Piece]:
        pieces: list[Piece] = []
        if self._drop_newline and self._buffer:
            # One newline right after the open tag is formatting, not thinking.
            self._drop_newline = False
            self._buffer = self._buffer.removeprefix("\n")
        search_from = 0
        while True:
            index = self._buffer.find(CLOSE, search_from)
            if index < 0:
                break
            after = self._buffer[index + len(CLOSE) :]
            quoted = index > 0 and self._buffer[index - 1] in "`\"'"
            if not quoted and after.startswith("\n\n"):
                return self._close(index, after[2:])
            if not quoted and not after.strip():
                if final:
                    return self._close(index, "")
                return self._emit_thinking(index)  # wait: is "\n\n" coming?
            search_from = index + len(CLOSE)  # quoted or followed by text: not the end
        if final:
            thinking, self._buffer = self._buffer, ""
            return [("thinking", thinking)] if thinking else []
        # Hold back a possible partial close tag at the end.
        hold = 0
        for size in range(min(len(CLOSE) - 1, len(self._buffer)), 0, -1):
            if CLOSE.startswith(self._buffer[-size:]):
                hold = size
                break
        return self._emit_thinking(len(self._buffer) - hold) + pieces

    def _emit_thinking(self, upto: int) -> list[Piece]:
        thinking, self._buffer = self._buffer[:upto], self._buffer[upto:]
        return [("thinking", thinking)] if thinking else []

    def _close(self, index: int, rest: str) -> list[Piece]:
        pieces = self._emit_thinking(index)
        self._buffer = ""
        self._state = "text"
        if rest:
            pieces.append(("text", rest))
        return pieces
