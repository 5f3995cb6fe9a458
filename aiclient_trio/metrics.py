"""Prometheus metrics: a small in-process registry and the text exposition format.

Our own writer rather than prometheus-client: we need a handful of counters, gauges and
histograms updated from one Trio thread, and the client library's global registry, locks and
multiprocess machinery would cost more on the hot path than the ~150 lines here.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiclient_trio.record import RequestRecord

__all__ = ["Counter", "GatewayMetrics", "Gauge", "Histogram", "Registry"]

Labels = tuple[tuple[str, str], ...]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = labels + extra
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in items) + "}"


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


@dataclass
class _Metric:
    name: str
    help: str
    kind: str

    def samples(self) -> Iterable[str]:  # pragma: no cover - overridden
        return ()

    def render(self) -> str:
        # In the text format a counter's family is named like its `_total` samples.
        name = f"{self.name}_total" if self.kind == "counter" else self.name
        head = f"# HELP {name} {self.help}\n# TYPE {name} {self.kind}\n"
        return head + "".join(line + "\n" for line in self.samples())


@dataclass
class Counter(_Metric):
    kind: str = "counter"
    values: dict[Labels, float] = field(default_factory=dict)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount

    def samples(self) -> Iterable[str]:
        for key, value in sorted(self.values.items()):
            yield f"{self.name}_total{_labels(key)} {_number(value)}"


@dataclass
class Gauge(_Metric):
    kind: str = "gauge"
    # A gauge is read when rendered, so it never goes stale.
    read: Callable[[], dict[Labels, float]] = dict

    def samples(self) -> Iterable[str]:
        for key, value in sorted(self.read().items()):
            yield f"{self.name}{_labels(key)} {_number(value)}"


@dataclass
class Histogram(_Metric):
    kind: str = "histogram"
    buckets: tuple[float, ...] = _LATENCY_BUCKETS
    counts: dict[Labels, list[int]] = field(default_factory=dict)
    sums: dict[Labels, float] = field(default_factory=dict)

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        counts = self.counts.get(key)
        if counts is None:
            counts = self.counts[key] = [0] * (len(self.buckets) + 1)
            self.sums[key] = 0.0
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sums[key] += value

    def samples(self) -> Iterable[str]:
        for key, counts in sorted(self.counts.items()):
            running = 0
            for bound, count in zip((*self.buckets, float("inf")), counts, strict=True):
                running += count
                yield f"{self.name}_bucket{_labels(key, (('le', _number(bound)),))} {running}"
            yield f"{self.name}_sum{_labels(key)} {_number(self.sums[key])}"
            yield f"{self.name}_count{_labels(key)} {running}"


class Registry:
    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def counter(self, name: str, help: str) -> Counter:
        metric = Counter(name, help)
        self.metrics.append(metric)
        return metric

    def gauge(self, name: str, help: str, read: Callable[[], dict[Labels, float]]) -> Gauge:
        metric = Gauge(name, help, read=read)
        self.metrics.append(metric)
        return metric

    def histogram(self, name: str, help: str) -> Histogram:
        metric = Histogram(name, help)
        self.metrics.append(metric)
        return metric

    def render(self) -> str:
        return "".join(metric.render() for metric in self.metrics)


def _quota_samples(
    read: Callable[[], dict[str, dict[str, Any] | None]], key: str
) -> dict[Labels, float]:
    samples: dict[Labels, float] = {}
    for name, quota in read().items():
        value = (quota or {}).get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            unit = str((quota or {}).get("unit") or "requests")
            samples[(("provider", name), ("unit", unit))] = float(value)
    return samples


class GatewayMetrics:
    """The gateway's metrics. `observe` is a `Gateway` observer; providers report refreshes."""

    CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(
        self,
        *,
        active_streams: Callable[[], int] = lambda: 0,
        provider_ready: Callable[[], dict[str, bool]] = dict,
        provider_quota: Callable[[], dict[str, dict[str, Any] | None]] = dict,
        circuits: Callable[[], dict[str, str]] = dict,
    ) -> None:
        self.registry = r = Registry()
        self.requests = r.counter(
            "aiclient_requests", "API requests by endpoint, provider, model and outcome."
        )
        self.latency = r.histogram(
            "aiclient_request_duration_seconds", "Total request duration by endpoint."
        )
        self.ttfb = r.histogram(
            "aiclient_time_to_first_byte_seconds", "Time to the first byte sent to the client."
        )
        self.tokens = r.counter("aiclient_tokens", "Tokens by provider, model and kind.")
        self.credits = r.counter(
            "aiclient_credits",
            "Credits by provider, model and source (reported or estimated); a Copilot AI "
            "credit is $0.01, Kiro counts its own credits.",
        )
        self.upstream_errors = r.counter(
            "aiclient_upstream_errors", "Failed requests by provider and error kind."
        )
        self.refreshes = r.counter(
            "aiclient_credential_refreshes", "Credential refreshes by provider and result."
        )
        r.gauge(
            "aiclient_active_streams",
            "Responses being streamed right now.",
            lambda: {(): float(active_streams())},
        )
        r.gauge(
            "aiclient_provider_ready",
            "1 when the provider can serve requests.",
            lambda: {(("provider", name),): float(ok) for name, ok in provider_ready().items()},
        )
        for key, what in (("remaining", "left"), ("limit", "in the period")):
            r.gauge(
                f"aiclient_quota_{key}",
                f"The upstream quota {what}, as the provider last read it (Kiro: credits).",
                partial(_quota_samples, provider_quota, key),
            )
        r.gauge(
            "aiclient_circuit_open",
            "1 while the circuit of a provider's model is open or probing (calls fail fast).",
            lambda: {
                (("model", target.partition("/")[2]), ("provider", target.partition("/")[0])): (
                    0.0 if state == "closed" else 1.0
                )
                for target, state in circuits().items()
            },
        )

    def observe(self, rec: RequestRecord) -> None:
        provider = rec.provider or "none"
        # Labels come from a bounded set: a model the provider's catalog resolved, else one
        # label for every name a client made up (each would otherwise be a series forever).
        model = rec.upstream_model or ("other" if rec.client_model else "none")
        self.requests.inc(
            endpoint=rec.endpoint,
            provider=provider,
            model=model,
            status=rec.outcome,
            code=str(rec.http_status),
        )
        self.latency.observe(rec.duration, endpoint=rec.endpoint)
        if rec.time_to_first_byte is not None:
            self.ttfb.observe(rec.time_to_first_byte, endpoint=rec.endpoint)
        if rec.usage is not None:
            for kind, value in (
                ("input", rec.usage.input_tokens),
                ("output", rec.usage.output_tokens),
                ("cache_read", rec.usage.cache_read_input_tokens),
                ("cache_write", rec.usage.cache_creation_input_tokens),
            ):
                if value:
                    self.tokens.inc(value, provider=provider, model=model, kind=kind)
        if rec.credits:
            source = "estimated" if rec.credits_estimated else "reported"
            self.credits.inc(rec.credits, provider=provider, model=model, source=source)
        if rec.outcome == "upstream_error":
            self.upstream_errors.inc(provider=provider, kind=rec.error_kind or "unknown")

    def refresh_result(self, provider: str, ok: bool) -> None:
        self.refreshes.inc(provider=provider, result="success" if ok else "failure")

    def render(self) -> str:
        return self.registry.render()
