"""`aiclient service`: unit and plist text, the manager calls made, refusals (fake systemctl)."""

from __future__ import annotations

import os
import plistlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import XdgHome

from aiclient_trio.cli import service
from aiclient_trio.cli.main import main


class FakeTools(service.Tools):
    """Records manager commands; answers like a reachable (or unreachable) manager."""

    def __init__(
        self,
        platform: str = "linux",
        have: Sequence[str] = ("systemctl",),
        reachable: bool = True,
        failing: Sequence[str] = (),
    ) -> None:
        self.platform = platform
        self.have = set(have)
        self.reachable = reachable
        self.failing = set(failing)
        self.calls: list[tuple[str, ...]] = []

    def which(self, name: str) -> str | None:
        return f"/usr/bin/{name}" if name in self.have else None

    def run(self, argv: Sequence[str]) -> tuple[int, str]:
        call = tuple(argv)
        self.calls.append(call)
        if not self.reachable:
            return 1, "Failed to connect to bus: No medium found"
        if any(word in call for word in self.failing):
            return 1, f"{call[-1]}: refused"
        if "is-enabled" in call:
            return 0, "enabled"
        if "is-active" in call:
            return 0, "active"
        return 0, ""


@pytest.fixture
def tools(xdg_home: XdgHome, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTools]:
    fake = FakeTools()
    monkeypatch.setattr(service, "TOOLS", fake)
    yield fake


def run(*args: str, code: int = 0) -> click.testing.Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, (args, result.output, result.stderr)
    return result


def unit_path(xdg: XdgHome) -> Path:
    return xdg.config / "systemd" / "user" / "aiclient.service"


def test_unit_text_runs_the_foreground_daemon_with_restart_on_failure() -> None:
    unit = service.systemd_unit(
        ["/opt/my env/bin/python", "-m", "aiclient_trio", "start", "--foreground"],
        {"XDG_CONFIG_HOME": "/home/a b/.config", "AICLIENT_CONFIG": "/cfg/100%.toml"},
        timeout=40.0,
    )
    lines = unit.splitlines()
    assert lines[1:3] == [
        "[Unit]",
        "Description=aiclient: local AI gateway for GitHub Copilot and Kiro",
    ]
    for expected in (
        'ExecStart="/opt/my env/bin/python" -m aiclient_trio start --foreground',
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "TimeoutStopSec=40",
        "Environment=AICLIENT_CONFIG=/cfg/100%%.toml",
        'Environment="XDG_CONFIG_HOME=/home/a b/.config"',
        "WantedBy=default.target",
    ):
        assert expected in lines, expected
    # systemd would otherwise expand `%` specifiers and `$` variables in our paths.
    assert "100%.toml" not in unit


def test_launchd_plist_keeps_alive_only_after_a_crash(tmp_path: Path) -> None:
    raw = service.launchd_plist(["/py", "-m", "aiclient_trio"], {"XDG_STATE_HOME": "/s"}, tmp_path)
    data = plistlib.loads(raw)
    assert data["Label"] == service.LAUNCHD_LABEL
    assert data["ProgramArguments"] == ["/py", "-m", "aiclient_trio"]
    assert data["KeepAlive"] == {"SuccessfulExit": False}
    assert data["RunAtLoad"] is True
    assert data["EnvironmentVariables"] == {"XDG_STATE_HOME": "/s"}


def test_install_status_uninstall_with_systemd(tools: FakeTools, xdg_home: XdgHome) -> None:
    assert "no aiclient systemd service installed" in run("service", "status").output
    tools.calls.clear()
    out = run("service", "install").output
    path = unit_path(xdg_home)
    text = path.read_text()
    assert f"wrote systemd service {path}" in out
    assert text in out, "prints exactly what it wrote"
    assert "ExecStart=" in text and " -m aiclient_trio start --foreground" in text
    assert f"Environment=XDG_CONFIG_HOME={xdg_home.config}" in text.splitlines()
    assert f"Environment=XDG_RUNTIME_DIR={xdg_home.runtime}" in text.splitlines()
    assert "journalctl --user -u aiclient -f" in out
    assert tools.calls == [
        ("systemctl", "--user", "show-environment"),
        ("systemctl", "--user", "daemon-reload"),
        ("systemctl", "--user", "enable", "--now", "aiclient.service"),
    ]

    status = run("service", "status").output
    assert f"systemd service {path}" in status
    assert "enabled  enabled" in status and "active   active" in status
    assert "differs" not in status

    tools.calls.clear()
    assert f"removed systemd service {path}" in run("service", "uninstall").output
    assert ("systemctl", "--user", "disable", "--now", "aiclient.service") in tools.calls
    assert tools.calls[-1] == ("systemctl", "--user", "daemon-reload")
    assert not (xdg_home.config / "systemd").exists()
    assert "no aiclient service is installed" in run("service", "uninstall").output


def test_install_no_start_only_enables(tools: FakeTools, xdg_home: XdgHome) -> None:
    out = run("service", "install", "--no-start").output
    assert tools.calls[-1] == ("systemctl", "--user", "enable", "aiclient.service")
    assert "enabled." in out


def test_unreachable_user_manager_writes_the_unit_and_says_how_to_enable(
    tools: FakeTools, xdg_home: XdgHome
) -> None:
    tools.reachable = False
    out = run("service", "install").output
    assert unit_path(xdg_home).exists()
    assert "not enabled" in out and "No medium found" in out
    assert "systemctl --user daemon-reload && systemctl --user enable --now aiclient.service" in out
    assert tools.calls == [("systemctl", "--user", "show-environment")]
    assert "manager  not reachable" in run("service", "status").output


def test_a_failing_enable_is_an_error_with_the_manual_command(tools: FakeTools) -> None:
    tools.failing = {"enable"}
    result = run("service", "install", code=1)
    assert "`systemctl --user enable --now aiclient.service` failed" in result.stderr
    assert "Enable it by hand: systemctl --user daemon-reload" in result.stderr


@pytest.mark.parametrize(
    ("platform", "have", "message"),
    [
        ("linux", (), "systemd was not found"),
        ("win32", ("systemctl",), "no supported service manager on win32"),
        ("darwin", (), "launchctl was not found"),
    ],
)
def test_refuses_cleanly_without_a_service_manager(
    tools: FakeTools, xdg_home: XdgHome, platform: str, have: Sequence[str], message: str
) -> None:
    tools.platform, tools.have = platform, set(have)
    for command in ("install", "status", "uninstall"):
        assert message in run("service", command, code=1).stderr
    assert tools.calls == []
    assert [p for p in xdg_home.root.rglob("*") if p.is_file()] == []


def test_launchd_agent_on_macos(tools: FakeTools, xdg_home: XdgHome) -> None:
    tools.platform, tools.have = "darwin", {"launchctl"}
    out = run("service", "install").output
    path = xdg_home.home / "Library" / "LaunchAgents" / f"{service.LAUNCHD_LABEL}.plist"
    data = plistlib.loads(path.read_bytes())
    assert data["ProgramArguments"][-3:] == ["aiclient_trio", "start", "--foreground"]
    assert f"wrote launchd service {path}" in out
    domain = f"gui/{os.getuid()}"
    assert tools.calls[-1] == ("launchctl", "bootstrap", domain, str(path))
    assert "active   loaded" in run("service", "status").output
    tools.calls.clear()
    run("service", "install")  # again, after an upgrade: unload, then load the new file
    assert tools.calls[1:] == [
        ("launchctl", "bootout", f"{domain}/{service.LAUNCHD_LABEL}"),
        ("launchctl", "bootstrap", domain, str(path)),
    ]
    run("service", "uninstall")
    assert tools.calls[-1] == ("launchctl", "bootout", f"{domain}/{service.LAUNCHD_LABEL}")
    assert not path.exists()
