"""Audit gap of the operations issue: with a daemon running, TAB completes model ids (and
aliases) for every --model option, through click's completion machinery."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import trio
from click.shell_completion import ShellComplete

from aiclient_trio.cli import main
from aiclient_trio.completion import COMPLETE_VAR
from aiclient_trio.demo import DemoOptions, run_demo


def complete(args: list[str], incomplete: str) -> list[str]:
    shell = ShellComplete(main, {}, "aiclient", COMPLETE_VAR)
    return [item.value for item in shell.get_completions(args, incomplete)]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    logger = logging.getLogger("aiclient")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    for handler in logger.handlers:
        if handler not in saved[0]:
            handler.close()
    logger.handlers[:], logger.propagate, logger.level = saved


@pytest.mark.usefixtures("xdg_home", "restore_logging")
async def test_model_ids_complete_from_the_running_daemon() -> None:
    options = DemoOptions(port=0, stderr_logging=False, echo=lambda text: None)
    async with trio.open_nursery() as nursery:
        run = await nursery.start(run_demo, options)
        kiro = await trio.to_thread.run_sync(complete, ["env", "codex", "--model"], "kiro/")
        everything = await trio.to_thread.run_sync(complete, ["env", "claude-code", "--model"], "")
        run.stop()
    assert kiro and all(name.startswith("kiro/") for name in kiro), kiro
    assert "kiro/claude-sonnet-4.5" in kiro
    assert {"copilot/gpt-5-codex", "copilot/claude-sonnet-4.5"} <= set(everything)
