"""Prometheus metrics: the text parses with the reference parser and counters move."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from aiclient_trio import ir
from aiclient_trio.metrics import GatewayMetrics
from aiclient_trio.record import RequestRecord


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    families = list(text_string_to_metric_families(text))
    # samples outside a declared family would show up as an untyped "..._total" family
    assert not [f.name for f in families if f.type == "unknown"]
    for family in families:
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _record(outcome: str = "ok", usage: ir.Usage | None = None) -> RequestRecord:
    return RequestRecord(
        request_id="r",
        endpoint="/v1/messages",
        method="POST",
        http_status=200 if outcome == "ok" else 502,
        outcome=outcome,  # type: ignore[arg-type]
        started_at=time.time(),
        duration=0.3,
        provider="kiro",
        client_model='kiro/claude "quoted"',
        upstream_model="claude-sonnet-4.5",
        usage=usage,
        time_to_first_byte=0.02,
        error_kind="overloaded" if outcome != "ok" else None,
    )


def test_metrics_parse_and_move() -> None:
    active = [2]
    metrics = GatewayMetrics(
        active_streams=lambda: active[0], provider_ready=lambda: {"kiro": True, "copilot": False}
    )
    before = _samples(metrics.render())
    assert before[("aiclient_active_streams", ())] == 2
    assert before[("aiclient_provider_ready", (("provider", "copilot"),))] == 0

    metrics.observe(_record(usage=ir.Usage(input_tokens=10, output_tokens=5)))
    metrics.observe(_record(usage=ir.Usage(input_tokens=1, output_tokens=1)))
    metrics.observe(_record(outcome="upstream_error"))
    metrics.refresh_result("kiro", ok=True)
    metrics.refresh_result("kiro", ok=False)
    active[0] = 0
    after = _samples(metrics.render())

    ok_key = (
        "aiclient_requests_total",
        (
            ("code", "200"),
            ("endpoint", "/v1/messages"),
            ("model", "claude-sonnet-4.5"),
            ("provider", "kiro"),
            ("status", "ok"),
        ),
    )
    assert after[ok_key] == 2
    tokens = {k[1]: v for k, v in after.items() if k[0] == "aiclient_tokens_total"}
    assert tokens[(("kind", "input"), ("model", "claude-sonnet-4.5"), ("provider", "kiro"))] == 11
    assert (
        after[("aiclient_upstream_errors_total", (("kind", "overloaded"), ("provider", "kiro")))]
        == 1
    )
    assert after[("aiclient_request_duration_seconds_count", (("endpoint", "/v1/messages"),))] == 3
    bucket = (
        "aiclient_request_duration_seconds_bucket",
        (("endpoint", "/v1/messages"), ("le", "0.25")),
    )
    assert after[bucket] == 0
    bucket_half = (
        "aiclient_request_duration_seconds_bucket",
        (("endpoint", "/v1/messages"), ("le", "0.5")),
    )
    assert after[bucket_half] == 3
    refreshes = {k[1]: v for k, v in after.items() if k[0] == "aiclient_credential_refreshes_total"}
    assert refreshes[(("provider", "kiro"), ("result", "failure"))] == 1
    assert after[("aiclient_active_streams", ())] == 0
