# py-spy sampling of the running daemon under load: collapsed stacks reduced to the functions
# with the largest inclusive and self share, so the results show where the time goes.
"""`profile_daemon(pid, target, seconds, logs)` -> {"inclusive": [...], "self": [...]}."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from load import Target, run_wrk

# Where a sample's leaf frame lives -> the component it is charged to (first match wins).
COMPONENTS = (
    ("aiclient_trio/ledger", "ledger (SQLite, worker thread)"),
    ("aiclient_trio/log", "logging (access log)"),
    ("logging/", "logging (access log)"),
    ("aiclient_trio/server", "aiclient server (api, relay, exchange)"),
    ("aiclient_trio/providers", "aiclient providers"),
    ("aiclient_trio/formats", "aiclient formats (parse/render)"),
    ("aiclient_trio/codecs", "aiclient codecs"),
    ("aiclient_trio", "aiclient other"),
    ("hypercorn/", "hypercorn"),
    ("h11/", "h11"),
    ("httpx/", "httpx"),
    ("httpcore/", "httpcore"),
    ("trio/_socket", "socket syscalls (trio)"),
    ("trio/_threads", "worker threads (trio)"),
    ("_thread_cache", "worker threads (trio)"),
    ("trio/", "trio scheduler/IO"),
    ("json/", "json"),
    ("sqlite3", "ledger (SQLite, worker thread)"),
)
_CHAIN = (
    "runpy",
    "click/",
    "aiclient_trio/__main__",
    "cli/lifecycle",
    "aiclient_trio/daemon/main.py",
)


def _component(frame: str) -> str:
    for needle, name in COMPONENTS:
        if needle in frame:
            return name
    return "other (stdlib, C)"


def _label(frame: str) -> str:
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit('/', 1)[-1].split(':')[0]})" if where else name


def summarise(raw: Path, top: int = 18) -> dict[str, Any]:
    """Inclusive and self shares of the busiest frames, and self time per component."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        parts[_component(frames[-1])] += count
        own[_label(frames[-1])] += count
        for label in {_label(f) for f in frames if not any(c in f for c in _CHAIN)}:
            if not label.startswith(("run (", "unrolled_run (")):
                inclusive[label] += count

    def pct(counter: Counter[str], n: int) -> list[dict[str, Any]]:
        return [
            {"frame": f, "percent": round(100 * c / total, 1)} for f, c in counter.most_common(n)
        ]

    return {
        "samples": total,
        "components": pct(parts, 30),
        "inclusive": pct(inclusive, top),
        "self": pct(own, top),
    }


def profile_daemon(pid: int, target: Target, seconds: float, logs: Path) -> dict[str, Any]:
    beside = Path(sys.executable).parent / "py-spy"
    spy_bin = shutil.which("py-spy") or (str(beside) if beside.exists() else None)
    if spy_bin is None:
        return {"error": "py-spy is not installed"}
    raw = logs / "daemon.pyspy.txt"
    spy = subprocess.Popen(
        [
            spy_bin,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-r",
            "250",
            "--nonblocking",
            "-f",
            "raw",
            "-o",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    load = threading.Thread(target=run_wrk, args=(target, 32, seconds + 1))
    load.start()
    _, err = spy.communicate(timeout=seconds + 60)
    load.join()
    if spy.returncode != 0 or not raw.exists():
        return {"error": f"py-spy failed: {err.decode(errors='replace')[-300:]}"}
    result = summarise(raw)
    result["load"] = f"{target.name}, 32 connections, {seconds:.0f} s, py-spy 250 Hz"
    return result
