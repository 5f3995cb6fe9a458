"""Kiro token file (mode, atomic write, merge) and imports from the Kiro IDE and kiro-cli."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from aiclient_trio.providers.kiro import credentials as creds
from aiclient_trio.providers.kiro.commands import credential_summary, revoke_credentials

DATA = Path(__file__).parent / "data" / "kiro" / "credentials"


def test_token_file_is_private_and_keeps_unknown_fields(tmp_path: Path) -> None:
    path = tmp_path / "aiclient" / "kiro" / "token.json"
    store = creds.TokenStore(path)
    store.save({"accessToken": "a1", "refreshToken": "r1", "ideOnlyField": [1, 2]})
    store.save({"accessToken": "a2", "profileArn": None})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert store.load() == {"accessToken": "a2", "refreshToken": "r1", "ideOnlyField": [1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["token.json"]  # no temp files left


def test_write_is_atomic_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = creds.TokenStore(tmp_path / "token.json")
    store.save({"accessToken": "old", "refreshToken": "r"})
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def replace(src: str, dst: Path) -> None:
        calls.append("replace")
        assert json.loads(Path(src).read_text())["accessToken"] == "new"
        assert json.loads(Path(dst).read_text())["accessToken"] == "old"
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    store.save({"accessToken": "new"})
    assert calls == ["fsync", "replace", "fsync"]  # file, rename, directory


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = creds.TokenStore(tmp_path / "token.json")
    store.save({"accessToken": "old", "refreshToken": "r"})

    def broken(src: str, dst: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        store.save({"accessToken": "new"})
    assert store.load() == {"accessToken": "old", "refreshToken": "r"}
    assert [p.name for p in tmp_path.iterdir()] == ["token.json"]


@pytest.mark.parametrize(
    ("value", "epoch"),
    [
        ("2025-06-01T12:00:00.123Z", 1748779200.123),
        ("2025-06-01T12:00:00.123456789+00:00", 1748779200.123456),
        ("2025-06-01T14:00:00+02:00", 1748779200.0),
        (1748779200, 1748779200.0),
        (1748779200000, 1748779200.0),
        ("yesterday", None),
        (None, None),
    ],
)
def test_expires_at_formats(value: object, epoch: float | None) -> None:
    parsed = creds.parse_expires_at(value)
    assert parsed == pytest.approx(epoch) if epoch is not None else parsed is None


def test_expires_at_round_trip() -> None:
    text = creds.format_expires_at(1748779200.5)
    assert text == "2025-06-01T12:00:00.500Z"
    assert creds.parse_expires_at(text) == 1748779200.5


def test_import_from_kiro_ide_cache_with_companion(tmp_path: Path) -> None:
    record = creds.import_ide_cache(DATA / "ide")
    assert record["authMethod"] == "IdC"
    assert record["refreshToken"] == "aorEXAMPLErefresh"
    assert (record["clientId"], record["clientSecret"]) == ("EXAMPLEclientid", "EXAMPLEsecret")
    assert record["region"] == "us-east-2"
    assert record["source"] == {
        "kind": "kiro-ide",
        "path": str(DATA / "ide" / "kiro-auth-token.json"),
    }
    assert creds.reread_source(record) == record


def test_import_social_ide_token(tmp_path: Path) -> None:
    (tmp_path / "kiro-auth-token.json").write_text(
        json.dumps(
            {
                "accessToken": "a",
                "refreshToken": "r",
                "expiresAt": "2025-06-01T12:00:00.000Z",
                "authMethod": "social",
                "provider": "Google",
                "profileArn": "arn:aws:codewhisperer:eu-central-1:1:profile/X",
            }
        )
    )
    record = creds.import_ide_cache(tmp_path)
    assert record["authMethod"] == "social" and "clientId" not in record
    assert record["profileArn"].split(":")[3] == "eu-central-1"


def _cli_db(path: Path, token_key: str) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE auth_kv (key TEXT PRIMARY KEY, value TEXT)")
    db.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT)")
    token = {
        "access_token": "aoaCLI",
        "refresh_token": "aorCLI",
        "expires_at": "2025-06-01T12:00:00.123456789Z",
        "region": "us-east-1",
        "scopes": ["codewhisperer:conversations"],
    }
    registration = {"client_id": "cid", "client_secret": "csecret", "region": "us-east-1"}
    db.execute("INSERT INTO auth_kv VALUES (?, ?)", (token_key, json.dumps(token)))
    db.execute(
        "INSERT INTO auth_kv VALUES (?, ?)",
        ("kirocli:odic:device-registration", json.dumps(registration)),
    )
    db.execute(
        "INSERT INTO state VALUES (?, ?)",
        (
            "api.codewhisperer.profile",
            json.dumps({"arn": "arn:aws:codewhisperer:us-east-1:1:profile/P"}),
        ),
    )
    db.commit()
    db.close()


def test_import_from_kiro_cli_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite3"
    _cli_db(path, "kirocli:odic:token")
    record = creds.import_cli_db(path)
    assert record["authMethod"] == "IdC"
    assert (record["accessToken"], record["refreshToken"]) == ("aoaCLI", "aorCLI")
    assert (record["clientId"], record["clientSecret"]) == ("cid", "csecret")
    assert record["profileArn"].endswith("profile/P")
    assert creds.parse_expires_at(record["expiresAt"]) == pytest.approx(1748779200.123456)
    assert creds.reread_source(record) == record


def test_import_social_token_from_kiro_cli(tmp_path: Path) -> None:
    path = tmp_path / "data.sqlite3"
    _cli_db(path, "kirocli:social:token")
    assert creds.import_cli_db(path)["authMethod"] == "social"


def test_import_errors_are_readable(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        creds.import_ide_cache(tmp_path)
    with pytest.raises(FileNotFoundError, match="kiro-cli"):
        creds.import_cli_db(tmp_path / "missing.sqlite3")
    assert (
        creds.reread_source({"source": {"kind": "kiro-ide", "path": str(tmp_path / "x")}}) is None
    )


def test_summary_and_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert credential_summary()["signed_in"] is False
    creds.TokenStore().save(
        {
            "accessToken": "secret-access",
            "refreshToken": "secret-refresh",
            "expiresAt": "2030-01-01T00:00:00.000Z",
            "provider": "Github",
            "profileArn": "arn:aws:codewhisperer:us-east-1:1:profile/ABC",
        }
    )
    summary = credential_summary()
    assert summary["signed_in"] is True
    assert summary["account"] == "Github (ABC)"
    assert summary["path"] == str(tmp_path / "aiclient" / "kiro" / "token.json")
    assert "secret" not in json.dumps(summary)
    assert revoke_credentials() is True
    assert revoke_credentials() is False
