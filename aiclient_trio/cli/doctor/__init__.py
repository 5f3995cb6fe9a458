"""The doctor: the `doctor` click command (`command`) and `run_doctor(options, ...)`, which
runs every group of checks in order and returns the context holding the checklist
(`checklist.exit_code()`: 0 ok, 1 failures, 2 warnings).

`aiclient doctor`: checks a real setup end to end (install, daemon, providers, network and, on
request, real calls) and writes a redacted report to attach to a bug.

Groups: `install`, `daemon` (daemon_checks), one per provider (providers), `network`, and
`call` with `--call`. Each is a function over a `DoctorContext`; a group that cannot run
(no daemon, no credential) adds `skipped` checks saying why.
"""

from __future__ import annotations

from aiclient_trio.cli.doctor.checklist import Check, Checklist, Status
from aiclient_trio.cli.doctor.command import doctor
from aiclient_trio.cli.doctor.context import DoctorContext, DoctorOptions
from aiclient_trio.cli.doctor.run import run_doctor

__all__ = [
    "Check",
    "Checklist",
    "DoctorContext",
    "DoctorOptions",
    "Status",
    "doctor",
    "run_doctor",
]
