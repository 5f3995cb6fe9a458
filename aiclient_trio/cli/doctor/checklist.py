"""Checks and the checklist they make.

The doctor's result: one line per check (ok / warning / failed / skipped), each problem with
the fix, printed as it goes and summed up at the end. Pure: no I/O but the progress callback.

A check is `Check(group, name, status, detail, fix)`. `Checklist.add()` keeps it and tells the
progress callback; `exit_code()` is 0 when nothing failed or warned, 1 on any failure, 2 on
warnings only (skipped checks count as neither: they say what could not be looked at).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Check", "Checklist", "Status"]


class Status(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    SKIPPED = "skipped"


_MARK = {
    Status.OK: "ok",
    Status.WARNING: "WARN",
    Status.FAILED: "FAIL",
    Status.SKIPPED: "skip",
}


@dataclass(frozen=True, slots=True)
class Check:
    group: str  # "install", "daemon", "network", "copilot", "kiro", "call"
    name: str
    status: Status
    detail: str = ""
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "name": self.name,
            "status": str(self.status),
            "detail": self.detail,
            "fix": self.fix,
        }

    def line(self) -> str:
        return f"[{_MARK[self.status]:>4}] {self.group:<8} {self.name}: {self.detail}".rstrip(": ")


@dataclass(slots=True)
class Checklist:
    on_check: Callable[[Check], None] = lambda check: None
    checks: list[Check] = field(default_factory=list)

    def add(
        self,
        group: str,
        name: str,
        status: Status,
        detail: str = "",
        fix: str | None = None,
    ) -> Check:
        check = Check(group, name, status, detail, fix)
        self.checks.append(check)
        self.on_check(check)
        return check

    def ok(self, group: str, name: str, detail: str = "") -> Check:
        return self.add(group, name, Status.OK, detail)

    def warn(self, group: str, name: str, detail: str, fix: str | None = None) -> Check:
        return self.add(group, name, Status.WARNING, detail, fix)

    def fail(self, group: str, name: str, detail: str, fix: str | None) -> Check:
        return self.add(group, name, Status.FAILED, detail, fix)

    def skip(self, group: str, name: str, why: str) -> Check:
        return self.add(group, name, Status.SKIPPED, why)

    def counts(self) -> dict[str, int]:
        counts = {str(s): 0 for s in Status}
        for check in self.checks:
            counts[str(check.status)] += 1
        return counts

    def exit_code(self) -> int:
        statuses = {c.status for c in self.checks}
        if Status.FAILED in statuses:
            return 1
        if Status.WARNING in statuses:
            return 2
        return 0

    def find(self, group: str, name: str | None = None) -> list[Check]:
        return [c for c in self.checks if c.group == group and name in (None, c.name)]

    def summary(self) -> str:
        counts = self.counts()
        parts = [f"{counts[str(s)]} {label}" for s, label in _SUMMARY if counts[str(s)]]
        return ", ".join(parts) or "no checks ran"

    def render(self) -> str:
        """The final checklist: problems first (each with its fix), then the rest."""
        order = {Status.FAILED: 0, Status.WARNING: 1, Status.SKIPPED: 2, Status.OK: 3}
        lines = ["", "Checklist:"]
        shown: list[Check] = []
        for check in sorted(self.checks, key=lambda c: order[c.status]):
            if check.status == Status.OK:  # details went by as progress (and are in --json)
                check = Check(check.group, check.name, check.status)
            last = shown[-1] if shown else None
            if (
                last is not None
                and check.status == last.status
                and check.status in (Status.SKIPPED, Status.OK)
                and (check.group, check.detail) == (last.group, last.detail)
            ):  # one line for a group's passed checks, or those skipped for one reason
                shown[-1] = Check(
                    last.group, f"{last.name}, {check.name}", last.status, last.detail
                )
            else:
                shown.append(check)
        for check in shown:
            lines.append("  " + check.line())
            if check.fix and check.status in (Status.FAILED, Status.WARNING):
                lines.append(f"         fix: {check.fix}")
        lines.append("")
        lines.append(f"Result: {self.summary()}")
        return "\n".join(lines)

    def to_json(self) -> list[dict[str, Any]]:
        return [c.to_json() for c in self.checks]


_SUMMARY = (
    (Status.FAILED, "failed"),
    (Status.WARNING, "warning(s)"),
    (Status.OK, "ok"),
    (Status.SKIPPED, "skipped"),
)
