"""`aiclient doctor [--provider P] [--call] [--json] [--report FILE]`.

`aiclient doctor`: the command line of the doctor (aiclient_trio.cli.doctor does the checks).
Progress goes to stderr as each check finishes; the checklist (or --json) to stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from aiclient_trio.cli.completion import complete_providers
from aiclient_trio.cli.doctor.checklist import Check
from aiclient_trio.cli.doctor.context import DoctorOptions
from aiclient_trio.cli.doctor.run import run_doctor
from aiclient_trio.providers import registry

__all__ = ["doctor"]


@click.command("doctor")
@click.option(
    "--provider",
    type=click.Choice(list(registry.PROVIDER_NAMES)),
    shell_complete=complete_providers,
    help="Only this provider's checks (install, daemon and network still run).",
)
@click.option(
    "--call",
    is_flag=True,
    help="Also send one short streamed request per provider and client format through the "
    "running daemon (may spend a premium request or credits).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the checklist as JSON.")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write a redacted JSON report (checklist, versions, config, logs, last failed "
    "upstream exchanges) to attach to a bug report.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.5, 120),
    default=10.0,
    show_default=True,
    help="Seconds allowed for each network step.",
)
def doctor(
    provider: str | None, call: bool, as_json: bool, report: Path | None, timeout: float
) -> None:
    """Check the whole setup and say what is wrong and how to fix it.

    Checks the install (version, Python, dependencies, config, file modes), the daemon
    (running, listening, Host allow-list, API key, control socket, ledger, logs), each
    provider without spending quota (credential, token exchange or refresh, model list,
    quota, API version and region), and the network (proxy, CA bundle, DNS and TLS to each
    upstream host, clock skew). Works with the daemon stopped: it says what it skipped.

    Exit status: 0 all ok, 1 something failed, 2 warnings only.

    \b
    Examples:
      aiclient doctor
      aiclient doctor --provider kiro
      aiclient doctor --call                  # also one real request per format
      aiclient doctor --report aiclient-report.json
      aiclient doctor --json | jq '.checks[] | select(.status != "ok")'
    """

    def progress(check: Check) -> None:
        click.echo("  " + check.line(), err=True)

    def step(text: str) -> None:
        click.echo(f"Checking {text}", err=True)

    options = DoctorOptions(provider=provider, call=call, timeout=timeout)

    def note(text: str) -> None:
        click.echo(f"Note: {text}", err=True)

    ctx = run_doctor(options, on_check=progress, on_step=step, on_note=note)
    if report is not None:
        from aiclient_trio.cli.doctor.report import write_report

        try:
            written = write_report(ctx, report)
        except OSError as exc:
            raise click.ClickException(
                f"cannot write the report to {report}: {exc.strerror or exc} "
                "(choose a file in a directory you can write to)"
            ) from None
        click.echo(f"Report written to {written} (redacted; read it before you share it)", err=True)
    checklist = ctx.checklist
    if as_json:
        click.echo(
            json.dumps(
                {
                    "exit_code": checklist.exit_code(),
                    "summary": checklist.counts(),
                    "checks": checklist.to_json(),
                },
                indent=2,
            )
        )
    else:
        click.echo(checklist.render())
    sys.exit(checklist.exit_code())
