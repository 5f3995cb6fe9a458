"""QA regression: `aiclient auth revoke NAME` with nothing stored says so instead of asking
to delete a file that does not exist; with a stored credential it still asks."""

from __future__ import annotations

import json

from click.testing import CliRunner
from conftest import XdgHome

from aiclient_trio.cli.main import main


def test_revoke_without_a_credential_asks_nothing(xdg_home: XdgHome) -> None:
    result = CliRunner().invoke(main, ["auth", "revoke", "kiro"], input="")
    assert result.exit_code == 0, result.output
    assert "kiro: no stored credentials at " in result.output
    assert "nothing to delete" in result.output
    assert "Delete the stored" not in result.output


def test_revoke_with_a_credential_still_asks(xdg_home: XdgHome) -> None:
    token = xdg_home.config / "aiclient" / "kiro" / "token.json"
    token.parent.mkdir(parents=True)
    token.write_text(json.dumps({"accessToken": "x", "refreshToken": "y", "authMethod": "social"}))
    declined = CliRunner().invoke(main, ["auth", "revoke", "kiro"], input="n\n")
    assert declined.exit_code == 1
    assert "Delete the stored kiro credentials?" in declined.output
    assert token.exists()
    done = CliRunner().invoke(main, ["auth", "revoke", "kiro", "--yes"])
    assert done.exit_code == 0, done.output
    assert f"kiro: deleted {token}" in done.output
    assert not token.exists()
