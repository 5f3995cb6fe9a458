"""Logging for the daemon and the CLI.

`setup_logging()` installs handlers on the `aiclient` logger and on the package's own
module loggers (`aiclient_trio.*`): a size-rotating file and, in the foreground, stderr.
Each handler carries a `RedactionFilter` that masks anything credential-shaped in the
rendered message and in tracebacks. `set_level()` changes the level
at runtime; `set_secrets()` teaches the filter literal secrets (the configured API key).
Message content (prompts, completions) is only ever logged at debug level.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from aiclient_trio.record import RequestRecord
from aiclient_trio.redact import MASK, add_secrets, redact, set_secrets

__all__ = [
    "LINE_FORMAT",
    "MASK",
    "RedactionFilter",
    "add_secrets",
    "log_request",
    "redact",
    "reset_logging",
    "set_level",
    "set_secrets",
    "setup_logging",
]

LOGGER = "aiclient"
# Modules that log under their import name (logging.getLogger(__name__)) share the handlers.
LOGGERS = (LOGGER, "aiclient_trio")
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# A log message longer than this is cut (a client string can be megabytes).
MAX_MESSAGE = 8192


class RedactionFilter(logging.Filter):
    """Renders the record's message and traceback once, masked; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_aiclient_redacted", False):
            return True
        message = record.getMessage()
        if len(message) > MAX_MESSAGE:
            message = f"{message[:MAX_MESSAGE]}...(+{len(message) - MAX_MESSAGE} chars)"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._aiclient_redacted = True
        return True


class _UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


def _level(name: str) -> int:
    return logging.getLevelNamesMapping().get(name.upper(), logging.INFO)


def setup_logging(
    *,
    level: str = "info",
    file: Path | None = None,
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 5,
    stderr: bool = False,
    secrets: Iterable[str | None] = (),
) -> logging.Logger:
    """Configure the `aiclient` and `aiclient_trio` loggers (idempotent: replaces the
    handlers it installed before)."""
    _remove_handlers()
    logger = logging.getLogger(LOGGER)
    formatter = _UTCFormatter(LINE_FORMAT)
    handlers: list[logging.Handler] = []
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Private from the first byte, whatever the process umask (the demo keeps the default).
        os.close(os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600))
        handlers.append(
            logging.handlers.RotatingFileHandler(
                file, maxBytes=max_bytes, backupCount=max(backups, 1), encoding="utf-8"
            )
        )
    if stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactionFilter())
    for name in LOGGERS:
        for handler in handlers:
            logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).propagate = False
    set_secrets(secrets)
    set_level(level)
    return logger


def reset_logging() -> None:
    """Remove the handlers `setup_logging` installed and let records propagate again."""
    _remove_handlers()
    for name in LOGGERS:
        logging.getLogger(name).propagate = True
        logging.getLogger(name).setLevel(logging.NOTSET)


def _remove_handlers() -> None:
    closed: set[int] = set()
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            if id(handler) not in closed:
                closed.add(id(handler))
                handler.close()


def set_level(level: str) -> None:
    for name in LOGGERS:
        logging.getLogger(name).setLevel(_level(level))


_access = logging.getLogger(LOGGER + ".access")


def log_request(rec: RequestRecord) -> None:
    """Gateway observer: one line per finished request (no content, no headers)."""
    _access.info(
        "%s %s %d %.0fms provider=%s model=%s outcome=%s%s id=%s",
        rec.method,
        rec.endpoint,
        rec.http_status,
        rec.duration * 1000,
        rec.provider or "-",
        rec.client_model or "-",
        rec.outcome,
        f" error={rec.error_kind}" if rec.error_kind else "",
        rec.request_id,
    )


_LEVEL_IN_LINE = re.compile(r"^\S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def line_level(line: str) -> int | None:
    """The level of a log line written with LINE_FORMAT (None for continuation lines)."""
    match = _LEVEL_IN_LINE.match(line)
    return _level(match.group(1)) if match else None


def tail_lines(
    path: Path, lines: int, level: str | None = None, *, end: int | None = None
) -> list[str]:
    """The last `lines` lines before byte `end` (default: the end of the file) at or above
    `level` (tracebacks kept)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2) if end is None else end
            # Read enough of the end for the request; lines are rarely above 1 KiB.
            chunk = min(size, max(lines, 1) * 2048 * (4 if level else 1))
            handle.seek(size - chunk)
            text = handle.read(chunk).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    all_lines = text.splitlines()
    if chunk < size and all_lines:
        all_lines = all_lines[1:]  # first line is probably cut
    if level:
        minimum, keep, kept = _level(level), False, []
        for line in all_lines:
            found = line_level(line)
            if found is not None:
                keep = found >= minimum
            if keep:
                kept.append(line)
        all_lines = kept
    return all_lines[-lines:] if lines > 0 else []
