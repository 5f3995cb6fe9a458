"""Run every group of checks in order, reporting each check and step as it goes."""

from __future__ import annotations

from collections.abc import Callable

from aiclient_trio.cli.doctor.checklist import Check, Checklist
from aiclient_trio.cli.doctor.context import DoctorContext, DoctorOptions

__all__ = ["run_doctor"]


def run_doctor(
    options: DoctorOptions,
    on_check: Callable[[Check], None] = lambda check: None,
    on_step: Callable[[str], None] = lambda text: None,
    on_note: Callable[[str], None] = lambda text: None,
) -> DoctorContext:
    from aiclient_trio.cli.doctor.calls import check_calls
    from aiclient_trio.cli.doctor.daemon_checks import check_daemon
    from aiclient_trio.cli.doctor.install import check_install
    from aiclient_trio.cli.doctor.network import check_network
    from aiclient_trio.cli.doctor.providers import check_providers

    ctx = DoctorContext(options=options, checklist=Checklist(on_check=on_check))
    on_step("install: version, Python, dependencies, config, paths, file modes")
    check_install(ctx)
    on_step("daemon: running, listening, Host allow-list, API key, control socket, ledger, logs")
    check_daemon(ctx)
    names = ", ".join(ctx.provider_names())
    where = "from the running daemon" if ctx.daemon else "running them here (no daemon)"
    on_step(f"providers ({names}): credential, sign-in, models, quota, endpoint, {where}")
    check_providers(ctx)
    on_step("network: proxy, CA bundle, DNS/connect/TLS to each upstream host, clock")
    check_network(ctx)
    if options.call:
        on_step("call: one streamed request per provider and client format")
        check_calls(ctx, on_note)
    return ctx
