"""The `aiclient` command line with the test harness's providers and routes added.

    python tests/aiclient_entry.py <profile> <aiclient arguments...>

(Its name contains "aiclient" because `aiclient stop` signals only a process whose command
line does, see daemon.pidfile.is_our_daemon.)

The profile names the extensions (see `PROFILES`). They reach the daemon as click's `obj`
(`Launch`), in this process for `start --foreground` and in the detached daemon that
`start`/`restart` run with the same command; the production daemon never imports test code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import audit_hooks
import daemon_hooks

from aiclient_trio.cli.lifecycle import Launch
from aiclient_trio.cli.main import main
from aiclient_trio.daemon.main import Extensions

PROFILES: dict[str, Callable[[], Extensions]] = {
    # A provider that is ready at once, and /test/slow + /test/stuck for the drain tests.
    "steady": lambda: Extensions(
        providers={"steady": daemon_hooks.SteadyProvider}, wrap_app=daemon_hooks.slow_route
    ),
    # The usage audit's scripted provider, which reads the daemon's gateway.
    "usage": lambda: Extensions(
        providers={"steady": audit_hooks.UsageProvider}, wrap_app=audit_hooks.remember_gateway
    ),
    # Only the real providers, as a user has them.
    "plain": Extensions,
}


def run(argv: list[str]) -> None:
    profile, *args = argv
    launch = Launch(command=(sys.executable, __file__, profile), extensions=PROFILES[profile]())
    main(args=args, prog_name="aiclient", obj=launch)


if __name__ == "__main__":
    run(sys.argv[1:])
