"""QA regression: the simulated Copilot quota resets on the first day of next month, so the
demo never shows a reset date in the past."""

from __future__ import annotations

from datetime import date

from aiclient_trio.simulator.github import next_reset_date


def test_next_reset_date() -> None:
    assert next_reset_date(date(2026, 11, 27)) == "2026-12-01"
    assert next_reset_date(date(2026, 12, 31)) == "2027-01-01"
    assert next_reset_date(date(2026, 1, 1)) == "2026-02-01"
    assert next_reset_date() > date.today().isoformat()
