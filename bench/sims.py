# Sign-in side of the benchmark: the GitHub/Copilot and Kiro simulators (token exchange, refresh)
# plus the daemon's home (config + credentials), so the daemon runs its real auth paths.
"""`python bench/sims.py HOME UPSTREAM_URL PORT` prepares HOME and prints "ready" when the daemon
can start with XDG_* pointing into HOME. Inference calls go to UPSTREAM_URL (bench/upstream.py);
only sign-in traffic reaches the simulators."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import tomli_w
import trio

# Not a real credential: the GitHub simulator accepts it, and only the benchmark sends it.
GITHUB_TOKEN = "gho_bench-simulated-not-a-real-token"


def xdg_env(home: Path) -> dict[str, str]:
    return {
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_RUNTIME_DIR": str(home / "run"),
    }


async def main(home: Path, upstream: str, port: int) -> None:
    os.environ.update(xdg_env(home))
    os.environ.pop("AICLIENT_CONFIG", None)
    from aiclient_trio.config import paths
    from aiclient_trio.config.types import CopilotConfig
    from aiclient_trio.providers.copilot.commands import import_github_token
    from aiclient_trio.providers.kiro.credentials import (
        TokenStore,
        default_token_path,
        format_expires_at,
    )
    from aiclient_trio.simulator.copilot import serve_copilot_simulators
    from aiclient_trio.simulator.copilot_kit import SimState
    from aiclient_trio.simulator.kiro import serve_kiro_simulator

    async with trio.open_nursery() as nursery:
        state = SimState(github_tokens={GITHUB_TOKEN}, login="bench-user")
        copilot = await nursery.start(serve_copilot_simulators, state)
        kiro = await nursery.start(serve_kiro_simulator)
        config = {
            "server": {"host": "127.0.0.1", "port": port, "drain_timeout": 1.0},
            "logging": {"level": os.environ.get("BENCH_LOG_LEVEL", "info")},
            # Experiment knobs (the default is the product's default config).
            "ledger": {"enabled": os.environ.get("BENCH_LEDGER", "1") != "0"},
            "providers": {
                "copilot": {
                    "github_url": copilot.github_url,
                    "github_api_url": copilot.github_url,
                    "api_url": upstream,
                },
                "kiro": {"api_url": upstream, "auth_url": kiro.base_url, "oidc_url": kiro.base_url},
            },
        }
        path = paths.config_file()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(tomli_w.dumps(config), encoding="utf-8")
        await import_github_token(
            CopilotConfig(github_url=copilot.github_url, github_api_url=copilot.github_url),
            GITHUB_TOKEN,
        )
        issued = kiro.accounts.issue("social")
        record = {
            "accessToken": issued["accessToken"],
            "refreshToken": issued["refreshToken"],
            "expiresAt": format_expires_at(time.time() + 3600),
            "authMethod": "social",
            "provider": "Github",
            "region": "us-east-1",
            "profileArn": issued["profileArn"],
        }
        TokenStore(default_token_path()).save(record, replace=True)
        print("ready", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    try:
        trio.run(main, Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
    except KeyboardInterrupt:
        sys.exit(0)
