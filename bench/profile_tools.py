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


def _summarise(raw: Path, top: int = 18) -> dict[str, Any]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [
            f.split(" (")[0] + " (" + f.rsplit("/", 1)[-1] if " (" in f else f
            for f in stack.split(";")
        ]
        frames = [f.split(":")[0] + ")" if f.endswith(")") and ":" in f else f for f in frames]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count

    def pct(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"frame": f, "percent": round(100 * c / total, 1)} for f, c in counter.most_common(top)
        ]

    return {"samples": total, "inclusive": pct(inclusive), "self": pct(own)}


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
    result = _summarise(raw)
    result["load"] = f"{target.name}, 32 connections, {seconds:.0f} s, py-spy 250 Hz"
    return result
