"""The README's examples are checked against the real thing: every `aiclient ...` command in
its shell blocks parses with the real command line (the command exists, its options and
arguments are accepted), every TOML block is valid TOML whose keys the config accepts or that
matches what `aiclient env` prints, and the Codex provider block is the one the command prints.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest

from aiclient_trio.cli import client_env
from aiclient_trio.cli.main import main
from aiclient_trio.config.load import ConfigError, flatten, validate_flat

README = Path(__file__).resolve().parent.parent / "README.md"
SAMPLES = {"--level": "info"}  # a value for a synopsis placeholder, where "1" would not do
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _blocks(lang: str) -> list[str]:
    return [body for kind, body in FENCE.findall(README.read_text("utf-8")) if kind == lang]


def _commands() -> list[list[str]]:
    """Each `aiclient ...` invocation in the README's sh blocks, as argv (after `aiclient`)."""
    found = []
    for block in _blocks("sh") + _blocks("console"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.removeprefix("$ ").split(" #", 1)[0].strip()
            for part in re.split(r"\s+(?:&&|\|\||\|)\s+|;\s*", line):
                # Synopsis lines: "[--lines N]" is optional, "enable|disable" alternatives.
                part = part.replace("[", "").replace("]", "")
                words = [w.split("|")[0] for w in shlex.split(part, comments=True)]
                words = [  # placeholders: "--port P", "--level L"
                    SAMPLES.get(before, "1") if re.fullmatch(r"[A-Z]", w) else w
                    for before, w in zip(["", *words], words, strict=False)
                ]
                while words and re.match(r"^[A-Z_]+=", words[0]):
                    words = words[1:]  # VAR=value before the command
                if words and words[0] == "aiclient":
                    found.append(words[1:])
    return found


def _parse(argv: list[str]) -> None:
    """Resolve `argv` through the real command tree and parse it, running nothing."""
    command: click.Command = main
    ctx = main.make_context("aiclient", list(argv), resilient_parsing=False)
    while isinstance(command, click.Group):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]  # click 8.2+
        if not rest:
            return
        name, sub, args = command.resolve_command(ctx, rest)
        assert sub is not None, argv
        command = sub
        ctx = sub.make_context(name or "", args, parent=ctx)


def test_the_readme_shows_commands() -> None:
    assert len(_commands()) >= 10  # the extraction itself works


@pytest.mark.parametrize("argv", _commands(), ids=" ".join)
def test_every_readme_command_parses(argv: list[str]) -> None:
    try:
        _parse(argv)
    except click.exceptions.Exit:
        pass  # --help, --version
    except click.UsageError as exc:
        raise AssertionError(f"`aiclient {shlex.join(argv)}`: {exc.format_message()}") from None


def test_the_readme_codex_block_is_what_env_codex_prints() -> None:
    endpoint = client_env.Endpoint(
        base_url="http://127.0.0.1:9090", models=("copilot/gpt-5-codex",)
    )
    printed = tomllib.loads(client_env.codex_toml(endpoint, "copilot/gpt-5-codex"))
    shown = [tomllib.loads(b) for b in _blocks("toml") if "model_providers" in b]
    assert shown, "the README shows the Codex provider block"
    for block in shown:
        assert block["model_providers"] == printed["model_providers"]
    script = client_env.codex(endpoint, "copilot/gpt-5-codex")
    assert "aiclient.config.toml" in script and client_env.CODEX_KEY_ENV in script
    assert client_env.CODEX_KEY_ENV in README.read_text("utf-8")


def test_every_readme_config_block_is_accepted_by_the_config() -> None:
    checked = 0
    for block in _blocks("toml"):
        data: dict[str, Any] = tomllib.loads(block)
        if "model_providers" in data:
            continue  # Codex's file, checked above
        try:
            validate_flat([("README.md", flatten(data, "README.md"))])
        except ConfigError as exc:
            raise AssertionError(f"README config block refused: {exc}\n{block}") from None
        checked += 1
    assert checked >= 1
