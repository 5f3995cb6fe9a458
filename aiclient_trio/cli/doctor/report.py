"""The doctor's redacted report.

`aiclient doctor --report FILE`: one JSON bundle to attach to a bug report, every string in it
passed through the logs' redaction plus the literal secrets this machine holds.

Contents: the checklist, versions, the effective config (secrets masked), the daemon's
status, each provider's view, the last failed upstream exchange per provider (headers and
first bytes), the proxy/CA environment and the last log lines. `redact_tree()` runs every
string through `log.redact()` after masking the literal secrets found in the config and the
credential files (the API key, the GitHub token, Kiro's tokens and client secret), so even a
credential of a shape the patterns do not know never reaches the file.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from aiclient_trio import __version__
from aiclient_trio.cli.doctor.context import DoctorContext
from aiclient_trio.config.load import config_to_dict
from aiclient_trio.config.paths import log_path, write_private
from aiclient_trio.redact import MASK, redact

__all__ = ["LOG_LINES", "build_report", "literal_secrets", "redact_tree", "write_report"]

LOG_LINES = 200
_DEPENDENCIES = ("trio", "hypercorn", "httpx", "h11", "trio-util", "click", "tomli-w", "certifi")
_ENVIRONMENT = (
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
)
_SECRET_FIELDS = ("accessToken", "refreshToken", "clientSecret", "github_token", "apiKey")


def literal_secrets(ctx: DoctorContext) -> list[str]:
    """Secrets held on this machine, whatever their shape: masked wherever they appear."""
    found: list[str] = []
    if ctx.config is not None and ctx.config.api_key:
        found.append(ctx.config.api_key)
    from aiclient_trio.providers.copilot.auth import credential_path
    from aiclient_trio.providers.kiro.credentials import default_token_path

    for path in (credential_path(), default_token_path()):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            found += [str(data[k]) for k in _SECRET_FIELDS if isinstance(data.get(k), str)]
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def redact_tree(value: Any, secrets: list[str]) -> Any:

    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return redact(value)
    if isinstance(value, dict):
        return {str(k): redact_tree(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v, secrets) for v in value]
    return value


def _versions() -> dict[str, Any]:
    deps: dict[str, str | None] = {}
    for name in _DEPENDENCIES:
        try:
            deps[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            deps[name] = None
    return {
        "aiclient": __version__,
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "dependencies": deps,
    }


def _log_tail(ctx: DoctorContext) -> dict[str, Any]:
    from aiclient_trio.log import tail_lines

    if ctx.daemon is not None and ctx.daemon.get("log_file"):
        path = Path(str(ctx.daemon["log_file"]))
    else:
        path = log_path(ctx.effective_config)
    return {"path": str(path), "lines": tail_lines(path, LOG_LINES)}


def build_report(ctx: DoctorContext) -> dict[str, Any]:
    from aiclient_trio.cli.doctor.network import hide_password

    report = {
        "aiclient_doctor_report": 1,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "summary": ctx.checklist.summary(),
        "exit_code": ctx.checklist.exit_code(),
        "checklist": ctx.checklist.to_json(),
        "versions": _versions(),
        "config": config_to_dict(ctx.effective_config),
        "config_error": ctx.config_error,
        "environment": {
            name: hide_password(os.environ[name]) for name in _ENVIRONMENT if os.environ.get(name)
        },
        "daemon": ctx.daemon,
        "providers": ctx.providers,
        "last_failed_upstream_exchange": ctx.failures,
        "log": _log_tail(ctx),
    }
    return dict(redact_tree(report, literal_secrets(ctx)))


def write_report(ctx: DoctorContext, path: Path) -> Path:
    """Write the report as JSON (mode 0600, atomically); returns the path written."""
    text = json.dumps(build_report(ctx), indent=2, default=str) + "\n"
    path = path.expanduser()
    write_private(path, text, prefix=".aiclient-report.")
    return path
