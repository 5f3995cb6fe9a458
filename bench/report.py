# Results output: the JSON file, a markdown table with every target checked against issue 9,
# and a PNG chart (latency distribution at c=1, throughput at c=32) for the README.
"""`write_results(results, folder)` -> the markdown text (also written to results.md)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ratio(a: Any, b: Any) -> float | None:
    return a / b if a is not None and b else None


def paired(ns: dict[str, Any], a: str, b: str, conns: str, fn: Any) -> float | None:
    """Median over rounds of fn(round of a, round of b): both measured seconds apart, so a
    slow patch on the shared machine hits both sides of each ratio."""
    ra, rb = _get(ns, a, conns, "rounds"), _get(ns, b, conns, "rounds")
    if not ra or not rb:
        return None
    values = [fn(x, y) for x, y in zip(ra, rb, strict=False) if x["rps"] and y["rps"]]
    return statistics.median(values) if values else None


def _added(key: str) -> Any:
    return lambda x, y: (x[key] - y[key]) / 1000


def targets(r: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    ns = r.get("non_stream", {})
    rows: list[tuple[str, str, str, bool | None]] = []

    def check(name: str, goal: str, value: Any, ok: bool | None, digits: int = 2) -> None:
        rows.append((name, goal, _fmt(value, digits), ok))

    for route in ("daemon_passthrough", "daemon_translated"):
        base = "direct_stream" if route == "daemon_translated" else "direct"
        add50 = paired(ns, route, base, "c1", _added("p50"))
        add99 = paired(ns, route, base, "c1", _added("p99"))
        if add50 is not None and add99 is not None:
            check(f"{route}: added p50 (ms, c=1)", "<= 1.5", add50, add50 <= 1.5, 3)
            check(f"{route}: added p99 (ms, c=1)", "<= 4", add99, add99 <= 4, 3)
    null_add = paired(ns, "null_proxy", "direct", "c1", _added("p50"))
    if null_add is not None:
        check("null proxy: added p50 (ms, c=1), for reference", "-", null_add, None, 3)
    ours = paired(ns, "daemon_passthrough", "direct", "c1", _added("p50"))
    theirs = paired(ns, "litellm", "direct", "c1", _added("p50"))
    if ours and theirs:
        ratio = theirs / ours
        check("added p50: LiteLLM / ours", ">= 10x", ratio, ratio >= 10)
    pk = paired(ns, "portkey", "direct", "c1", _added("p50"))
    if ours and pk:
        check("added p50: Portkey / ours", "-", pk / ours, None)
    frac = paired(ns, "daemon_passthrough", "null_proxy", "c32", lambda x, y: x["rps"] / y["rps"])
    if frac is not None:
        check("throughput c=32: daemon / null proxy", ">= 0.90", frac, frac >= 0.9)
    lite = paired(ns, "daemon_passthrough", "litellm", "c32", lambda x, y: x["rps"] / y["rps"])
    if lite is not None:
        check("throughput c=32: daemon / LiteLLM", ">= 5x", lite, lite >= 5)
    port = paired(ns, "daemon_passthrough", "portkey", "c32", lambda x, y: x["rps"] / y["rps"])
    if port is not None:
        check("throughput c=32: daemon / Portkey (stretch)", ">= 1.0", port, port >= 1.0)
    for peer in ("litellm", "portkey"):
        peer_rss = _get(r, "peers", peer, "idle_rss_mb")
        ours_rss = _get(r, "memory", "daemon_idle_rss_mb_after_warmup")
        if peer_rss and ours_rss:
            check(f"idle RSS: {peer} / ours", "-", peer_rss / ours_rss, None, 1)
    idle = _get(r, "memory", "daemon_idle_rss_mb_after_warmup")
    if idle is not None:
        # Idle = serving nothing, after the non-stream load warmed it up (lazy imports, pools).
        # The high-water mark after 1,000 concurrent streams is the capacity row's business.
        check("idle daemon RSS after warm-up (MB)", "<= 60", idle, idle <= 60, 1)
    pe = _get(r, "streaming", "per_event", "passthrough", "cpu_ms_per_event")
    if pe is not None:
        check("CPU per relayed SSE event, passthrough (ms)", "<= 0.15", pe, pe <= 0.15, 3)
    off = _get(r, "streaming", "per_event", "passthrough_coalescing_off", "cpu_ms_per_event")
    if off is not None:
        check(
            "CPU per SSE event, passthrough, coalescing off (ms), for reference", "-", off, None, 3
        )
    arrival = _get(r, "streaming", "per_event", "passthrough", "arrival")
    if arrival:
        ok = arrival["first_event_ms"] * 10 < arrival["last_event_ms"]
        check(
            "2,000-event stream incremental (first / last event ms)",
            "first << last",
            f"{arrival['first_event_ms']:.1f} / {arrival['last_event_ms']:.0f}",
            ok,
        )
    cap = _get(r, "capacity", "1000")
    if cap:
        ok = cap["complete"] == cap["of"] and cap["daemon_peak_rss_mb"] <= 150
        check(
            "1,000 streams: complete, peak RSS (MB)",
            "all, <= 150",
            f"{cap['complete']}/{cap['of']}, {cap['daemon_peak_rss_mb']:.0f}",
            ok,
        )
    es = _get(r, "codecs", "eventstream_4k", "speedup")
    if es is not None:
        check("EventStreamDecoder / botocore (4 KiB feeds)", ">= 3x", es, es >= 3)
    cancel = _get(r, "cancellation")
    if cancel and cancel.get("p99_ms") is not None:
        ok = cancel["p99_ms"] <= 50 and cancel["upstream_closed"] == cancel["disconnects"]
        check("disconnect -> upstream closed p99 (ms)", "<= 50", cancel["p99_ms"], ok, 1)
    return rows


def markdown(r: dict[str, Any]) -> str:
    meta = r["meta"]
    out = [
        "# aiclient-trio benchmark results",
        "",
        f"Run {meta['started']} on {meta['cpus']} CPUs, Python {meta['python']}, "
        f"{meta['rounds']} round(s) of {meta['seconds_per_load']:.0f} s per load point"
        + (" (QUICK mode)" if meta["quick"] else "")
        + f"; wall time {meta.get('wall_seconds', 0):.0f} s. Medians over rounds; "
        "ratios come from the same run (paired per round).",
        "",
        f"Machine load average (1 min) at start / end: {_fmt(meta.get('load_average_at_start'), 1)}"
        f" / {_fmt(meta.get('load_average_at_end'), 1)} (other work shares these CPUs).",
        "",
        "## Targets (issue 9)",
        "",
        "| target | goal | measured | met |",
        "|---|---|---|---|",
    ]
    for name, goal, value, ok in targets(r):
        mark = "yes" if ok else ("**NO**" if ok is False else "-")
        out.append(f"| {name} | {goal} | {value} | {mark} |")
    ns = r.get("non_stream", {})
    out += [
        "",
        "## Non-stream requests (wrk, 1 thread, fixed-response upstream)",
        "",
        "| target | c | req/s | p50 ms | p99 ms | CPU ms/req | RSS MB | failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, by in ns.items():
        for conns in ("c1", "c32"):
            x = by.get(conns)
            if not x:
                continue
            out.append(
                f"| {name} | {conns[1:]} | {_fmt(x['rps'], 0)} | {_fmt(x['p50_ms'])} | "
                f"{_fmt(x['p99_ms'])} | {_fmt(x['cpu_ms_per_request'], 3)} | "
                f"{_fmt(x['rss_mb'], 0)} | {x['failed']} |"
            )
    peers = r.get("peers", {})
    for name, info in peers.items():
        if isinstance(info, dict) and not info.get("available"):
            out.append(f"\n{name}: not measured ({info.get('reason')}).")
        elif isinstance(info, dict):
            out.append(f"\n{name}: idle RSS {info['idle_rss_mb']:.0f} MB.")
    st = r.get("streaming", {})
    if st:
        t = st["ttfb_ms"]
        out += [
            "",
            "## Streaming",
            "",
            f"Time to first event (p50, {t['samples']} samples): "
            f"direct {_fmt(t['direct_p50'])} ms, "
            f"daemon {_fmt(t['daemon_p50'])} ms (added {_fmt(t['added_p50'])} ms), "
            f"null proxy {_fmt(t['null_proxy_p50'])} ms.",
            "",
            "| stream (2,000 events, 1 ms apart) | CPU ms/event | first event ms | last event ms "
            "| writes received |",
            "|---|---|---|---|---|",
        ]
        for name, x in st["per_event"].items():
            a = x.get("arrival") or {}
            out.append(
                f"| {name} | {_fmt(x['cpu_ms_per_event'], 3)} | {_fmt(a.get('first_event_ms'), 1)} "
                f"| {_fmt(a.get('last_event_ms'), 0)} | {a.get('chunks_with_events', 'n/a')} |"
            )
        out += [
            "",
            "The daemon coalesces stream writes by default (`server.stream_coalesce_ms = 4`): a "
            "write within 4 ms of the previous one pauses the relay for 4 ms, so events the "
            "upstream sends meanwhile leave in one read and one write; no event waits more than "
            "4 ms. `passthrough_coalescing_off` is the same stream with the window set to 0.",
        ]
    cap = r.get("capacity", {})
    if cap:
        out += [
            "",
            "## Capacity (slow streams: 10 events, 200 ms apart)",
            "",
            "| streams | complete | worst gap ms | p99 gap ms | peak RSS MB | daemon CPU s |",
            "|---|---|---|---|---|---|",
        ]
        for level, x in cap.items():
            out.append(
                f"| {level} | {x['complete']}/{x['of']} | {_fmt(x['worst_gap_ms'], 0)} | "
                f"{_fmt(x['p99_gap_ms'], 0)} | {_fmt(x['daemon_peak_rss_mb'], 0)} | "
                f"{_fmt(x['daemon_cpu_s'], 1)} |"
            )
    co = r.get("codecs")
    if co:
        out += [
            "",
            "## Decoders (best of interleaved passes)",
            "",
            "| decoder | feed | MB/s | frames/s |",
            "|---|---|---|---|",
        ]
        for key, label in (("eventstream_4k", "4 KiB"), ("eventstream_1b", "1 byte")):
            for who in ("ours", "botocore"):
                x = co[key].get(who)
                if x:
                    who_name = (
                        "EventStreamDecoder" if who == "ours" else "botocore EventStreamBuffer"
                    )
                    out.append(
                        f"| {who_name} | {label} | {x['mb_per_s']:.1f} | {x['frames_per_s']:.0f} |"
                    )
        x = co["sse_4k"]
        out.append(f"| SSEDecoder | 4 KiB | {x['mb_per_s']:.1f} | {x['frames_per_s']:.0f} |")
    ca = r.get("cancellation")
    if ca:
        out += [
            "",
            "## Cancellation",
            "",
            f"{ca['disconnects']} client disconnects after the first event; upstream saw "
            f"{ca['upstream_closed']} closes: p50 {_fmt(ca['p50_ms'], 1)} ms, p99 "
            f"{_fmt(ca['p99_ms'], 1)} ms, max {_fmt(ca['max_ms'], 1)} ms.",
        ]
    big = r.get("big_bodies")
    if big and "cases" in big:
        out += [
            "",
            "## Big bodies (event loop kept free, memory bounded and given back)",
            "",
            "/healthz probed every 50 ms while each request runs (and 1 s after); the daemon's RSS",
            "before, at its peak and 3 s after the answer.",
            "",
            "| case | body MB | HTTP | s | /healthz p50 / max ms | RSS MB before / peak / after |",
            "|---|---|---|---|---|---|",
        ]
        for c in big["cases"]:
            out.append(
                f"| {c['case']} | {c['body_mb']} | {c['status']} | {c['seconds']} | "
                f"{c['healthz_p50_ms']} / {c['healthz_max_ms']} | "
                f"{c['rss_mb_before']} / {c['rss_mb_peak']} / {c['rss_mb_after']} |"
            )
    mem = r.get("memory", {})
    if mem:
        out += ["", "## Memory", ""] + [f"- {k}: {_fmt(v, 1)}" for k, v in mem.items()]
    prof = r.get("profile")
    if prof and "inclusive" in prof:
        out += [
            "",
            f"## Daemon profile ({prof['load']}, {prof['samples']} samples)",
            "",
            "| inclusive % | frame | | self % | frame |",
            "|---|---|---|---|---|",
        ]
        for a, b in zip(prof["inclusive"], prof["self"], strict=False):
            out.append(f"| {a['percent']} | `{a['frame']}` | | {b['percent']} | `{b['frame']}` |")
        if prof.get("components"):
            out += ["", "Self time by component (leaf frame of each sample):", ""]
            out += ["| component | % of samples |", "|---|---|"]
            out += [f"| {c['frame']} | {c['percent']} |" for c in prof["components"]]
    elif prof:
        out.append(f"\nProfile: {prof.get('error')}")
    if r.get("notes"):
        out += ["", "## Notes", ""] + [f"- {n}" for n in r["notes"]]
    out.append("")
    return "\n".join(out)


def chart(r: dict[str, Any], path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed"
    ns = r.get("non_stream", {})
    names = [
        n
        for n in (
            "direct",
            "daemon_passthrough",
            "daemon_translated",
            "null_proxy",
            "litellm",
            "portkey",
        )
        if n in ns
    ]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for i, name in enumerate(names):
        runs = ns[name]["c1"]["rounds"]
        p50 = [x["p50"] / 1000 for x in runs]
        p90 = [x["p90"] / 1000 for x in runs]
        p99 = [x["p99"] / 1000 for x in runs]
        left.scatter([i] * len(p50), p50, color="C0", label="p50" if i == 0 else None)
        left.scatter([i] * len(p90), p90, color="C1", marker="^", label="p90" if i == 0 else None)
        left.scatter([i] * len(p99), p99, color="C3", marker="x", label="p99" if i == 0 else None)
    left.set_xticks(range(len(names)), names, rotation=25, ha="right")
    left.set_yscale("log")
    left.set_ylabel("latency, ms (log)")
    left.set_title("Latency at concurrency 1 (each round)")
    left.legend()
    proxies = [n for n in names if n != "direct"]
    rps = [ns[n]["c32"]["rps"] or 0 for n in proxies]
    bars = right.bar(range(len(proxies)), rps, color=["C0", "C0", "C2", "C3", "C4"][: len(proxies)])
    right.bar_label(bars, fmt="%.0f")
    right.set_xticks(range(len(proxies)), proxies, rotation=25, ha="right")
    right.set_ylabel("requests/s")
    direct = _get(ns, "direct", "c32", "rps")
    right.set_title(
        "Throughput at concurrency 32 (median)"
        + (f"\ndirect upstream: {direct:.0f} req/s" if direct else "")
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return None


def write_results(results: dict[str, Any], folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    if results.get("non_stream"):
        problem = chart(results, folder / "chart.png")
        if problem:
            results["notes"].append(f"chart not drawn: {problem}")
    (folder / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    text = markdown(results)
    (folder / "results.md").write_text(text)
    return text
