from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing
from copilot_helpers import copilot_config, start_simulators

from aiclient_trio.providers.copilot.auth import (
    DeviceFlowError,
    NoCopilotAccess,
    StoredCredential,
    TokenManager,
    TokenRevoked,
    credential_path,
    exchange_token,
    load_credential,
    request_device_code,
    run_device_flow,
    save_credential,
)
from aiclient_trio.providers.copilot.commands import (
    credential_summary,
    device_sign_in,
    import_github_token,
    revoke_credentials,
)


@pytest.fixture
def clock() -> trio.testing.MockClock:
    # Virtual time jumps only after a short real idle, so socket round trips to the
    # simulator finish before the clock moves to the next poll.
    return trio.testing.MockClock(autojump_threshold=0.02)


async def _poll(
    nursery: trio.Nursery, polls: list[dict[str, object]], expires_in: int = 900
) -> tuple[str | DeviceFlowError, float, list[str]]:
    sim = await start_simulators(nursery)
    sim.state.faults.device_polls = polls
    sim.state.faults.device_expires_in = expires_in
    config = copilot_config(sim).copilot
    progress: list[str] = []
    async with httpx.AsyncClient() as client:
        code = await request_device_code(client, config)
        assert (code.user_code, code.interval) == ("ABCD-1234", 5.0)
        start = trio.current_time()
        try:
            result: str | DeviceFlowError = await run_device_flow(
                client, config, code, on_progress=progress.append
            )
        except DeviceFlowError as exc:
            result = exc
    nursery.cancel_scope.cancel()
    return result, trio.current_time() - start, progress


async def test_device_flow_pending_slow_down_then_token(
    clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    polls = [
        {"error": "authorization_pending"},
        {"error": "slow_down", "interval": 10},
        {"access_token": "gho_test", "token_type": "bearer", "scope": "read:user"},
    ]
    token, elapsed, progress = await _poll(nursery, polls)
    assert token == "gho_test"
    # 5 s, 5 s, then the new 10 s interval.
    assert 20 <= elapsed < 21
    assert progress[0] == "waiting for authorisation"
    assert "10 s" in progress[1]


async def test_device_flow_slow_down_without_interval_adds_five(
    clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    polls = [{"error": "slow_down"}, {"access_token": "gho_test"}]
    token, elapsed, _ = await _poll(nursery, polls)
    assert token == "gho_test"
    assert 15 <= elapsed < 16


@pytest.mark.parametrize("error", ["expired_token", "access_denied", "device_flow_disabled"])
async def test_device_flow_terminal_errors_stop(
    clock: trio.testing.MockClock, nursery: trio.Nursery, error: str
) -> None:
    result, elapsed, _ = await _poll(
        nursery, [{"error": "authorization_pending"}, {"error": error}]
    )
    assert isinstance(result, DeviceFlowError)
    assert result.code == error
    assert 10 <= elapsed < 11


async def test_device_flow_stops_at_expires_in(
    clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    result, elapsed, progress = await _poll(
        nursery, [{"error": "authorization_pending"}], expires_in=30
    )
    assert isinstance(result, DeviceFlowError) and result.code == "expired_token"
    assert elapsed <= 30
    assert len(progress) == 6


async def test_device_sign_in_stores_a_checked_token(
    clock: trio.testing.MockClock, nursery: trio.Nursery, tmp_path: Path
) -> None:
    sim = await start_simulators(nursery)
    lines: list[str] = []
    credential = await device_sign_in(copilot_config(sim).copilot, tmp_path, echo=lines.append)
    assert credential.login == "octo-sim"
    assert "ABCD-1234" in lines[0]
    assert load_credential(tmp_path) == credential
    assert len(sim.state.recorded("github", "/copilot_internal/v2/token")) == 1
    nursery.cancel_scope.cancel()


async def test_github_token_import_is_checked_by_one_exchange(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    sim = await start_simulators(nursery)
    config = copilot_config(sim).copilot
    stored = await import_github_token(config, "gho_test", tmp_path)
    exchanges = sim.state.recorded("github", "/copilot_internal/v2/token")
    assert len(exchanges) == 1
    assert exchanges[0].headers["authorization"] == "token gho_test"
    assert exchanges[0].headers["editor-version"] == config.editor_version
    assert load_credential(tmp_path) == stored
    assert credential_summary(tmp_path)["signed_in"] is True
    assert credential_summary(tmp_path)["account"] == "octo-sim"

    with pytest.raises(TokenRevoked):
        await import_github_token(config, "gho_wrong", tmp_path / "other")
    assert not credential_path(tmp_path / "other").exists()
    assert revoke_credentials(tmp_path) is True
    assert revoke_credentials(tmp_path) is False
    nursery.cancel_scope.cancel()


def test_token_file_is_private_and_written_atomically(tmp_path: Path) -> None:
    directory = tmp_path / "aiclient" / "copilot"
    path = save_credential(StoredCredential("gho_one", login="a"), directory)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    before = path.stat().st_ino
    save_credential(StoredCredential("gho_two", login="b"), directory)
    # Replaced by rename (new inode), no temp file left behind, still 0600.
    assert path.stat().st_ino != before
    assert os.listdir(directory) == ["github_token.json"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_credential(directory)
    assert loaded is not None and loaded.github_token == "gho_two"
    assert "gho_two" not in repr(loaded)


async def test_exchange_errors_revoked_and_no_seat(nursery: trio.Nursery) -> None:
    sim = await start_simulators(nursery)
    config = copilot_config(sim).copilot
    sim.state.github_tokens |= {"gho_revoked", "gho_noseat"}
    sim.state.revoked.add("gho_revoked")
    sim.state.no_seat.add("gho_noseat")
    async with httpx.AsyncClient() as client:
        token = await exchange_token(client, config, "gho_test")
        assert token.api_url == sim.api_url, "endpoints.api becomes the CAPI base"
        assert token.refresh_in == 1500
        assert "tid=" not in repr(token)
        with pytest.raises(TokenRevoked) as revoked:
            await exchange_token(client, config, "gho_revoked")
        assert "aiclient auth copilot" in revoked.value.message
        with pytest.raises(NoCopilotAccess) as no_seat:
            await exchange_token(client, config, "gho_noseat")
        assert "no Copilot access" in no_seat.value.message
        assert no_seat.value.status == 403
        for exc in (revoked.value, no_seat.value):
            assert "gho_" not in exc.message
    nursery.cancel_scope.cancel()


async def test_refresh_is_single_flight(nursery: trio.Nursery) -> None:
    sim = await start_simulators(nursery)
    async with httpx.AsyncClient() as client:
        manager = TokenManager(client, copilot_config(sim).copilot, "gho_test")
        first = await manager.get()
        results = []

        async def refresh() -> None:
            results.append(await manager.refresh(first))

        async with trio.open_nursery() as inner:
            for _ in range(5):
                inner.start_soon(refresh)
        assert manager.exchanges == 2
        assert len({r.token for r in results}) == 1
        assert results[0].token != first.token
    nursery.cancel_scope.cancel()


async def test_auth_command_imports_a_token(nursery: trio.Nursery, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from aiclient_trio.providers.copilot.commands import auth_command

    sim = await start_simulators(nursery)
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "AICLIENT_CONFIG": str(tmp_path / "none.toml"),
        "AICLIENT_PROVIDERS_COPILOT_GITHUB_URL": sim.github_url,
        "AICLIENT_PROVIDERS_COPILOT_GITHUB_API_URL": sim.github_url,
    }
    runner = CliRunner()
    ok = await trio.to_thread.run_sync(
        lambda: runner.invoke(auth_command, ["--github-token", "gho_test"], env=env)
    )
    assert ok.exit_code == 0, ok.output
    assert "Signed in to GitHub Copilot as octo-sim" in ok.output
    stored = tmp_path / "config" / "aiclient" / "copilot" / "github_token.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    bad = await trio.to_thread.run_sync(
        lambda: runner.invoke(auth_command, ["--github-token", "gho_nope"], env=env)
    )
    assert bad.exit_code == 1
    assert "revoked or expired" in bad.output and "gho_nope" not in bad.output
    nursery.cancel_scope.cancel()


# `aiclient auth copilot --github-token BAD` explains what is wrong with the
# token just given (not "the stored token ... run aiclient auth copilot", the command the user
# just ran) and saves nothing.


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
