# Load generation with wrk (one thread, fixed duration, Lua script for the POST body) and the
# target's CPU seconds from /proc around each run; results in microseconds and requests/second.
"""`run_wrk(target, connections, seconds)` -> one round's numbers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procs import cpu_seconds

_LUA = """
wrk.method = "POST"
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,'
    .. '"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


@dataclass
class Target:
    """One thing to load: a URL, a body, extra headers, and the pid whose CPU we charge."""

    name: str
    url: str
    body: dict[str, Any]
    pid: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def have_wrk() -> bool:
    """wrk on PATH; as root on Debian/Ubuntu, `apt-get install -y wrk` first if missing."""
    if shutil.which("wrk") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("[bench] wrk is missing: apt-get install -y wrk", flush=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "wrk"],
            capture_output=True,
            timeout=300,
            check=False,
        )
    return shutil.which("wrk") is not None


def run_wrk(target: Target, connections: int, seconds: float) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **target.headers}
    lines = "\n".join(
        f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()
    )
    script = _LUA.format(body=_lua_string(json.dumps(target.body)), headers=lines)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        path = Path(handle.name)
    try:
        cpu0 = cpu_seconds(target.pid) if target.pid else 0.0
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(path),
                target.url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
        cpu1 = cpu_seconds(target.pid) if target.pid else 0.0
    finally:
        path.unlink()
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            data: dict[str, Any] = json.loads(line[8:])
            break
    else:
        raise RuntimeError(f"wrk gave no result for {target.name}: {out.stderr.strip()[-300:]}")
    seconds_run = data["duration_us"] / 1e6
    ok = data["requests"] - data["non2xx"]
    data["rps"] = ok / seconds_run if seconds_run else 0.0
    data["cpu_ms_per_request"] = (cpu1 - cpu0) * 1000 / ok if target.pid and ok else None
    data["connections"] = connections
    return data
