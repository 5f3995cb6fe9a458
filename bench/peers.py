# The peer gateways, started only if installed in the bench environment: LiteLLM proxy (PyPI) and
# Portkey gateway (npm, run with node). Each forwards to the same fixed-response upstream.
"""`start_litellm` / `start_portkey` -> (Proc, load headers, path) or raise PeerUnavailable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from procs import Proc, free_port, wait_http

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work"
PORTKEY_JS = WORK / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"


# A fixed, local-only key: LiteLLM refuses to start without a master key.
LITELLM_KEY = "sk-aiclient-bench-" + "0" * 32


class PeerUnavailable(Exception):
    pass


def litellm_command() -> list[str] | None:
    explicit = os.environ.get("BENCH_LITELLM")
    candidates = [
        explicit,
        str(Path(sys.executable).parent / "litellm"),
        str(WORK / "peers" / "bin" / "litellm"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return [candidate]
    return None


def start_litellm(upstream: str, logs: Path) -> tuple[Proc, dict[str, str], str]:
    command = litellm_command()
    if command is None:
        raise PeerUnavailable("litellm[proxy] is not installed (set BENCH_LITELLM)")
    WORK.mkdir(parents=True, exist_ok=True)  # a fresh clone has no bench/.work yet
    config = WORK / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: gpt-4o\n"
        "    litellm_params:\n"
        "      model: openai/gpt-4o\n"
        f"      api_base: {upstream}\n"
        "      api_key: bench\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_KEY}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  drop_params: true\n"
    )
    port = free_port()
    env = {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",
        "DISABLE_ADMIN_UI": "True",
        "NO_DOCS": "True",
    }
    proc = Proc(
        "litellm",
        [*command, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log=logs / "litellm.log",
        ready_line=False,
    )
    if not wait_http(f"http://127.0.0.1:{port}/health/liveliness", 120, alive=proc.alive):
        proc.stop()
        raise PeerUnavailable(f"litellm did not start (see {logs / 'litellm.log'})")
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    return proc, {"Authorization": f"Bearer {LITELLM_KEY}"}, url


def ensure_portkey(logs: Path) -> None:
    if PORTKEY_JS.exists():
        return
    if shutil.which("npm") is None:
        raise PeerUnavailable("npm is not installed")
    WORK.mkdir(parents=True, exist_ok=True)
    with open(logs / "npm.log", "wb") as log:
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "@portkey-ai/gateway"],
            cwd=WORK,
            stdout=log,
            stderr=log,
            timeout=300,
            check=False,
        )
    if done.returncode != 0 or not PORTKEY_JS.exists():
        raise PeerUnavailable(f"npm install @portkey-ai/gateway failed (see {logs / 'npm.log'})")


def start_portkey(upstream: str, logs: Path) -> tuple[Proc, dict[str, str], str]:
    if shutil.which("node") is None:
        raise PeerUnavailable("node is not installed")
    ensure_portkey(logs)
    port = free_port()
    proc = Proc(
        "portkey",
        ["node", str(PORTKEY_JS), f"--port={port}"],
        log=logs / "portkey.log",
        ready_line=False,
    )
    if not wait_http(f"http://127.0.0.1:{port}/", 60, alive=proc.alive):
        proc.stop()
        raise PeerUnavailable(f"portkey did not start (see {logs / 'portkey.log'})")
    headers = {
        "Authorization": "Bearer bench",
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": upstream,
    }
    return proc, headers, f"http://127.0.0.1:{port}/v1/chat/completions"
