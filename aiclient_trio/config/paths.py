"""XDG locations of everything the daemon keeps on disk.

Config and credentials under $XDG_CONFIG_HOME/aiclient, the ledger and logs under
$XDG_STATE_HOME/aiclient, the PID file and control socket under $XDG_RUNTIME_DIR/aiclient
(fallback /tmp/aiclient-$UID). Directories are created 0700 on demand.
"""

from __future__ import annotations

import os
from pathlib import Path

from aiclient_trio.config.types import Config

__all__ = [
    "config_dir",
    "config_file",
    "control_socket",
    "credentials_dir",
    "ensure_private_dir",
    "log_file",
    "pid_file",
    "runtime_dir",
    "state_dir",
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


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) and make sure it is 0700; fix looser modes."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = path.stat().st_mode & 0o777
    if mode != 0o700:
        os.chmod(path, 0o700)
    return path
