"""Real Claude Code and Codex CLIs against a real `aiclient demo`, set up from its banner.

Marked `e2e` (left out of the default run): `nox -s e2e` installs both CLIs with npm into
e2e/.npm and runs this module. Set AICLIENT_E2E_BIN to use CLIs installed elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from e2e.demo_process import DemoProcess

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("AICLIENT_E2E_BIN") or REPO / "e2e" / ".npm" / "node_modules" / ".bin")
SECRET = "the secret word is pineapple"
RUN_TIMEOUT = 120


def section(banner: str, title: str) -> str:
    found = re.search(rf"^── {title} ─+\n(.*?)(?=^── |^Stop with)", banner, re.M | re.S)
    assert found, f"no {title} section in the banner:\n{banner}"
    return found.group(1)


def pasted(setup: str, command: list[str]) -> str:
    """The banner's setup as a user pastes it, with its example command replaced by ours."""
    lines = [line for line in setup.splitlines() if not line.startswith(("claude ", "codex "))]
    return "\n".join([*lines, shlex.join(command) + " < /dev/null", ""])


def run_pasted(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run `script` in bash with a clean environment (only PATH) and a fresh HOME."""
    if not (BIN / "claude").exists() or not (BIN / "codex").exists():
        pytest.fail(f"the CLIs are missing from {BIN}: run `nox -s e2e` (it installs them)")
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": f"{BIN}:{os.environ['PATH']}", "HOME": str(home), "TERM": "dumb"}
    return subprocess.run(
        ["bash", "-c", script],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def claude(demo: DemoProcess, tmp_path: Path, model: str, prompt: str) -> str:
    setup = section(demo.banner, "Claude Code")
    assert "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1" in setup
    setup = re.sub(
        r"^export ANTHROPIC_MODEL=.*$", f"export ANTHROPIC_MODEL={model}", setup, flags=re.M
    )
    command = ["claude", "-p", prompt, "--output-format", "json", "--allowedTools", "Read"]
    result = run_pasted(pasted(setup, command), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout)
    assert answer["is_error"] is False, answer
    return str(answer["result"])


def codex(demo: DemoProcess, tmp_path: Path, model: str, prompt: str) -> str:
    setup = section(demo.banner, "Codex CLI")
    assert 'wire_api = "responses"' in setup
    setup = re.sub(r'^model = ".*"$', f'model = "{model}"', setup, count=1, flags=re.M)
    command = ["codex", "exec", "--profile", "aiclient", "--skip-git-repo-check", prompt]
    result = run_pasted(pasted(setup, command), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def simulator(model: str) -> str:
    return "Kiro simulator" if model.startswith("kiro/") else "Copilot simulator"


@pytest.mark.parametrize("model", ["kiro/claude-sonnet-4.5", "copilot/claude-sonnet-4.5"])
def test_claude_code_plain_prompt(demo: DemoProcess, tmp_path: Path, model: str) -> None:
    answer = claude(demo, tmp_path, model, "say hi")
    assert answer == f"Hello from the {simulator(model)}! You said: say hi"


@pytest.mark.parametrize("model", ["kiro/claude-sonnet-4.5", "copilot/claude-sonnet-4.5"])
def test_claude_code_runs_read(demo: DemoProcess, tmp_path: Path, model: str) -> None:
    target = tmp_path / "a.txt"
    target.write_text(SECRET + "\n")
    call = json.dumps({"file_path": str(target)})
    answer = claude(demo, tmp_path, model, f"[[call Read {call}]]")
    assert answer.startswith(f"{simulator(model)} got the tool result:"), answer
    assert SECRET in answer, "Claude Code read the file and sent its content back"


@pytest.mark.parametrize("model", ["copilot/gpt-5-codex", "kiro/claude-sonnet-4.5"])
def test_codex_plain_prompt(demo: DemoProcess, tmp_path: Path, model: str) -> None:
    answer = codex(demo, tmp_path, model, "say hi")
    assert answer == f"Hello from the {simulator(model)}! You said: say hi"


@pytest.mark.parametrize("model", ["copilot/gpt-5-codex", "kiro/claude-sonnet-4.5"])
def test_codex_runs_exec_command(demo: DemoProcess, tmp_path: Path, model: str) -> None:
    (tmp_path / "a.txt").write_text(SECRET + "\n")
    answer = codex(demo, tmp_path, model, '[[call exec_command {"cmd":"cat a.txt"}]]')
    assert answer.startswith(f"{simulator(model)} got the tool result:"), answer
    assert SECRET in answer, "Codex ran the command and sent its output back"
