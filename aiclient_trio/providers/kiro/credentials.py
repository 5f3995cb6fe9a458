"""Kiro credential files: our token file, and importing from the Kiro IDE and kiro-cli.

Our file is `$XDG_CONFIG_HOME/aiclient/kiro/token.json` in the Kiro IDE's own camelCase
shape plus a `source` note (where it was imported from, re-read once on invalid_grant).
Writes are atomic (temp file, fsync, rename), mode 0600 in a 0700 directory, and merge into
the existing JSON so fields we do not know survive.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiclient_trio import untrusted
from aiclient_trio.config import paths

__all__ = [
    "CLI_DB_PATHS",
    "IDE_CACHE_DIR",
    "TokenStore",
    "default_token_path",
    "format_expires_at",
    "import_cli_db",
    "import_ide_cache",
    "parse_expires_at",
    "reread_source",
]

IDE_CACHE_DIR = Path.home() / ".aws" / "sso" / "cache"
IDE_TOKEN_FILE = "kiro-auth-token.json"
CLI_DB_PATHS = (
    Path.home() / ".local" / "share" / "kiro-cli" / "data.sqlite3",
    Path.home() / ".local" / "share" / "amazon-q" / "data.sqlite3",
)
_CLI_TOKEN_KEYS = (
    "kirocli:external-idp:token",
    "kirocli:social:token",
    "kirocli:odic:token",
    "codewhisperer:odic:token",
)
_CLI_REGISTRATION_KEYS = (
    "kirocli:odic:device-registration",
    "codewhisperer:odic:device-registration",
)
_FRACTION = re.compile(r"\.(\d+)")


def default_token_path() -> Path:
    return paths.credentials_dir("kiro") / "token.json"


def parse_expires_at(value: Any) -> float | None:
    """ISO-8601 (`…Z` with millis, or `+00:00` with 9 fractional digits) or epoch -> epoch."""
    if isinstance(value, int | float):
        return float(value) / (1000.0 if value > 1e11 else 1.0)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def format_expires_at(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class TokenStore:
    """The token file. Every method is blocking file I/O (small, local)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_token_path()

    def load(self) -> dict[str, Any] | None:
        try:
            data = untrusted.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def mtime(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None

    def save(self, updates: dict[str, Any], *, replace: bool = False) -> dict[str, Any]:
        """Merge `updates` into the file (or replace it) atomically; returns the new record."""
        record = {} if replace else (self.load() or {})
        record.update({k: v for k, v in updates.items() if v is not None})
        paths.ensure_private_dir(self.path.parent)
        paths.write_private(self.path, json.dumps(record, indent=2), prefix=".token-")
        return record

    def delete(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


def import_ide_cache(cache_dir: Path | None = None) -> dict[str, Any]:
    """The Kiro IDE's token file (+ the `clientIdHash` registration) as our record.

    Raises FileNotFoundError / ValueError with a readable message when unusable.
    """
    directory = cache_dir or IDE_CACHE_DIR
    path = directory / IDE_TOKEN_FILE
    data = untrusted.loads(path.read_text())
    if not isinstance(data, dict) or not data.get("refreshToken"):
        raise ValueError(f"{path} holds no refreshToken")
    record: dict[str, Any] = {
        key: data[key]
        for key in (
            "accessToken",
            "refreshToken",
            "expiresAt",
            "authMethod",
            "provider",
            "profileArn",
            "region",
            "startUrl",
            "clientIdHash",
            "tokenEndpoint",
            "issuerUrl",
            "clientId",
            "scopes",
        )
        if data.get(key) is not None
    }
    client_hash = data.get("clientIdHash")
    if isinstance(client_hash, str) and re.fullmatch(r"[0-9a-fA-F]{16,64}", client_hash):
        companion = directory / f"{client_hash}.json"
        if companion.exists():
            registration = untrusted.loads(companion.read_text())
            for key in ("clientId", "clientSecret"):
                if registration.get(key):
                    record[key] = registration[key]
            if registration.get("expiresAt"):
                record["registrationExpiresAt"] = registration["expiresAt"]
    if not record.get("authMethod"):
        record["authMethod"] = "IdC" if record.get("clientId") else "social"
    record["source"] = {"kind": "kiro-ide", "path": str(path)}
    return record


def _json_value(db: sqlite3.Connection, table: str, key: str) -> Any:
    try:
        row = db.execute(f"SELECT value FROM {table} WHERE key = ?", (key,)).fetchone()
    except sqlite3.Error:
        return None
    if row is None:
        return None
    try:
        return untrusted.loads(row[0])
    except (TypeError, ValueError):
        return None


def import_cli_db(db_path: Path | None = None) -> dict[str, Any]:
    """kiro-cli / Amazon Q CLI's SQLite store (table auth_kv) as our record."""
    path = db_path or next((p for p in CLI_DB_PATHS if p.exists()), CLI_DB_PATHS[0])
    if not path.exists():
        raise FileNotFoundError(f"no kiro-cli database at {path}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        token_key = next((k for k in _CLI_TOKEN_KEYS if _json_value(db, "auth_kv", k)), None)
        if token_key is None:
            raise ValueError(f"{path} holds no Kiro token")
        token = _json_value(db, "auth_kv", token_key)
        registration: dict[str, Any] = next(
            (r for k in _CLI_REGISTRATION_KEYS if (r := _json_value(db, "auth_kv", k))), {}
        )
        profile = _json_value(db, "state", "api.codewhisperer.profile") or {}
    finally:
        db.close()
    method = "social" if ":social:" in token_key else "IdC"
    if ":external-idp:" in token_key:
        method = "external_idp"
    record: dict[str, Any] = {
        "accessToken": token.get("access_token"),
        "refreshToken": token.get("refresh_token"),
        "expiresAt": token.get("expires_at"),
        "region": token.get("region"),
        "profileArn": token.get("profile_arn") or profile.get("arn"),
        "authMethod": method,
        "scopes": token.get("scopes"),
        "clientId": registration.get("client_id") or token.get("client_id"),
        "clientSecret": registration.get("client_secret") or token.get("client_secret"),
        "source": {"kind": "kiro-cli", "path": str(path)},
    }
    if not record["refreshToken"]:
        raise ValueError(f"{path} holds no refresh token")
    return {k: v for k, v in record.items() if v is not None}


def reread_source(record: dict[str, Any]) -> dict[str, Any] | None:
    """Import again from where `record` came from (None if it has no source or it fails)."""
    source = record.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("path"), str):
        return None
    path = Path(source["path"])
    try:
        if source.get("kind") == "kiro-ide":
            return import_ide_cache(path.parent)
        if source.get("kind") == "kiro-cli":
            return import_cli_db(path)
    except (OSError, ValueError, KeyError, sqlite3.Error):
        return None
    return None
