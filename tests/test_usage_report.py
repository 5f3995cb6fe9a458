"""Formatting of `aiclient usage` tables and quota lines."""

from aiclient_trio.cli.usage_report import format_quota, format_usage


def test_usage_table_has_groups_totals_and_premium_counts() -> None:
    summary = {
        "group": "provider",
        "totals": {"requests": 3, "errors": 1, "input_tokens": 1500, "premium_requests": 2},
        "groups": [
            {"key": "copilot", "requests": 2, "input_tokens": 1000, "premium_requests": 2},
            {"key": "kiro", "requests": 1, "errors": 1, "input_tokens": 500},
        ],
        "premium_requests": {"today": 2, "this_month": 40},
        "quota": {"copilot": {"remaining": 120, "limit": 300, "unit": "premium requests"}},
    }
    text = format_usage(summary)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["provider", "requests", "errors"]
    assert lines[2].split()[:4] == ["copilot", "2", "0", "1,000"]
    assert lines[4].split()[:2] == ["total", "3"]
    assert "2 today, 40 this month" in text
    assert "copilot: 120 of 300 premium requests left" in text


def test_quota_lines() -> None:
    assert format_quota(None) == "quota unknown"
    assert format_quota({"unlimited": True}) == "unlimited"
    assert format_quota({"remaining": 5, "resets_at": "2026-12-01"}) == (
        "5 requests left, resets 2026-12-01"
    )
    assert format_quota({"error": "signed out"}) == "quota unavailable (signed out)"
