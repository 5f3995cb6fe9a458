"""The durable usage ledger: one SQLite row per API request, queryable for weeks.

SQLite (WAL) is only touched from worker threads (`trio.to_thread`), so the event loop never
blocks on disk. Rows are queued in memory by `record()` (never fails a request) and written
by `run()` as soon as they arrive, batched while a write is in flight: a `kill -9` loses at
most the rows of the last write interval, a graceful stop flushes everything.
"""

from __future__ import annotations

import calendar
import logging
import os
import re
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import trio
from trio_util import AsyncValue

from aiclient_trio.record import RequestRecord
from aiclient_trio.untrusted import client_text, scrub

__all__ = [
    "USD_PER_COPILOT_CREDIT",
    "Ledger",
    "LedgerUnavailable",
    "UsageQuery",
    "parse_time_bound",
]

log = logging.getLogger("aiclient.ledger")

SCHEMA_VERSION = 3
# Migration n brings a database from version n-1 to n. Never edit a released step: add one.
_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        request_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        provider TEXT,
        client_model TEXT,
        upstream_model TEXT,
        stream INTEGER NOT NULL,
        status TEXT NOT NULL,
        http_status INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens INTEGER NOT NULL DEFAULT 0,
        input_estimated INTEGER NOT NULL DEFAULT 0,
        output_estimated INTEGER NOT NULL DEFAULT 0,
        ttfb_ms REAL,
        duration_ms REAL NOT NULL,
        initiator TEXT,
        credits REAL,
        error_kind TEXT,
        fallback_from TEXT
    );
    CREATE INDEX requests_ts ON requests (ts);
    """,
    # Copilot premium requests a row cost (model multiplier; 0x models and agent turns 0).
    2: "ALTER TABLE requests ADD COLUMN premium REAL;",
    # Copilot AI credits (in `credits`) estimated from token prices, not reported by Copilot.
    3: "ALTER TABLE requests ADD COLUMN credits_estimated INTEGER NOT NULL DEFAULT 0;",
}
# What a Copilot AI credit costs; Kiro's credits are another unit and get no dollar value.
USD_PER_COPILOT_CREDIT = 0.01
# Premium requests of a row; rows from schema 1 count one per user-initiated call.
_PREMIUM = "COALESCE(premium, initiator = 'user')"

_COLUMNS = (
    "ts, request_id, endpoint, provider, client_model, upstream_model, stream, status, "
    "http_status, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
    "input_estimated, output_estimated, ttfb_ms, duration_ms, initiator, credits, error_kind, "
    "fallback_from, premium, credits_estimated"
)
_INSERT = f"INSERT INTO requests ({_COLUMNS}) VALUES ({', '.join('?' * 23)})"
# Rows kept in memory while the database is unavailable, beyond which the oldest go.
_MAX_PENDING = 100_000
# Rows older than the retention are pruned after the first write and then once a day.
PRUNE_INTERVAL = 86400.0

Group = Literal["provider", "model", "day"]


class LedgerUnavailable(Exception):
    """The database cannot be read (missing, corrupt, locked)."""


@dataclass(frozen=True, slots=True)
class UsageQuery:
    since: float | None = None
    until: float | None = None
    group: Group = "model"


def _row(rec: RequestRecord) -> tuple[Any, ...]:
    usage = rec.usage
    return (
        rec.started_at,
        scrub(rec.request_id),
        scrub(rec.endpoint),
        rec.provider,
        client_text(rec.client_model),
        client_text(rec.upstream_model),
        int(rec.stream),
        rec.outcome,
        rec.http_status,
        usage.input_tokens if usage else 0,
        usage.output_tokens if usage else 0,
        usage.cache_read_input_tokens if usage else 0,
        usage.cache_creation_input_tokens if usage else 0,
        int(usage.input_estimated) if usage else 0,
        int(usage.output_estimated) if usage else 0,
        None if rec.time_to_first_byte is None else rec.time_to_first_byte * 1000,
        rec.duration * 1000,
        rec.initiator,
        rec.credits,
        rec.error_kind,
        client_text(",".join(rec.fallback_from), 1000) or None,
        rec.premium,
        int(rec.credits_estimated),
    )


class Ledger:
    def __init__(
        self,
        path: Path,
        *,
        retention_days: int = 90,
        busy_timeout: float = 2.0,
        batch_delay: float = 0.25,
    ) -> None:
        self.path = path
        # Rows arriving within this many seconds share one commit: a commit per request costs
        # ~0.35 ms of CPU at low concurrency, and a kill -9 still loses well under a second.
        self.batch_delay = batch_delay
        self.busy_timeout = busy_timeout
        self.retention_days = retention_days
        self._pending: deque[tuple[Any, ...]] = deque(maxlen=_MAX_PENDING)
        self._wakeup = trio.Event()
        self._lock = threading.Lock()  # one connection, used by one worker thread at a time
        self._conn: sqlite3.Connection | None = None
        self.healthy = False
        self.last_error: str | None = None
        self.written = 0
        # `written` as the event loop saw it after each flush: what is on disk for sure.
        self.durable = AsyncValue(0)

    # -- writing ------------------------------------------------------------------------------

    def record(self, rec: RequestRecord) -> None:
        """Queue a finished request (a `Gateway` observer). Never blocks. A token count is
        answered here and reaches no provider: not a request to store (metrics count it)."""
        if rec.endpoint.endswith("/count_tokens"):
            return
        self._pending.append(_row(rec))
        self._wakeup.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write queued rows until cancelled, then flush what is left; prune once a day."""
        await trio.to_thread.run_sync(self._open_quietly)
        task_status.started()
        next_prune = 0.0
        try:
            while True:
                await self._wakeup.wait()
                if self.batch_delay > 0:
                    await trio.sleep(self.batch_delay)
                self._wakeup = trio.Event()
                await self.flush()
                if time.time() >= next_prune:
                    await self.prune()
                    next_prune = time.time() + PRUNE_INTERVAL
                if self._pending and not self.healthy:
                    # The database is broken: retry in a second, keep serving meanwhile.
                    await trio.sleep(1)
                    self._wakeup.set()
        finally:
            with trio.CancelScope(shield=True):
                await self.flush()
                await trio.to_thread.run_sync(self._close)

    async def flush(self) -> None:
        """Write every queued row now (in a worker thread)."""
        if self._pending:
            await trio.to_thread.run_sync(self._write_pending)
            self.durable.value = self.written

    def _write_pending(self) -> None:
        with self._lock:
            if self._conn is None and not self._open_locked():
                return
            assert self._conn is not None
            batch = list(self._pending)
            try:
                with self._conn:
                    self._conn.executemany(_INSERT, batch)
            except sqlite3.OperationalError as exc:
                # The database itself (disk, lock, I/O): keep the rows and retry later.
                self._fail(f"cannot write usage rows to {self.path}: {exc}")
                return
            except Exception as exc:
                # A row the database refuses (a value it cannot store): the batch goes row
                # by row and only the bad rows are dropped.
                log.warning(
                    "usage batch of %d rows refused (%s); writing them one by one", len(batch), exc
                )
                self._write_rows(len(batch))
                return
            for _ in batch:
                self._pending.popleft()
            self._wrote(len(batch))

    def _write_rows(self, count: int) -> None:
        """Write the first `count` queued rows one at a time, dropping those refused."""
        written = 0
        for _ in range(count):
            assert self._conn is not None
            row = self._pending[0]
            try:
                with self._conn:
                    self._conn.execute(_INSERT, row)
                written += 1
            except sqlite3.OperationalError as exc:
                self._fail(f"cannot write usage rows to {self.path}: {exc}")
                break
            except Exception as exc:
                log.error("usage row of request %r dropped: %s", row[1], exc)
            self._pending.popleft()
        else:
            self._wrote(written)
            return
        self.written += written

    def _wrote(self, count: int) -> None:
        self.written += count
        self.healthy = True
        self.last_error = None

    # -- reading ------------------------------------------------------------------------------

    async def summary(self, query: UsageQuery) -> dict[str, Any]:
        await self.flush()
        return await trio.to_thread.run_sync(self._summary, query)

    async def clear(self, before: float | None = None) -> int:
        await self.flush()
        return await trio.to_thread.run_sync(self._clear, before)

    def _summary(self, query: UsageQuery) -> dict[str, Any]:
        where, params = _where(query)
        key = {
            "provider": "COALESCE(provider, '-')",
            "model": (
                "COALESCE(provider, '-') || '/' || COALESCE(upstream_model, client_model, '-')"
            ),
            "day": "date(ts, 'unixepoch')",
        }[query.group]
        sums = (
            "COUNT(*), SUM(status = 'ok'), SUM(status != 'ok'), SUM(input_tokens), "
            "SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), "
            f"SUM({_PREMIUM}), SUM(input_estimated OR output_estimated), SUM(credits), "
            "SUM(CASE WHEN credits_estimated THEN credits END), "
            f"SUM(CASE WHEN provider = 'copilot' THEN credits END) * {USD_PER_COPILOT_CREDIT}"
        )
        with self._lock:
            conn = self._reader()
            try:
                total = conn.execute(f"SELECT {sums} FROM requests{where}", params).fetchone()
                groups = conn.execute(
                    f"SELECT {key} AS k, {sums} FROM requests{where} GROUP BY k ORDER BY k",
                    params,
                ).fetchall()
                today = conn.execute(
                    f"SELECT SUM({_PREMIUM}) FROM requests WHERE ts >= ?",
                    (_start_of_day(),),
                ).fetchone()
                month = conn.execute(
                    f"SELECT SUM({_PREMIUM}) FROM requests WHERE ts >= ?",
                    (_start_of_month(),),
                ).fetchone()
            except sqlite3.Error as exc:
                raise LedgerUnavailable(f"cannot read {self.path}: {exc}") from exc
        return {
            "since": query.since,
            "until": query.until,
            "group": query.group,
            "totals": _sums(total),
            "groups": [{"key": row[0], **_sums(row[1:])} for row in groups],
            "premium_requests": {"today": today[0] or 0, "this_month": month[0] or 0},
        }

    async def series(self, since: float, bucket: float) -> list[dict[str, Any]]:
        """Per time bucket (`bucket` seconds, aligned to UTC) and model since `since`: requests,
        tokens, premium requests and credits. Rows are {"t": bucket start, "model", ...}."""
        await self.flush()
        return await trio.to_thread.run_sync(self._series, since, bucket)

    async def request_row(self, request_id: str) -> dict[str, Any] | None:
        """The newest ledger row of `request_id` (metadata only: the ledger holds no content)."""
        await self.flush()
        return await trio.to_thread.run_sync(self._request_row, request_id)

    def _series(self, since: float, bucket: float) -> list[dict[str, Any]]:
        # A request no provider took (unknown model) counts under the name the client asked.
        model = (
            "CASE WHEN provider IS NULL THEN COALESCE(client_model, '-') "
            "ELSE provider || '/' || COALESCE(upstream_model, client_model, '-') END"
        )
        sql = (
            f"SELECT CAST(ts / ? AS INTEGER) * ? AS t, {model} AS m, COUNT(*), "
            "SUM(input_tokens), SUM(output_tokens), "
            f"SUM({_PREMIUM}), SUM(credits), SUM(status != 'ok') "
            "FROM requests WHERE ts >= ? GROUP BY t, m ORDER BY t, m"
        )
        with self._lock:
            conn = self._reader()
            try:
                rows = conn.execute(sql, (bucket, bucket, since)).fetchall()
            except sqlite3.Error as exc:
                raise LedgerUnavailable(f"cannot read {self.path}: {exc}") from exc
        names = ("requests", "input_tokens", "output_tokens", "premium_requests", "credits")
        return [
            {
                "t": row[0],
                "model": row[1],
                **dict(zip(names, (v or 0 for v in row[2:7]), strict=True)),
                "errors": row[7] or 0,
            }
            for row in rows
        ]

    def _request_row(self, request_id: str) -> dict[str, Any] | None:
        with self._lock:
            conn = self._reader()
            try:
                cursor = conn.execute(
                    f"SELECT {_COLUMNS} FROM requests WHERE request_id = ? "
                    "ORDER BY id DESC LIMIT 1",
                    (request_id,),
                )
                row = cursor.fetchone()
            except sqlite3.Error as exc:
                raise LedgerUnavailable(f"cannot read {self.path}: {exc}") from exc
        if row is None:
            return None
        return dict(zip([c[0] for c in cursor.description], row, strict=True))

    def _clear(self, before: float | None) -> int:
        with self._lock:
            conn = self._reader()
            try:
                with conn:
                    if before is None:
                        cursor = conn.execute("DELETE FROM requests")
                    else:
                        cursor = conn.execute("DELETE FROM requests WHERE ts < ?", (before,))
            except sqlite3.Error as exc:
                raise LedgerUnavailable(f"cannot clear {self.path}: {exc}") from exc
            return cursor.rowcount

    # -- connection management (worker threads only) -------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        if self._conn is None and not self._open_locked():
            raise LedgerUnavailable(self.last_error or f"cannot open {self.path}")
        assert self._conn is not None
        return self._conn

    def _open_quietly(self) -> None:
        with self._lock:
            self.healthy = self._open_locked()

    def _open_locked(self) -> bool:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _make_private(self.path)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                _migrate(conn)
            except BaseException:
                conn.close()
                raise
        except (sqlite3.Error, OSError) as exc:
            self._fail(f"usage ledger {self.path} is unavailable: {exc}")
            return False
        self._conn = conn
        return True

    def _fail(self, message: str) -> None:
        if message != self.last_error:
            log.warning("%s; requests are still served, rows are kept in memory", message)
        self.last_error = message
        self.healthy = False
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def prune(self) -> int:
        """Delete rows older than `retention_days` (0 keeps all); how many went. Never raises."""
        return await trio.to_thread.run_sync(self._prune_quietly)

    def _prune_quietly(self) -> int:
        if self.retention_days <= 0:
            return 0
        cutoff = time.time() - self.retention_days * 86400
        try:
            removed = self._clear(cutoff)
        except LedgerUnavailable:
            return 0
        if removed:
            log.info("pruned %d usage rows older than %d days", removed, self.retention_days)
        return removed

    def _close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _make_private(path: Path) -> None:
    """The database 0600 from its first byte, whatever the umask; SQLite gives its -wal and
    -shm files the database's mode. Files left looser by an older version are tightened."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            if os.stat(f"{path}{suffix}").st_mode & 0o077:
                os.chmod(f"{path}{suffix}", 0o600)
        except FileNotFoundError:
            pass


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"schema version {version} is newer than this aiclient ({SCHEMA_VERSION}); upgrade"
        )
    for step in range(version + 1, SCHEMA_VERSION + 1):
        with conn:
            conn.executescript(_MIGRATIONS[step])
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(step),),
            )


def _where(query: UsageQuery) -> tuple[str, list[float]]:
    clauses: list[str] = []
    params: list[float] = []
    if query.since is not None:
        clauses.append("ts >= ?")
        params.append(query.since)
    if query.until is not None:
        clauses.append("ts < ?")
        params.append(query.until)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _sums(row: Iterable[Any]) -> dict[str, Any]:
    values = [v or 0 for v in row]
    names = (
        "requests",
        "ok",
        "errors",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "premium_requests",
        "estimated_rows",
        "credits",
        "estimated_credits",
        "usd",
    )
    return dict(zip(names, values, strict=True))


def _start_of_day() -> float:
    now = time.gmtime()
    return float(calendar.timegm((now.tm_year, now.tm_mon, now.tm_mday, 0, 0, 0)))


def _start_of_month() -> float:
    now = time.gmtime()
    return float(calendar.timegm((now.tm_year, now.tm_mon, 1, 0, 0, 0)))


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time_bound(text: str, *, now: float | None = None) -> float:
    """`24h`, `7d`, `30m` (that long ago), an ISO date or date-time (UTC if no zone)."""
    text = text.strip()
    match = _DURATION.match(text.lower())
    if match:
        ago = float(match.group(1)) * _UNIT[match.group(2)]
        return (time.time() if now is None else now) - ago
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"invalid time {text!r}: use a duration like 24h, 7d, 30m or an ISO date like "
            "2026-11-01 or 2026-11-01T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
