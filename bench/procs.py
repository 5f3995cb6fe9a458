# Benchmark subprocesses: start with a readiness line on stdout, stop by pid; CPU and RSS of a
# process tree read from /proc (utime+stime, VmRSS), so every target is measured the same way.
"""Process helpers for the benchmark harness (Linux only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants (LiteLLM and node may fork workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                pass
    return found


def cpu_seconds(pid: int) -> float:
    total = 0
    for member in tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLK_TCK


def rss_bytes(pid: int) -> int:
    total = 0
    for member in tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


class Proc:
    """A started subprocess; `line` is the first stdout line it printed (its port or "ready")."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        log: Path,
        ready_line: bool = True,
        timeout: float = 60.0,
    ) -> None:
        self.name = name
        self.log_file: IO[bytes] = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            cmd,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            stdout=subprocess.PIPE if ready_line else self.log_file,
            stderr=self.log_file,
            start_new_session=True,
        )
        self.pid = self.popen.pid
        self.line = ""
        if ready_line:
            assert self.popen.stdout is not None
            deadline = time.monotonic() + timeout
            line = self.popen.stdout.readline().decode().strip()
            if not line or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not start (see {log})")
            self.line = line

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait()
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self.log_file.close()


def wait_http(
    url: str,
    timeout: float,
    ok: Callable[[bytes], bool] = lambda _: True,
    alive: Callable[[], bool] = lambda: True,
) -> bool:
    """Poll `url` until it answers 2xx (and `ok(body)`); False after `timeout` seconds or as
    soon as `alive()` says the server process has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if ok(response.read()):
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False
