# `nox -s bench` entry: starts upstream, sign-in simulators, daemon, null proxy and peers, runs
# every measurement of issue 9 in one run, writes bench/results/{results.json,results.md,chart.png}.
"""Usage: python bench/run.py  (BENCH_QUICK=1 for a short development run; --big-bodies runs
only the big-bodies cases and prints them; --report-only re-renders the last results).

Environment: BENCH_QUICK, BENCH_ROUNDS, BENCH_SECONDS, BENCH_PEERS=0 (skip peers),
BENCH_LITELLM (path of the `litellm` command), BENCH_PROFILE=0 (skip py-spy).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import streams
import trio
from big_bodies import big_body_results
from codec_bench import codec_results
from load import Target, have_wrk, run_wrk
from peers import PeerUnavailable, start_litellm, start_portkey
from procs import Proc, cpu_seconds, free_port, rss_bytes, wait_http
from profile_tools import profile_daemon
from report import write_results
from sims import xdg_env

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
PY = sys.executable
QUICK = os.environ.get("BENCH_QUICK") == "1"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if QUICK else "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "2" if QUICK else "4"))
CAPACITY = (100, 500) if QUICK else (100, 500, 1000)
DISCONNECTS = 50 if QUICK else 200
LONG_STREAM = 2000

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hello."}]}
MESSAGES = {
    "model": "gpt-4o",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Say hello."}],
}


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


def chat_stream(events: int, interval_us: int, sid: str, model: str = "gpt-4o") -> dict[str, Any]:
    marker = f"bench:{events}:{interval_us}:{sid}"
    return {"model": model, "stream": True, "messages": [{"role": "user", "content": marker}]}


def messages_stream(events: int, interval_us: int, sid: str, model: str) -> dict[str, Any]:
    body = chat_stream(events, interval_us, sid, model)
    body["max_tokens"] = 64
    return body


def median(values: list[float]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


class Bench:
    def __init__(self) -> None:
        self.logs = Path(tempfile.mkdtemp(prefix="aiclient-bench-"))
        self.procs: list[Proc] = []
        self.results: dict[str, Any] = {
            "meta": {
                "quick": QUICK,
                "rounds": ROUNDS,
                "seconds_per_load": SECONDS,
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "load_average_at_start": os.getloadavg()[0],
            },
            "notes": [],
        }

    def start(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        return proc

    # -- setup ------------------------------------------------------------------------------

    def setup(self) -> None:
        upstream = self.start(
            Proc("upstream", [PY, str(BENCH / "upstream.py")], log=self.logs / "upstream.log")
        )
        self.upstream_port = int(upstream.line)
        self.upstream = f"http://127.0.0.1:{self.upstream_port}"
        home = self.logs / "home"
        self.daemon_port = free_port()
        self.start(
            Proc(
                "sims",
                [PY, str(BENCH / "sims.py"), str(home), self.upstream, str(self.daemon_port)],
                log=self.logs / "sims.log",
            )
        )
        self.daemon = self.start(
            Proc(
                "daemon",
                [
                    PY,
                    "-m",
                    "aiclient_trio",
                    "start",
                    "--foreground",
                    "--port",
                    str(self.daemon_port),
                ],
                env=xdg_env(home),
                log=self.logs / "daemon.log",
                ready_line=False,
            )
        )
        base = f"http://127.0.0.1:{self.daemon_port}"

        def both_ready(body: bytes) -> bool:
            providers = json.loads(body).get("providers", {})
            return len(providers) >= 2 and all(
                p.get("state") == "ready" for p in providers.values()
            )

        if not wait_http(f"{base}/readyz", 60, both_ready, self.daemon.alive):
            raise RuntimeError(f"daemon not ready (see {self.logs / 'daemon.log'})")
        with urllib.request.urlopen(f"{base}/v1/models") as response:
            ids = [m["id"] for m in json.load(response)["data"]]
        self.kiro_model = next((i for i in ids if i.startswith("kiro/") and "sonnet" in i), None)
        if self.kiro_model is None:
            self.kiro_model = "kiro/claude-sonnet-4.5"
        self.results["meta"]["kiro_model"] = self.kiro_model
        self.results["memory"] = {"daemon_idle_rss_mb_at_start": rss_bytes(self.daemon.pid) / 1e6}
        null = self.start(
            Proc(
                "null",
                [PY, str(BENCH / "null_proxy.py"), self.upstream],
                log=self.logs / "null.log",
            )
        )
        self.null_port = int(null.line)
        self.null = null

    def targets(self) -> dict[str, Target]:
        d = f"http://127.0.0.1:{self.daemon_port}"
        found = {
            "direct": Target("direct", f"{self.upstream}/chat/completions", CHAT),
            "direct_stream": Target(
                "direct_stream", f"{self.upstream}/chat/completions", {**CHAT, "stream": True}
            ),
            "daemon_passthrough": Target(
                "daemon_passthrough", f"{d}/v1/chat/completions", CHAT, self.daemon.pid
            ),
            "daemon_translated": Target(
                "daemon_translated", f"{d}/v1/messages", MESSAGES, self.daemon.pid
            ),
            "null_proxy": Target(
                "null_proxy",
                f"http://127.0.0.1:{self.null_port}/chat/completions",
                CHAT,
                self.null.pid,
            ),
        }
        return found

    def start_peers(self, targets: dict[str, Target]) -> None:
        peers: dict[str, Any] = {}
        self.results["peers"] = peers
        if os.environ.get("BENCH_PEERS") == "0":
            peers["skipped"] = "BENCH_PEERS=0"
            return
        for name, starter in (("litellm", start_litellm), ("portkey", start_portkey)):
            try:
                log(f"starting {name}")
                proc, headers, url = starter(self.upstream, self.logs)
            except (PeerUnavailable, RuntimeError, OSError) as exc:
                # The comparison is the point of the run: no peer, no results (BENCH_PEERS=0
                # runs without them on purpose).
                raise RuntimeError(f"{name} could not start: {exc}") from None
            self.start(proc)
            target = Target(name, url, CHAT, proc.pid, headers)
            try:
                run_wrk(target, 1, 1)  # warm-up, and a check that it forwards at all
            except RuntimeError as exc:
                raise RuntimeError(f"{name} started but does not forward: {exc}") from None
            peers[name] = {"available": True, "idle_rss_mb": rss_bytes(proc.pid) / 1e6}
            targets[name] = target

    # -- measurements -----------------------------------------------------------------------

    def non_stream(self, targets: dict[str, Target]) -> None:
        rounds: dict[str, dict[int, list[dict[str, Any]]]] = {n: {1: [], 32: []} for n in targets}
        for t in targets.values():
            run_wrk(t, 4, 1)  # warm-up: connections, lazy imports, JIT-less caches
        for r in range(ROUNDS):
            for conns in (1, 32):
                for name, target in targets.items():
                    data = run_wrk(target, conns, SECONDS)
                    if target.pid:
                        data["rss_mb"] = rss_bytes(target.pid) / 1e6
                    rounds[name][conns].append(data)
                    log(
                        f"round {r + 1} c={conns} {name}: {data['rps']:.0f} req/s "
                        f"p50 {data['p50'] / 1000:.2f} ms p99 {data['p99'] / 1000:.2f} ms"
                        + (
                            f" errors {data['errors'] + data['non2xx']}"
                            if data["errors"] + data["non2xx"]
                            else ""
                        )
                    )
        summary: dict[str, Any] = {}
        for name, by_conns in rounds.items():
            summary[name] = {}
            for conns, runs in by_conns.items():
                summary[name][f"c{conns}"] = {
                    "rps": median([x["rps"] for x in runs]),
                    "p50_ms": median([x["p50"] / 1000 for x in runs]),
                    "p99_ms": median([x["p99"] / 1000 for x in runs]),
                    "cpu_ms_per_request": median([x["cpu_ms_per_request"] for x in runs]),
                    "rss_mb": median([x.get("rss_mb") for x in runs]),
                    "failed": sum(x["errors"] + x["non2xx"] for x in runs),
                    "rounds": runs,
                }
        self.results["non_stream"] = summary

    async def streaming(self) -> None:
        port, up = self.daemon_port, self.upstream_port
        out: dict[str, Any] = {}
        # Time to first event: 3-event stream, direct vs through the daemon (alternating).
        n = 10 if QUICK else 40
        direct, daemon, null = [], [], []
        for i in range(n):
            a = await streams.stream(up, "/chat/completions", chat_stream(3, 0, f"t{i}"))
            b = await streams.stream(port, "/v1/chat/completions", chat_stream(3, 0, f"t{i}"))
            c = await streams.stream(
                self.null_port, "/chat/completions", chat_stream(3, 0, f"t{i}")
            )
            for res, bucket in ((a, direct), (b, daemon), (c, null)):
                if res.first_event is not None:
                    bucket.append((res.first_event - res.sent_at) * 1000)
        out["ttfb_ms"] = {
            "direct_p50": median(direct),
            "daemon_p50": median(daemon),
            "null_proxy_p50": median(null),
            "added_p50": (median(daemon) or 0) - (median(direct) or 0),
            "samples": n,
        }
        # CPU per relayed event on long paced streams (1 ms between upstream events).
        cases = {
            "passthrough": (
                port,
                "/v1/chat/completions",
                lambda s: chat_stream(LONG_STREAM, 1000, s),
                self.daemon.pid,
            ),
            "translated_openai_to_anthropic": (
                port,
                "/v1/messages",
                lambda s: messages_stream(LONG_STREAM, 1000, s, "gpt-4o"),
                self.daemon.pid,
            ),
            "kiro_eventstream_to_anthropic": (
                port,
                "/v1/messages",
                lambda s: messages_stream(LONG_STREAM, 1000, s, self.kiro_model),
                self.daemon.pid,
            ),
            "null_proxy": (
                self.null_port,
                "/chat/completions",
                lambda s: chat_stream(LONG_STREAM, 1000, s),
                self.null.pid,
            ),
        }
        # The same passthrough stream with write coalescing off (server.stream_coalesce_ms =
        # 0, a hot key): every upstream event is its own read and its own write.
        cases["passthrough_coalescing_off"] = cases["passthrough"]
        per_event: dict[str, Any] = {}
        reps = 1 if QUICK else 3
        for name, (p, path, body, pid) in cases.items():
            if name == "passthrough_coalescing_off":
                self.set_config("server.stream_coalesce_ms", "0")
            costs, incremental = [], []
            for k in range(reps):
                c0 = cpu_seconds(pid)
                res = await streams.stream(p, path, body(f"e{k}"))
                c1 = cpu_seconds(pid)
                if res.status != 200 or res.events < LONG_STREAM:
                    self.results["notes"].append(
                        f"{name}: status {res.status}, {res.events} events"
                    )
                    continue
                costs.append((c1 - c0) * 1000 / res.events)
                if res.first_event is not None and res.times:
                    incremental.append(
                        {
                            "first_event_ms": (res.first_event - res.sent_at) * 1000,
                            "last_event_ms": (res.times[-1] - res.sent_at) * 1000,
                            "chunks_with_events": len(res.times),
                            "events": res.events,
                        }
                    )
            per_event[name] = {
                "cpu_ms_per_event": median(costs),
                "runs": costs,
                "arrival": incremental[0] if incremental else None,
            }
            log(f"stream {name}: {per_event[name]['cpu_ms_per_event']} ms CPU/event")
            if name == "passthrough_coalescing_off":
                self.set_config("server.stream_coalesce_ms", "4")
        out["per_event"] = per_event
        self.results["streaming"] = out

    def set_config(self, key: str, value: str) -> None:
        """`aiclient config set` on the running daemon (saved to its file, reloaded at once)."""
        env = {**os.environ, **xdg_env(self.logs / "home")}
        command = [PY, "-m", "aiclient_trio", "config", "set", key, value]
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=30)

    async def capacity(self) -> None:
        port = self.daemon_port
        levels: dict[str, Any] = {}
        for count in CAPACITY:
            before = cpu_seconds(self.daemon.pid)
            peak = 0

            async def watch_rss(stop: trio.Event) -> None:
                nonlocal peak
                while not stop.is_set():
                    peak = max(peak, rss_bytes(self.daemon.pid))
                    with trio.move_on_after(0.1):
                        await stop.wait()

            stop = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch_rss, stop)
                started = time.monotonic()
                results = await streams.many_streams(
                    port,
                    "/v1/chat/completions",
                    count,
                    lambda i: chat_stream(10, 200_000, f"s{i}"),
                    timeout=60,
                )
                stop.set()
            complete = [r for r in results if r.complete and r.status == 200 and r.events >= 10]
            gaps = [streams.worst_gap(r) * 1000 for r in complete]
            levels[str(count)] = {
                "complete": len(complete),
                "of": count,
                "worst_gap_ms": max(gaps, default=None),
                "p99_gap_ms": sorted(gaps)[int(len(gaps) * 0.99) - 1] if gaps else None,
                "upstream_interval_ms": 200,
                "seconds": time.monotonic() - started,
                "daemon_peak_rss_mb": peak / 1e6,
                "daemon_cpu_s": cpu_seconds(self.daemon.pid) - before,
                "errors": sorted(
                    {r.error or f"status {r.status}" for r in results if r not in complete}
                ),
            }
            log(f"capacity {count}: {levels[str(count)]}")
        self.results["capacity"] = levels

    async def cancellation(self) -> None:
        self._closed()  # reset the upstream's record
        closed_at = await streams.disconnects(
            self.daemon_port,
            "/v1/chat/completions",
            DISCONNECTS,
            lambda i: chat_stream(100_000, 10_000, f"c{i}"),
        )
        seen: dict[str, float] = {}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(seen) < len(closed_at):
            seen.update(self._closed())
            await trio.sleep(0.2)
        delays = sorted((seen[k] - v) * 1000 for k, v in closed_at.items() if k in seen)
        self.results["cancellation"] = {
            "disconnects": len(closed_at),
            "upstream_closed": len(delays),
            "p50_ms": median(delays),
            "p99_ms": delays[max(0, int(len(delays) * 0.99) - 1)] if delays else None,
            "max_ms": delays[-1] if delays else None,
        }
        log(f"cancellation: {self.results['cancellation']}")

    def _closed(self) -> dict[str, float]:
        with urllib.request.urlopen(f"{self.upstream}/_bench/closed") as response:
            return dict(json.load(response))

    def big_bodies(self) -> dict[str, Any]:
        return trio.run(
            big_body_results,
            f"http://127.0.0.1:{self.daemon_port}",
            self.daemon.pid,
            self.kiro_model,
            8 if QUICK else 30,
            30_000 if QUICK else 48_000,
            850_000,
            log,
        )

    def run_big_bodies_only(self) -> int:
        """`--big-bodies`: only the big-bodies cases (upstream, simulators and daemon started
        as for the full run); prints the results as JSON, writes nothing."""
        try:
            self.setup()
            print(json.dumps(self.big_bodies(), indent=1))
        finally:
            for proc in reversed(self.procs):
                proc.stop()
        return 0

    # -- run --------------------------------------------------------------------------------

    def run(self) -> int:
        started = time.monotonic()
        try:
            if not have_wrk():
                raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
            log(f"logs in {self.logs}")
            self.setup()
            log("codecs")
            self.results["codecs"] = codec_results(5 if QUICK else 9, 5000 if QUICK else 20000)
            targets = self.targets()
            self.start_peers(targets)
            log("non-stream load")
            self.non_stream(targets)
            time.sleep(1)
            warm = rss_bytes(self.daemon.pid) / 1e6
            self.results["memory"]["daemon_idle_rss_mb_after_warmup"] = warm
            log("streaming")
            trio.run(self.streaming)
            log("capacity")
            trio.run(self.capacity)
            log("cancellation")
            trio.run(self.cancellation)
            log("big bodies")
            self.results["big_bodies"] = self.big_bodies()
            time.sleep(1)
            self.results["memory"]["daemon_rss_mb_after_capacity"] = (
                rss_bytes(self.daemon.pid) / 1e6
            )
            if os.environ.get("BENCH_PROFILE") != "0":
                log("profile")
                self.results["profile"] = profile_daemon(
                    self.daemon.pid, targets["daemon_passthrough"], 3 if QUICK else 6, self.logs
                )
        except Exception:
            self.results["notes"].append("run aborted: " + traceback.format_exc(limit=3))
            traceback.print_exc()
        finally:
            for proc in reversed(self.procs):
                proc.stop()
        self.results["meta"]["wall_seconds"] = time.monotonic() - started
        self.results["meta"]["load_average_at_end"] = os.getloadavg()[0]
        if "--keep-logs" not in sys.argv:
            shutil.rmtree(self.logs / "home", ignore_errors=True)
        aborted = [n for n in self.results["notes"] if n.startswith("run aborted")]
        if aborted:
            # A partial run is not a result: the previous results stay as they were.
            log(f"FAILED, nothing written to {RESULTS}: {aborted[0]}")
            return 1
        print(write_results(self.results, RESULTS))
        return 0


def report_only() -> int:
    """Re-render results.md and chart.png from results.json (after a report change)."""
    results = json.loads((RESULTS / "results.json").read_text())
    print(write_results(results, RESULTS))
    return 0


if __name__ == "__main__":
    if "--report-only" in sys.argv:
        sys.exit(report_only())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the children in `finally`
    if "--big-bodies" in sys.argv:
        sys.exit(Bench().run_big_bodies_only())
    sys.exit(Bench().run())
