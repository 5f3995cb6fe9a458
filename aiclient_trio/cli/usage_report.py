"""Readable tables for `aiclient usage` and the quota lines of `aiclient status`.

Pure formatting of the ledger's summary dict (see `Ledger.summary`) and provider quota
dicts; the CLI prints what these return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_quota", "format_table", "format_usage"]


def _n(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value or 0):,}"


def _credits(value: Any) -> str:
    """Credits keep four decimals: one short call costs a fraction of a credit."""
    number = float(value or 0)
    return f"{number:,.4f}".rstrip("0").rstrip(".") if number else "0"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-align the first column, right-align the others."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(row) for row in rows)
    return "\n".join(out)


_COLUMNS = (
    ("requests", "requests"),
    ("errors", "errors"),
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache read", "cache_read_tokens"),
    ("cache write", "cache_write_tokens"),
    ("premium", "premium_requests"),
)


def format_usage(summary: Mapping[str, Any]) -> str:
    """The ledger summary as a table, with totals and premium requests today / this month."""
    group = str(summary.get("group", "model"))

    def row(key: str, values: Mapping[str, Any]) -> list[str]:
        cells = [_n(values.get(field)) for _, field in _COLUMNS]
        return [
            key,
            *cells,
            _credits(values.get("credits")),
            f"${float(values.get('usd') or 0):,.2f}",
        ]

    rows = [row(str(g["key"]), g) for g in summary.get("groups", ())]
    totals = summary.get("totals", {})
    rows.append(row("total", totals))
    titles = [group, *(title for title, _ in _COLUMNS), "credits", "usd"]
    text = format_table(titles, rows)
    premium = summary.get("premium_requests", {})
    text += (
        f"\n\nCopilot premium requests: {_n(premium.get('today'))} today, "
        f"{_n(premium.get('this_month'))} this month"
    )
    usd = float(totals.get("usd") or 0)
    text += f"\nCopilot AI credits: {_credits(round(usd * 100, 6))} (${usd:,.2f} at $0.01 a credit)"
    if totals.get("estimated_credits"):
        text += f", of which {_credits(totals['estimated_credits'])} estimated from token prices"
    if totals.get("estimated_rows"):
        text += f"\n{_n(totals['estimated_rows'])} request(s) carry estimated token counts"
    quotas = summary.get("quota") or {}
    for provider, quota in quotas.items():
        text += f"\n{provider}: {format_quota(quota)}"
    return text


def format_quota(quota: Mapping[str, Any] | None) -> str:
    """One line: what is left and when it resets, from a provider's `quota()` dict."""
    if not quota:
        return "quota unknown"
    if quota.get("error"):
        return f"quota unavailable ({quota['error']})"
    parts: list[str] = []
    remaining, limit = quota.get("remaining"), quota.get("limit")
    if quota.get("unlimited"):
        parts.append("unlimited")
    elif remaining is not None and limit is not None:
        parts.append(f"{_n(remaining)} of {_n(limit)} {quota.get('unit', 'requests')} left")
    elif remaining is not None:
        parts.append(f"{_n(remaining)} {quota.get('unit', 'requests')} left")
    elif quota.get("percent_remaining") is not None:
        parts.append(f"{_n(quota['percent_remaining'])}% left")
    if quota.get("has_quota") is False:
        parts.append("allowance spent")
    if quota.get("resets_at"):
        parts.append(f"resets {quota['resets_at']}")
    if quota.get("billing"):
        parts.append(f"billed in {quota['billing']}")
    return ", ".join(parts) or "quota unknown"
