"""`aiclient auth copilot --account-type/--enterprise-domain` is remembered with
the credential, and the provider uses that host and plan even when the config names none (a
GitHub token only works on the host that issued it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from click.testing import CliRunner
from copilot_helpers import copilot_config, start_simulators

from aiclient_trio.cli.main import main
from aiclient_trio.config.types import CopilotConfig
from aiclient_trio.providers.base import ProviderState
from aiclient_trio.providers.copilot.auth import StoredCredential, load_credential
from aiclient_trio.providers.copilot.provider import CopilotProvider, signed_in_config


def test_the_sign_in_names_host_and_plan_unless_the_config_does() -> None:
    credential = StoredCredential(
        github_token="gho_x", account_type="business", enterprise_domain="acme.ghe.com"
    )
    adopted = signed_in_config(CopilotConfig(), credential)
    assert (adopted.account_type, adopted.enterprise_domain) == ("business", "acme.ghe.com")
    named = CopilotConfig(account_type="enterprise", enterprise_domain="other.ghe.com")
    assert signed_in_config(named, credential) == named
    plain = CopilotConfig()
    assert signed_in_config(plain, StoredCredential(github_token="gho_x")) is plain


@pytest.mark.usefixtures("xdg_home")
async def test_enterprise_sign_in_from_the_cli_is_used_by_the_provider(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sim = await start_simulators(nursery)
    # The simulators stand in for github.com (an explicit URL is kept as is, domain or not).
    monkeypatch.setenv("AICLIENT_PROVIDERS_COPILOT_GITHUB_URL", sim.github_url)
    monkeypatch.setenv("AICLIENT_PROVIDERS_COPILOT_GITHUB_API_URL", sim.github_url)
    args = [
        "auth",
        "copilot",
        "--github-token",
        "gho_test",
        "--account-type",
        "business",
        "--enterprise-domain",
        "acme.ghe.com",
    ]
    result = await trio.to_thread.run_sync(lambda: CliRunner().invoke(main, args))
    assert result.exit_code == 0, result.output
    assert "Signed in to GitHub Copilot" in result.output
    credential = load_credential()
    assert credential is not None
    assert (credential.account_type, credential.enterprise_domain) == ("business", "acme.ghe.com")

    provider = CopilotProvider(copilot_config(sim))  # the config names neither
    try:
        await nursery.start(provider.run)
        assert provider.status.value.state == ProviderState.READY
        assert provider.tokens is not None
        used = provider.tokens.config
        assert (used.account_type, used.enterprise_domain) == ("business", "acme.ghe.com")
    finally:
        with trio.CancelScope(shield=True):
            await provider.aclose()
    nursery.cancel_scope.cancel()
