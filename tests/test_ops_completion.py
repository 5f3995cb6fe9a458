"""`aiclient completion`: scripts for bash, zsh and fish, and what TAB offers."""

from __future__ import annotations

import subprocess

import pytest
from click.shell_completion import ShellComplete
from click.testing import CliRunner
from conftest import XdgHome

from aiclient_trio.cli.completion import COMPLETE_VAR
from aiclient_trio.cli.main import main


def complete(args: list[str], incomplete: str) -> list[str]:
    return [
        i.value
        for i in ShellComplete(main, {}, "aiclient", COMPLETE_VAR).get_completions(args, incomplete)
    ]


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _aiclient_completion aiclient"),
        ("zsh", "compdef _aiclient_completion aiclient"),
        ("fish", "complete --no-files --command aiclient"),
    ],
)
def test_scripts_for_each_shell(shell: str, marker: str) -> None:
    result = CliRunner().invoke(main, ["completion", shell])
    assert result.exit_code == 0, result.output
    assert marker in result.output
    assert f"{COMPLETE_VAR}={shell}_complete" in result.output


def test_unknown_shell_is_refused() -> None:
    result = CliRunner().invoke(main, ["completion", "tcsh"])
    assert result.exit_code == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.stderr


def test_bash_loads_the_script() -> None:
    script = CliRunner().invoke(main, ["completion", "bash"]).output
    done = subprocess.run(
        ["bash", "--norc", "-c", script + "\ncomplete -p aiclient"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "_aiclient_completion" in done.stdout


@pytest.mark.usefixtures("xdg_home")
def test_commands_options_and_provider_names() -> None:
    top = complete([], "")
    for name in ("auth", "completion", "models", "service", "uninstall", "version", "start"):
        assert name in top
    assert complete(["service"], "") == ["install", "status", "uninstall"]
    assert complete(["auth", "revoke"], "") == ["copilot", "kiro"]
    assert complete(["models", "--provider"], "k") == ["kiro"]
    assert complete(["provider", "disable"], "") == ["copilot", "kiro"]
    assert "--keep-config" in complete(["uninstall"], "--")


def test_model_ids_without_a_daemon_complete_to_nothing(xdg_home: XdgHome) -> None:
    assert complete(["env", "codex", "--model"], "") == []


def test_the_completion_protocol_through_the_command(xdg_home: XdgHome) -> None:
    result = CliRunner().invoke(
        main,
        [],
        prog_name="aiclient",
        env={COMPLETE_VAR: "bash_complete", "COMP_WORDS": "aiclient auth rev", "COMP_CWORD": "2"},
    )
    assert result.exit_code == 0
    assert result.output.split() == ["plain,revoke"]
