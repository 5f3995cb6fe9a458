"""XDG locations of everything the daemon keeps on disk.

Config and credentials under $XDG_CONFIG_HOME/aiclient, the ledger and logs under
$XDG_STATE_HOME/aiclient, the PID file and control socket under $XDG_RUNTIME_DIR/aiclient
(fallback /tmp/aiclient-$UID). Directories are created 0700 on demand, and every file
aiclient writes with secrets or settings in it goes through `write_private` (0600, atomic).

The runtime directory may sit in /tmp, where another local user can create it first: it, the
PID file and the control socket are only used when they are ours (`UnsafePath` otherwise).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from aiclient_trio.config.types import Config

__all__ = [
    "UnsafePath",
    "check_owned",
    "check_private_dir",
    "config_dir",
    "config_file",
    "control_socket",
    "credentials_dir",
    "ensure_private_dir",
    "ensure_runtime_dir",
    "log_file",
    "pid_file",
    "runtime_dir",
    "state_dir",
    "write_private",
]

APP = "aiclient"


def _xdg(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value) if value and os.path.isabs(value) else default


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", Path.home() / ".config") / APP


def config_file() -> Path:
    return config_dir() / "config.toml"


def credentials_dir(provider: str) -> Path:
    """`$XDG_CONFIG_HOME/aiclient/<provider>/`: token files, mode 0600 in a 0700 directory."""
    return config_dir() / provider


def state_dir() -> Path:
    return _xdg("XDG_STATE_HOME", Path.home() / ".local" / "state") / APP


def log_file() -> Path:
    return state_dir() / "aiclient.log"


def log_path(config: Config) -> Path:
    """The daemon's log file: `logging.file` when configured, else the XDG default."""
    return Path(config.logging.file).expanduser() if config.logging.file else log_file()


def runtime_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isabs(base):
        return Path(base) / APP
    return Path(f"/tmp/{APP}-{os.getuid()}")


def pid_file() -> Path:
    return runtime_dir() / "aiclient.pid"


def control_socket() -> Path:
    return runtime_dir() / "ctl.sock"


class UnsafePath(Exception):
    """A path aiclient would trust belongs to someone else (or is a symbolic link)."""


_FIX = (
    "Another local user may have created it to intercept aiclient. Remove it (it is not "
    "yours: ask an administrator), or set XDG_RUNTIME_DIR to a private directory."
)


def check_owned(path: Path, *, directory: bool = False) -> os.stat_result:
    """lstat `path` and require it to be ours and no symbolic link (a directory when
    `directory`); raises FileNotFoundError when missing, UnsafePath when not ours."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePath(f"{path} is a symbolic link, which aiclient does not follow here. {_FIX}")
    if directory and not stat.S_ISDIR(info.st_mode):
        raise UnsafePath(f"{path} is not a directory. {_FIX}")
    if info.st_uid != os.getuid():
        raise UnsafePath(
            f"{path} belongs to uid {info.st_uid}, not to you (uid {os.getuid()}). {_FIX}"
        )
    return info


def check_private_dir(path: Path) -> None:
    """`path` is a directory of ours that nobody else can write to (UnsafePath otherwise)."""
    info = check_owned(path, directory=True)
    if info.st_mode & 0o022:
        raise UnsafePath(
            f"{path} is writable by other users (mode {info.st_mode & 0o777:o}); "
            f"run `chmod 700 {path}` or start aiclient, which fixes it"
        )


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) and make sure it is 0700; fix looser modes."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = path.stat().st_mode & 0o777
    if mode != 0o700:
        os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str, *, prefix: str = ".aiclient-") -> None:
    """Write `text` to `path` atomically and 0600 from the start: a temp file `prefix*.tmp`
    beside it, fsync, rename over `path`, then fsync of the directory (best effort).

    A failure leaves `path` as it was and no temp file behind. The directory must exist
    (`ensure_private_dir` for aiclient's own)."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename stands; this only makes it durable
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def ensure_runtime_dir() -> Path:
    """The runtime directory, created 0700 if missing; one that someone else owns (or a
    symbolic link in its place) is `UnsafePath`, and a loose mode on ours is fixed."""
    path = runtime_dir()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = check_owned(path, directory=True)
    if info.st_mode & 0o777 != 0o700:
        os.chmod(path, 0o700)
    return path
