"""With a daemon running, TAB completes model ids for
--model options; a PID file left by a crash whose PID now belongs to another live process
(PIDs are reused after a reboot or under systemd) does not stop the next start."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio
from click.shell_completion import ShellComplete

from aiclient_trio.cli.completion import COMPLETE_VAR
from aiclient_trio.cli.demo import DemoOptions, run_demo
from aiclient_trio.cli.main import main
from aiclient_trio.daemon.pidfile import PidLock, running_pid


def complete(args: list[str], incomplete: str) -> list[str]:
    shell = ShellComplete(main, {}, "aiclient", COMPLETE_VAR)
    return [item.value for item in shell.get_completions(args, incomplete)]


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


def test_a_stale_pid_file_naming_a_live_process_does_not_block_a_start(tmp_path: Path) -> None:
    path = tmp_path / "run" / "aiclient.pid"
    path.parent.mkdir()
    live = os.getppid()  # certainly alive, and not an aiclient daemon
    path.write_text(f"{live}\n")
    assert running_pid(path) is None, "no lock holder: no daemon, whatever the PID"
    lock = PidLock(path)
    lock.acquire()
    try:
        assert lock.stale_pid == live
        assert path.read_text() == f"{os.getpid()}\n"
        assert running_pid(path) == os.getpid()
    finally:
        lock.release()
    assert not path.exists() and running_pid(path) is None
