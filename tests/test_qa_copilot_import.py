"""QA regression: `aiclient auth copilot --github-token BAD` explains what is wrong with the
token just given (not "the stored token ... run aiclient auth copilot", the command the user
just ran) and saves nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from copilot_helpers import copilot_config, start_simulators

from aiclient_trio.providers.copilot.auth import TokenRevoked, credential_path
from aiclient_trio.providers.copilot.commands import import_github_token


async def test_rejected_import_names_the_given_token_and_the_device_flow(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    sim = await start_simulators(nursery)
    config = copilot_config(sim).copilot
    with pytest.raises(TokenRevoked) as rejected:
        await import_github_token(config, "gho_not_known_here", tmp_path)
    message = rejected.value.message
    assert message.startswith("GitHub rejected this token (HTTP 401)")
    assert "stored" not in message
    assert "nothing was saved" in message
    assert "personal access tokens cannot get Copilot tokens" in message
    assert "gho_not_known_here" not in message
    assert not credential_path(tmp_path).exists()
    nursery.cancel_scope.cancel()
