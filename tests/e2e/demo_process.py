"""A real `aiclient demo` subprocess: start it, read its banner, stop it with a signal."""

from __future__ import annotations

import ctypes
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BANNER_END = "Stop with Ctrl-C."
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: SIGTERM the demo if the test process dies first (no orphaned demos)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


START_TIMEOUT = 30.0


@dataclass
class DemoProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path
    banner: str = ""
    url: str = ""
    home: Path = field(default_factory=Path)

    @classmethod
    def start(cls, work: Path, *extra_args: str) -> DemoProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AICLIENT_", "XDG_"))}
        env["HOME"] = str(work / "home")
        (work / "home").mkdir(parents=True, exist_ok=True)
        log_path = work / "demo.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "aiclient_trio", "demo", "--port", "0", *extra_args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=work,
                preexec_fn=_die_with_parent,
            )
        demo = cls(proc, log_path)
        try:
            demo._read_banner()
        except BaseException:
            demo.kill()
            raise
        return demo

    def _read_banner(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        data = b""
        deadline = time.monotonic() + START_TIMEOUT
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while BANNER_END.encode() not in data:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise AssertionError(f"no demo banner in {START_TIMEOUT}s:\n{self.logs()}")
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"demo exited early:\n{data.decode()}\n{self.logs()}")
                data += chunk
        self.banner = data.decode()
        found = re.search(r"^Gateway: (http://\S+)", self.banner, re.MULTILINE)
        home = re.search(r"^Home:\s+(\S+)", self.banner, re.MULTILINE)
        assert found and home, self.banner
        self.url, self.home = found.group(1), Path(home.group(1))

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, signum: int = signal.SIGINT, timeout: float = 20.0) -> int:
        """Send `signum` and wait; returns the exit code."""
        self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout)
        finally:
            self.kill()
        return code

    def kill(self) -> None:
        """Make sure the process is gone (SIGTERM first, so it can remove its home)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
