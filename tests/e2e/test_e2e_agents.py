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


def exported(text: str) -> dict[str, str]:
    """The variables set by the `export K=V ...` lines of a pasted setup."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("export "):
            for word in shlex.split(line)[1:]:
                name, _, value = word.partition("=")
                env[name] = value
    return env


def base_env(home: Path) -> dict[str, str]:
    """A clean environment (nothing inherited from the caller's shell but PATH)."""
    binary = BIN / "claude"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `nox -s e2e` (it installs the CLIs)")
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": f"{BIN}:{os.environ['PATH']}", "HOME": str(home), "TERM": "dumb"}


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def claude(demo: DemoProcess, tmp_path: Path, model: str, prompt: str) -> str:
    setup = section(demo.banner, "Claude Code")
    env = {**base_env(tmp_path / "home"), **exported(setup), "ANTHROPIC_MODEL": model}
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    result = run(
        ["claude", "-p", prompt, "--output-format", "json", "--allowedTools", "Read"],
        env,
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout)
    assert answer["is_error"] is False, answer
    return str(answer["result"])


def codex(demo: DemoProcess, tmp_path: Path, model: str, prompt: str) -> str:
    setup = section(demo.banner, "Codex CLI")
    toml = setup[setup.index("model = ") : setup.index("# then")]
    toml = re.sub(r'^model = ".*"$', f'model = "{model}"', toml, count=1, flags=re.M)
    codex_home = tmp_path / "codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(toml)
    env = {**base_env(tmp_path / "home"), **exported(setup), "CODEX_HOME": str(codex_home)}
    result = run(["codex", "exec", "--skip-git-repo-check", prompt], env, tmp_path)
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
