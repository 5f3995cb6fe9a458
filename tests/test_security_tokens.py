"""Token files under stress: concurrent writers never leave a corrupt or readable-by-others
file, and a process killed (SIGKILL) in the middle of a write leaves the previous token."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from aiclient_trio.providers.copilot.auth import (
    StoredCredential,
    credential_path,
    load_credential,
    save_credential,
)
from aiclient_trio.providers.kiro.credentials import TokenStore

WRITERS = 6
WRITES = 40
PAD = "x" * 20_000  # big enough that a write is not one syscall


def _kiro_record(writer: int, n: int) -> dict[str, Any]:
    return {"accessToken": f"aoa-{writer}-{n}", "refreshToken": f"aor-{writer}-{n}", "pad": PAD}


def _check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def _hammer(write: Callable[[int, int], None], read: Callable[[], None]) -> None:
    """WRITERS threads writing while one thread keeps reading and checking."""
    done = threading.Event()
    failures: list[BaseException] = []

    def reader() -> None:
        try:
            while not done.is_set():
                read()
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    def writer(i: int) -> None:
        try:
            for n in range(WRITES):
                write(i, n)
        except BaseException as exc:
            failures.append(exc)

    watcher = threading.Thread(target=reader)
    watcher.start()
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    watcher.join()
    assert not failures, failures


def test_concurrent_kiro_token_writes_never_corrupt(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "kiro" / "token.json")
    store.save(_kiro_record(9, 9), replace=True)

    def read() -> None:
        record = json.loads(store.path.read_text())  # raises on a torn file
        writer, n = map(int, record["accessToken"].split("-")[1:])
        assert record["refreshToken"] == f"aor-{writer}-{n}" and record["pad"] == PAD
        _check_private(store.path)

    _hammer(lambda i, n: store.save(_kiro_record(i, n), replace=True), read)
    read()
    assert [p.name for p in store.path.parent.iterdir()] == ["token.json"]  # no temp files


def test_concurrent_copilot_credential_writes_never_corrupt(tmp_path: Path) -> None:
    directory = tmp_path / "copilot"

    def write(i: int, n: int) -> None:
        save_credential(StoredCredential(f"gho_{i}_{n}_{PAD}", login=f"u{i}"), directory)

    def read() -> None:
        credential = load_credential(directory)
        assert credential is not None  # a torn file would read as None
        assert credential.github_token.endswith(PAD)
        assert credential.login == "u" + credential.github_token.split("_")[1]
        _check_private(credential_path(directory))

    write(9, 9)
    _hammer(write, read)
    read()
    assert len(list(directory.iterdir())) == 1


async def test_concurrent_refreshes_in_trio_threads(tmp_path: Path) -> None:
    """The way the daemon writes (worker threads from Trio), many at once."""
    store = TokenStore(tmp_path / "kiro" / "token.json")
    async with trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(trio.to_thread.run_sync, store.save, _kiro_record(i, 0))
    record = store.load()
    assert record is not None and record["pad"] == PAD
    _check_private(store.path)


_WRITER_SCRIPT = """
import sys
from pathlib import Path
from aiclient_trio.providers.kiro.credentials import TokenStore
store = TokenStore(Path(sys.argv[1]))
pad = "y" * 2_000_000
n = 0
while True:
    print(n, flush=True)  # token n-1 is on disk; token n is being written
    n += 1
    store.save({"accessToken": f"aoa-{n}", "refreshToken": f"aor-{n}", "pad": pad}, replace=True)
"""


def test_sigkill_during_a_token_write_leaves_the_previous_token(tmp_path: Path) -> None:
    path = tmp_path / "kiro" / "token.json"
    TokenStore(path).save({"accessToken": "aoa-0", "refreshToken": "aor-0"}, replace=True)
    for round_ in range(4):
        for old in _temp_files(path.parent):  # left by the previous round's kill
            old.unlink()
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITER_SCRIPT, str(path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        for _ in range(2 + round_):  # a few whole writes first, a few more each round
            line = writer.stdout.readline()
        committed = int(line)
        # Kill while a temp file exists: in the middle of writing the next token.
        while not _temp_files(path.parent):
            assert writer.poll() is None, "the writer died on its own"
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        record = json.loads(path.read_text())
        n = int(record["accessToken"].split("-")[1])
        assert record["refreshToken"] == f"aor-{n}"  # a whole token, never half of two
        assert n >= committed  # never an older token than one known to be on disk
        _check_private(path)
        for leftover in _temp_files(path.parent):  # the killed write's temp file
            assert stat.S_IMODE(leftover.stat().st_mode) & 0o077 == 0


def _temp_files(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.startswith(".token-")]
