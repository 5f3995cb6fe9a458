"""PID file with an exclusive lock.

The daemon's PID file, held with an exclusive flock for the daemon's whole life. The lock,
not the PID, says whether a daemon runs: a stale file (crash, kill -9) has no holder.

The daemon opens `paths.pid_file()`, takes `fcntl.flock(LOCK_EX | LOCK_NB)` and writes its
PID; the kernel drops the lock when the process dies however it dies, so a leftover file is
recognised as stale and replaced. The CLI asks `running_pid()` which probes the lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from aiclient_trio.config.paths import UnsafePath, check_owned

__all__ = ["AlreadyRunning", "PidLock", "is_our_daemon", "running_pid"]


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
        check_owned(self.path.parent, directory=True)
        fd = _open_ours(self.path, os.O_RDWR | os.O_CREAT)
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


def _open_ours(path: Path, flags: int) -> int:
    """Open `path` (never through a symbolic link) and require it to be our own file."""
    try:
        fd = os.open(path, flags | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(f"{path} is a symbolic link; aiclient does not follow it") from None
        raise
    owner = os.fstat(fd).st_uid
    if owner != os.getuid():
        os.close(fd)
        raise UnsafePath(
            f"{path} belongs to uid {owner}, not to you (uid {os.getuid()}); another local "
            "user may have planted it. Remove it, or set XDG_RUNTIME_DIR to a private directory."
        )
    return fd


def is_our_daemon(pid: int) -> bool:
    """True when process `pid` runs as us and is an aiclient daemon (Linux /proc; elsewhere
    the ownership checks on the PID file stand alone)."""
    proc = Path(f"/proc/{pid}")
    if not Path("/proc/self").exists():
        return True
    try:
        if proc.stat().st_uid != os.getuid():
            return False
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    return b"aiclient" in cmdline


def running_pid(path: Path) -> int | None:
    """PID of the daemon holding the lock on `path`, or None when no daemon runs.

    The directory and the file must be ours (`UnsafePath` otherwise): in a /tmp fallback
    another user could have created them."""
    try:
        check_owned(path.parent, directory=True)
        fd = _open_ours(path, os.O_RDONLY)
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
