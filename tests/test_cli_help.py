"""Every command list reads as whole one-line summaries at 80 columns (no
phrase cut with "..."), and every command's --help carries examples."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from aiclient_trio.cli.main import main


def _paths(group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _paths(command, ctx, (*prefix, name))


with click.Context(main) as _ctx:
    COMMANDS = dict(_paths(main, _ctx))
GROUPS = [()] + [path for path, cmd in COMMANDS.items() if isinstance(cmd, click.Group)]


@pytest.mark.parametrize("group", GROUPS, ids=lambda p: " ".join(p) or "aiclient")
def test_command_lists_are_not_cut(group: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*group, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    listing = result.output.split("Commands:", 1)[1]
    cut = [line for line in listing.splitlines() if line.rstrip().endswith("...")]
    assert not cut, cut


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_every_command_help_has_examples(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, path
