"""The Kiro refresh loop under the provider, and the `aiclient auth kiro` command."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio
import trio.testing
from click.testing import CliRunner
from kiro_helpers import kiro_config, write_token

from aiclient_trio.providers.base import ProviderState
from aiclient_trio.providers.kiro import KiroProvider
from aiclient_trio.providers.kiro.commands import auth_command
from aiclient_trio.providers.kiro.credentials import TokenStore, format_expires_at
from aiclient_trio.simulator.kiro import KiroSimulator, serve_kiro_simulator

IDE_CACHE = Path(__file__).parent / "data" / "kiro" / "credentials" / "ide"


async def test_refresh_loop_refreshes_ahead_of_expiry_with_backoff(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    # Not a zero threshold: the token file is written from a worker thread, and the clock
    # must not jump to the next hourly health check while that thread runs.
    mock_clock.autojump_threshold = 0.05
    sim: KiroSimulator = await nursery.start(serve_kiro_simulator)
    path = tmp_path / "token.json"
    write_token(path, sim.accounts.issue())
    TokenStore(path).save({"expiresAt": format_expires_at(time.time() + 120)})  # < 10 min left
    sim.accounts.refresh_failures = [500, 503]
    provider = KiroProvider(kiro_config(sim), token_path=path)
    outcomes: list[bool] = []
    refreshed = trio.Event()

    def listener(name: str, ok: bool) -> None:
        assert name == "kiro"
        assert provider.status.value.state == ProviderState.REFRESHING
        outcomes.append(ok)
        if ok:
            refreshed.set()

    provider.refresh_listeners.append(listener)
    start = trio.current_time()
    try:
        async with trio.open_nursery() as inner:
            await inner.start(provider.run)
            await refreshed.wait()
            inner.cancel_scope.cancel()
    finally:
        await provider.aclose()
    assert outcomes == [False, False, True]
    assert 1.5 <= trio.current_time() - start <= 4.5  # 1 s then 2 s, each with +-50 % jitter
    assert provider.status.value.state == ProviderState.READY
    expires = provider.auth.expires_at
    assert expires is not None and expires - time.time() > 3000


def test_auth_kiro_imports_the_ide_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("AICLIENT_CONFIG", str(tmp_path / "none.toml"))
    result = CliRunner().invoke(auth_command, ["--import-ide", str(IDE_CACHE)])
    assert result.exit_code == 0, result.output
    assert "signed in" in result.output and "aorEXAMPLE" not in result.output
    stored = TokenStore(tmp_path / "aiclient" / "kiro" / "token.json").load()
    assert stored is not None and stored["clientSecret"] == "EXAMPLEsecret"


def test_auth_kiro_reports_a_missing_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("AICLIENT_CONFIG", str(tmp_path / "none.toml"))
    result = CliRunner().invoke(auth_command, ["--import-cli", str(tmp_path / "nope.sqlite3")])
    assert result.exit_code != 0
    assert "cannot import Kiro credentials" in result.output
