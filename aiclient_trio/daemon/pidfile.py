# The daemon's PID file, held with an exclusive flock for the daemon's whole life.
# The lock, not the PID, says whether a daemon runs: a stale file (crash, kill -9) has no holder.
"""PID file with an exclusive lock.

The daemon opens `paths.pid_file()`, takes `fcntl.flock(LOCK_EX | LOCK_NB)` and writes its
PID; the kernel drops the lock when the process dies however it dies, so a leftover file is
recognised as stale and replaced. The CLI asks `running_pid()` which probes the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

__all__ = ["AlreadyRunning", "PidLock", "running_pid"]


class AlreadyRunning(Exception):
    def __init__(self, pid: int | None) -> None:
        super().__init__(f"aiclient is already running (PID {pid if pid else 'unknown'})")
        self.pid = pid


def _read_pid(fd: int) -> int | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 64).decode(errors="replace").strip()
    return int(raw) if raw.isdigit() else None


class PidLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.stale_pid: int | None = None  # PID found in a stale file we replaced

    def acquire(self) -> None:
        """Lock and write our PID; AlreadyRunning if another live process holds the lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(pid) from None
        self.stale_pid = _read_pid(fd)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # while still locked, so no one else's file is removed
        os.close(self._fd)
        self._fd = None


def running_pid(path: Path) -> int | None:
    """PID of the daemon holding the lock on `path`, or None when no daemon runs."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
