"""`aiclient doctor`: every failure class injected through the simulators, named with its fix.

The simulators run in the test's Trio loop; the command runs through click's runner in a
worker thread, as a user would run it: with the daemon stopped (the doctor then runs each
provider in its own process) or against `aiclient demo` running in this process.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
import trio
from click.testing import CliRunner
from conftest import XdgHome
from upstream_kit import proxying

from aiclient_trio.cli.demo import DEMO_GITHUB_TOKEN, DemoOptions, DemoRun, run_demo
from aiclient_trio.cli.doctor.checklist import Checklist, Status
from aiclient_trio.cli.doctor.install import requirement_problem
from aiclient_trio.cli.doctor.network import clock_skew
from aiclient_trio.cli.main import main
from aiclient_trio.providers import failures
from aiclient_trio.providers.copilot.auth import StoredCredential, save_credential
from aiclient_trio.providers.kiro.credentials import (
    TokenStore,
    default_token_path,
    format_expires_at,
)
from aiclient_trio.simulator.copilot import CopilotSimulator, serve_copilot_simulators
from aiclient_trio.simulator.copilot_kit import SimState
from aiclient_trio.simulator.kiro import KiroSimulator, serve_kiro_simulator, urls_for

GITHUB_TOKEN = "gho_doctortest0123456789"
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")


# -- pure parts ---------------------------------------------------------------------------------


def test_exit_status_is_0_ok_1_failed_2_warnings_only() -> None:
    checklist = Checklist()
    checklist.ok("install", "python", "3.12")
    checklist.skip("daemon", "logs", "skipped: the daemon is not running")
    assert checklist.exit_code() == 0
    checklist.warn("install", "file modes", "0644", "chmod go-rwx x")
    assert checklist.exit_code() == 2
    checklist.fail("daemon", "running", "not running", "aiclient start")
    assert checklist.exit_code() == 1
    text = checklist.render()
    lines = text.splitlines()
    # Failures first, each followed by its fix; a summary line last.
    assert lines[2] == "  [FAIL] daemon   running: not running"
    assert lines[3].strip() == "fix: aiclient start"
    assert lines[-1] == "Result: 1 failed, 1 warning(s), 1 ok, 1 skipped"
    checklist.ok("install", "config", "valid")
    assert "  [  ok] install  python, config" in checklist.render()


def test_checks_skipped_for_one_reason_share_a_line() -> None:
    checklist = Checklist()
    for name in ("sign-in", "models", "quota"):
        checklist.skip("kiro", name, "skipped: not signed in")
    assert "[skip] kiro     sign-in, models, quota: skipped: not signed in" in checklist.render()


def test_requirement_check_reads_version_ranges() -> None:
    assert requirement_problem("trio>=0.35,<0.36", "0.35.1") is None
    assert requirement_problem("trio>=0.35,<0.36", "0.36.0") == (
        "trio 0.36.0 does not satisfy <0.36"
    )
    assert requirement_problem("httpx>=0.28", None) == "httpx is not installed"


def test_clock_skew_from_a_date_header() -> None:
    sent = 1_800_000_000.0
    assert clock_skew("Fri, 15 Jan 2027 08:10:00 GMT", sent, sent + 0.2) == pytest.approx(599.9)
    assert clock_skew("garbage", sent, sent) is None


def test_diagnosis_table_for_kiro_answers() -> None:
    from aiclient_trio.cli.doctor.diagnose import diagnose
    from aiclient_trio.config.types import Config

    def failure(status: int, path: str, body: str) -> dict[str, Any]:
        return {"status": status, "path": path, "url": f"https://h.example{path}",
                "headers": [], "first_bytes": body}  # fmt: skip

    gone = diagnose(
        "kiro", {"state": "ready"}, failure(404, "/", '{"message":"Not Found"}'), Config()
    )
    assert gone is not None and gone.kind == "retired_host" and "h.example" in gone.detail
    refused = failure(403, "/ListAvailableModels", '{"message":"Invalid token"}')
    region = diagnose("kiro", {"state": "ready"}, refused, Config(), "eu-central-1")
    assert region is not None and region.kind == "wrong_region"
    assert "eu-central-1" in region.fix
    grant = failure(400, "/refreshToken", '{"error":"invalid_grant"}')
    expired = diagnose("kiro", {"state": "unauthenticated"}, grant, Config())
    assert expired is not None and expired.kind == "refresh_expired"
    assert diagnose("kiro", {"state": "ready"}, None, Config()) is None


# -- wiring -------------------------------------------------------------------------------------


@pytest.fixture
def doctor_env(xdg_home: XdgHome, monkeypatch: pytest.MonkeyPatch) -> Iterator[XdgHome]:
    """A private home, no proxy, and a PyPI URL that refuses at once (no test leaves the box)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("AICLIENT_PYPI_URL", f"http://127.0.0.1:{_closed_port()}/pypi")
    failures.clear()
    yield xdg_home
    failures.clear()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Doctor:
    code: int
    data: dict[str, Any]
    stderr: str

    def check(self, group: str, name: str) -> dict[str, Any]:
        found = [c for c in self.data["checks"] if (c["group"], c["name"]) == (group, name)]
        assert len(found) == 1, (group, name, self.data["checks"])
        return found[0]

    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.data["checks"] if c["status"] == "failed"]


async def run_doctor(*args: str) -> Doctor:
    def invoke() -> Any:
        return CliRunner().invoke(main, ["doctor", "--json", "--timeout", "5", *args])

    result = await trio.to_thread.run_sync(invoke)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return Doctor(result.exit_code, json.loads(result.stdout), result.stderr)


@dataclass
class Upstreams:
    copilot: CopilotSimulator
    kiro: KiroSimulator
    home: XdgHome

    def write_config(self, **extra: Any) -> None:
        data: dict[str, Any] = {
            "server": {"port": _closed_port()},
            "providers": {
                "copilot": {
                    "github_url": self.copilot.github_url,
                    "github_api_url": self.copilot.github_url,
                },
                # Every Kiro host (runtime, q, codewhisperer, management) on the simulator.
                "kiro": urls_for(self.kiro),
            },
        }
        for key, value in extra.items():
            *sections, last = key.split(".")
            table = data
            for section in sections:
                table = table.setdefault(section, {})
            table[last] = value
        path = self.home.config_file
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(tomli_w.dumps(data))
        path.chmod(0o600)

    def sign_in_kiro(self, *, refresh_token: str | None = None, expired: bool = False) -> None:
        issued = self.kiro.accounts.issue("social")
        record = {
            "accessToken": issued["accessToken"],
            "refreshToken": refresh_token or issued["refreshToken"],
            "expiresAt": format_expires_at(time.time() + (-60 if expired else 3600)),
            "authMethod": "social",
            "provider": "Github",
            "region": "us-east-1",
            "profileArn": issued["profileArn"],
        }
        TokenStore(default_token_path()).save(record, replace=True)


@asynccontextmanager
async def upstreams(home: XdgHome) -> AsyncIterator[Upstreams]:
    """Both simulators, a config pointing at them, Copilot and Kiro signed in."""
    async with trio.open_nursery() as nursery:
        state = SimState(github_tokens={GITHUB_TOKEN})
        copilot: CopilotSimulator = await nursery.start(serve_copilot_simulators, state)
        kiro: KiroSimulator = await nursery.start(serve_kiro_simulator)
        ups = Upstreams(copilot, kiro, home)
        ups.write_config()
        save_credential(StoredCredential(github_token=GITHUB_TOKEN, login="octo-sim"))
        ups.sign_in_kiro()
        yield ups
        nursery.cancel_scope.cancel()


# -- daemon stopped -----------------------------------------------------------------------------


async def test_daemon_down_is_named_with_its_fix_and_the_rest_still_runs(
    doctor_env: XdgHome,
) -> None:
    async with upstreams(doctor_env):
        result = await run_doctor()
    running = result.check("daemon", "running")
    assert running["status"] == "failed" and running["fix"] == "aiclient start"
    assert "not running" in running["detail"]
    for name in ("listening", "host allow-list", "api key", "control socket", "ledger", "logs"):
        assert result.check("daemon", name)["status"] == "skipped"
    # Without a daemon, the providers were run here: both work against the simulators.
    for provider in ("copilot", "kiro"):
        for name in ("credential", "sign-in", "models", "quota", "endpoint"):
            assert result.check(provider, name)["status"] == "ok", (provider, name)
    assert result.check("copilot", "sign-in")["detail"].endswith("seen by the probe)")
    assert result.check("network", "clock")["status"] == "ok"
    assert result.failed() == [running]
    assert result.code == 1
    assert "Checking daemon" in result.stderr and "[FAIL] daemon   running" in result.stderr


async def test_report_to_a_missing_directory_says_so(doctor_env: XdgHome) -> None:
    target = doctor_env.root / "no-such-dir" / "report.json"
    args = ["doctor", "--provider", "kiro", "--report", str(target)]
    async with upstreams(doctor_env):
        result = await trio.to_thread.run_sync(lambda: CliRunner().invoke(main, args))
    assert result.exit_code == 1
    assert f"cannot write the report to {target}" in result.stderr
    assert "Traceback" not in result.output


async def test_a_newer_release_is_a_warning_with_the_upgrade_command(
    doctor_env: XdgHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiclient_trio.simulator.asgi import not_http, serve_app
    from aiclient_trio.simulator.copilot_kit import send_json

    async def pypi(scope: Any, receive: Any, send: Any) -> None:  # PyPI's JSON API, in short
        if not await not_http(scope, receive, send):
            await send_json(send, 200, {"info": {"version": "99.0.0"}})

    async with upstreams(doctor_env), trio.open_nursery() as nursery:
        url: str = await nursery.start(serve_app, pypi)
        monkeypatch.setenv("AICLIENT_PYPI_URL", url + "/pypi/aiclient-trio/json")
        result = await run_doctor("--provider", "kiro")
        nursery.cancel_scope.cancel()
    found = result.check("install", "version")
    assert found["status"] == "warning"
    assert "99.0.0 is out" in found["detail"]
    assert "upgrade" in found["fix"] and found["fix"].endswith("aiclient restart")


async def test_a_daemon_holding_its_lock_without_answering_is_named(doctor_env: XdgHome) -> None:
    from aiclient_trio.config import paths
    from aiclient_trio.daemon.pidfile import PidLock

    lock = PidLock(paths.pid_file())  # a daemon that hangs: lock held, no control socket
    lock.acquire()
    try:
        async with upstreams(doctor_env):
            result = await run_doctor("--provider", "kiro")
    finally:
        lock.release()
    running = result.check("daemon", "running")
    assert running["status"] == "failed"
    assert "holds the daemon's lock but does not answer" in running["detail"]
    assert running["fix"].startswith("aiclient restart")


async def test_port_taken_is_named_with_the_setting_that_moves_aiclient(
    doctor_env: XdgHome,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        async with upstreams(doctor_env) as ups:
            ups.write_config(**{"server.port": port})
            result = await run_doctor("--provider", "kiro")
    running = result.check("daemon", "running")
    assert running["status"] == "failed"
    assert f"port {port} on 127.0.0.1 is already in use" in running["detail"]
    assert f"aiclient config set server.port {port + 1}" in running["fix"]


@pytest.mark.parametrize(
    ("fault", "check", "words", "fix", "answer"),
    [
        ("revoked", "sign-in", "rejected the stored token", "aiclient auth copilot", 401),
        ("no_seat", "sign-in", "no Copilot seat", "https://github.com/settings/copilot", 403),
        ("rate_limited", "sign-in", "rate-limited the Copilot token exchange", "wait", 403),
        ("api_version", "models", "HTTP 466", "providers.copilot.api_version", 466),
    ],
)
async def test_copilot_failure_classes(
    doctor_env: XdgHome, fault: str, check: str, words: str, fix: str, answer: int
) -> None:
    async with upstreams(doctor_env) as ups:
        state = ups.copilot.state
        if fault == "revoked":
            state.revoked.add(GITHUB_TOKEN)
        elif fault == "no_seat":
            state.no_seat.add(GITHUB_TOKEN)
        elif fault == "rate_limited":
            state.faults.exchange_rate_limited = 100
        else:
            state.min_api_version = "2099-01-01"
        report = doctor_env.root / "report.json"
        result = await run_doctor("--provider", "copilot", "--report", str(report))
    found = result.check("copilot", check)
    assert found["status"] == "failed", found
    assert words in found["detail"]
    assert fix in found["fix"]
    assert result.code == 1
    # The provider check is the only one that failed for it (plus the stopped daemon).
    assert {(c["group"], c["name"]) for c in result.failed()} == {
        ("daemon", "running"),
        ("copilot", check),
    }
    # The probe ran the provider here: its failed exchange is in the report.
    exchange = json.loads(report.read_text())["last_failed_upstream_exchange"]["copilot"]
    assert exchange["status"] == answer
    assert exchange["path"] == ("/models" if answer == 466 else "/copilot_internal/v2/token")
    assert exchange["first_bytes"].startswith("{")


async def test_expired_kiro_refresh_token(doctor_env: XdgHome) -> None:
    async with upstreams(doctor_env) as ups:
        ups.sign_in_kiro(refresh_token="rt-long-gone", expired=True)
        result = await run_doctor("--provider", "kiro")
    found = result.check("kiro", "sign-in")
    assert found["status"] == "failed"
    assert "refresh token expired or was revoked" in found["detail"]
    assert found["fix"].startswith("aiclient auth kiro")


async def test_retired_kiro_host(doctor_env: XdgHome) -> None:
    async with upstreams(doctor_env) as ups:
        ups.write_config(**{"providers.kiro.endpoint": "q"})
        ups.kiro.retired.add("q")
        pinned = await run_doctor("--provider", "kiro")
        ups.write_config()  # auto: runtime first
        ups.kiro.retired = {"runtime"}
        auto = await run_doctor("--provider", "kiro")
    found = pinned.check("kiro", "endpoint")
    assert found["status"] == "failed"
    assert "no Kiro chat host answers" in found["detail"] and "HTTP 404" in found["detail"]
    assert "aiclient config set providers.kiro.endpoint auto" in found["fix"]
    moved = auto.check("kiro", "endpoint")
    assert moved["status"] == "warning", moved
    assert moved["detail"].startswith("q at ") and "runtime" in moved["detail"]
    assert "upgrade aiclient" in moved["fix"]
    assert auto.code == 1  # the stopped daemon; the endpoint alone is a warning


async def test_wrong_kiro_region(doctor_env: XdgHome) -> None:
    async with upstreams(doctor_env) as ups:
        ups.write_config(**{"providers.kiro.api_region": "eu-central-1"})
        report = doctor_env.root / "report.json"
        result = await run_doctor("--provider", "kiro", "--report", str(report))
    found = result.check("kiro", "endpoint")
    assert found["status"] == "failed"
    assert "eu-central-1" in found["detail"] and "us-east-1" in found["detail"]
    assert "aiclient config set providers.kiro.api_region us-east-1" in found["fix"]
    # What the service said: the token is not valid in that region.
    exchange = json.loads(report.read_text())["last_failed_upstream_exchange"]["kiro"]
    assert exchange["status"] == 403 and "Invalid token" in exchange["first_bytes"]
    assert "/management/eu-central-1" in exchange["url"]


@pytest.mark.parametrize(("offset", "status"), [(600.0, "failed"), (-45.0, "warning")])
async def test_clock_skew_from_the_upstream_date(
    doctor_env: XdgHome, offset: float, status: str
) -> None:
    async with upstreams(doctor_env) as ups:
        ups.copilot.state.faults.clock_offset = offset
        result = await run_doctor("--provider", "copilot")
    found = result.check("network", "clock")
    assert found["status"] == status
    direction = "behind" if offset > 0 else "ahead of"
    seconds, rest = found["detail"].removeprefix("this machine's clock is ").split(" s ", 1)
    assert abs(int(seconds) - abs(offset)) <= 2  # Date has whole seconds
    assert rest.startswith(direction)
    assert "timedatectl set-ntp true" in found["fix"]


async def test_unreachable_proxy(doctor_env: XdgHome, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = f"http://user:hunter2@127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    async with upstreams(doctor_env):
        result = await run_doctor("--provider", "kiro")
    found = result.check("network", "proxy")
    assert found["status"] == "failed"
    assert "cannot be reached" in found["detail"]
    assert "hunter2" not in json.dumps(result.data), "the proxy password is hidden"
    assert "unset HTTPS_PROXY" in found["fix"]
    # The host checks would only repeat it.
    assert result.check("network", "kiro: Kiro chat (runtime)")["status"] == "skipped"


async def test_host_checks_go_through_the_proxy_as_the_daemons_calls_do(
    doctor_env: XdgHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The doctor calls the upstream hosts through the daemon's own transport, so what it
    # proves about the proxy (and NO_PROXY) holds for the daemon's calls.
    async with proxying() as proxy, upstreams(doctor_env) as ups:
        monkeypatch.setenv("HTTP_PROXY", proxy.url("ann:pw"))
        result = await run_doctor("--provider", "kiro")
        host = ups.kiro.base_url.split("://", 1)[1].split("/", 1)[0]
        found = result.check("network", "kiro: Kiro chat (runtime)")
        assert found["status"] == "ok", found
        assert f"via proxy http://127.0.0.1:{proxy.port}" in found["detail"]
        assert "ann:pw" not in json.dumps(result.data)
        assert f"HEAD http://{host}/" in proxy.seen, proxy.seen
        assert set(proxy.credentials) == {"ann:pw"}
        # A CIDR in NO_PROXY (which the daemon honours and httpx's own proxy handling does
        # not) sends the same checks direct.
        monkeypatch.setenv("NO_PROXY", "127.0.0.0/8")
        proxy.seen.clear()
        result = await run_doctor("--provider", "kiro")
        found = result.check("network", "kiro: Kiro chat (runtime)")
        assert found["status"] == "ok", found
        assert "via proxy" not in found["detail"]
        assert proxy.seen == []


async def test_bad_ca_file(
    doctor_env: XdgHome, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bundle = tmp_path / "corporate-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    async with upstreams(doctor_env):
        result = await run_doctor("--provider", "copilot")
    found = result.check("network", "CA bundle")
    assert found["status"] == "failed"
    assert str(bundle) in found["detail"]
    assert "SSL_CERT_FILE" in found["fix"]


# -- against the demo ---------------------------------------------------------------------------


@asynccontextmanager
async def demo(api_key: str | None = None) -> AsyncIterator[DemoRun]:
    options = DemoOptions(port=0, stderr_logging=False, echo=lambda text: None, api_key=api_key)
    async with trio.open_nursery() as nursery:
        run: DemoRun = await nursery.start(run_demo, options)
        try:
            yield run
        finally:
            run.stop()


@pytest.mark.usefixtures("doctor_env", "restore_logging")
async def test_demo_passes_every_check_and_every_call() -> None:
    async with demo(api_key="doctor-demo-key-0123") as run:
        result = await run_doctor("--call")
        assert result.code in (0, 2), result.failed()
        assert result.check("daemon", "running")["status"] == "ok"
        assert result.check("daemon", "api key")["detail"] == (
            "required, and the configured key works"
        )
        assert result.check("daemon", "host allow-list")["status"] == "ok"
        # The Copilot API host named by a fresh token exchange is checked too.
        assert result.check("network", "copilot: Copilot API")["status"] == "ok"
        assert run.copilot.api_url in result.check("copilot", "endpoint")["detail"]
        for provider in ("copilot", "kiro"):
            assert result.check(provider, "sign-in")["detail"].endswith("seen by the daemon)")
            for fmt in ("openai chat", "anthropic messages", "openai responses"):
                call = result.check("call", f"{provider} via {fmt}")
                assert call["status"] == "ok", call
                assert "simulator" in call["detail"]
        assert "may spend premium requests or credits" in result.stderr
        assert run.url


@pytest.mark.usefixtures("doctor_env", "restore_logging")
async def test_466_seen_by_the_running_daemon() -> None:
    async with demo() as run:
        run.copilot.state.min_api_version = "2099-01-01"  # Copilot retires our version
        async with httpx.AsyncClient(base_url=run.url) as client:
            body = {"model": "copilot/gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}
            answer = await client.post("/v1/chat/completions", json=body)
            assert answer.status_code >= 400
        result = await run_doctor("--provider", "copilot")
    models = result.check("copilot", "models")
    assert models["status"] == "failed"
    assert "HTTP 466" in models["detail"]
    assert "providers.copilot.api_version" in models["fix"]
    assert result.check("copilot", "sign-in")["status"] == "ok"  # the token exchange works


@pytest.mark.usefixtures("doctor_env", "restore_logging")
async def test_a_token_revoked_since_the_daemon_last_looked() -> None:
    async with demo() as run:
        run.copilot.state.revoked.add(DEMO_GITHUB_TOKEN)  # the daemon refreshes in 25 min
        result = await run_doctor("--provider", "copilot")
    found = result.check("copilot", "sign-in")
    assert found["status"] == "failed", found
    assert "rejected the stored token" in found["detail"]
    assert found["fix"] == "aiclient auth copilot"
    assert result.data["checks"] and result.code == 1


@pytest.mark.usefixtures("doctor_env", "restore_logging")
async def test_report_keeps_no_credential_of_the_fixtures(tmp_path: Path) -> None:
    key = "doctor-demo-key-4567"
    async with demo(api_key=key) as run:
        state: SimState = run.copilot.state
        copilot_tokens = sorted(state.copilot_tokens)
        kiro_record = TokenStore(default_token_path()).load() or {}
        secrets = [
            DEMO_GITHUB_TOKEN,
            key,
            *copilot_tokens,
            str(kiro_record["accessToken"]),
            str(kiro_record["refreshToken"]),
            run.kiro.accounts.issue_api_key(),  # ksk_...
            "sk-ant-api03-doctortest0123456789abcdef",
        ]
        # A log written before redaction existed...
        log_file = Path(run.home) / "state" / "aiclient" / "aiclient.log"
        with log_file.open("a", encoding="utf-8") as log:
            for secret in secrets:
                log.write(f"2026-12-04T00:00:00.000Z DEBUG aiclient.test: leaked {secret}\n")
            log.write(
                "2026-12-04T00:00:00.000Z DEBUG aiclient.test: Authorization: Bearer "
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl\n"
            )
        # ...and an upstream whose refusal quotes the credentials it was sent.
        echoed = f"token {DEMO_GITHUB_TOKEN} and {copilot_tokens[0]} are not valid here"
        state.faults.queue_error(
            400, {"error": {"message": echoed, "code": "bad_request"}}, {"x-echo": echoed}
        )
        async with httpx.AsyncClient(base_url=run.url, headers={"x-api-key": key}) as client:
            body = {"model": "copilot/gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}
            answer = await client.post("/v1/chat/completions", json=body)
            assert answer.status_code == 400
        report = tmp_path / "report.json"
        result = await run_doctor("--report", str(report))
    text = report.read_text()
    assert report.stat().st_mode & 0o777 == 0o600
    for secret in secrets:
        assert secret not in text, secret
    for shape in ("gho_", "tid=", "eyJhbGci", "Bearer ey", "ksk_", "sk-ant"):
        assert shape not in text, shape
    data = json.loads(text)
    assert data["checklist"] == result.data["checks"]
    assert data["versions"]["aiclient"] and data["daemon"]["running"] is True
    assert data["config"]["api_key"] != key
    failure = data["last_failed_upstream_exchange"]["copilot"]
    assert failure["status"] == 400 and failure["path"].endswith("/chat/completions")
    assert "[REDACTED]" in failure["first_bytes"] and "are not valid here" in failure["first_bytes"]
    echo = [value for name, value in failure["headers"] if name == "x-echo"]
    assert echo and "[REDACTED]" in echo[0]
    leaked = [line for line in data["log"]["lines"] if "leaked" in line]
    assert len(leaked) == len(secrets) and all("[REDACTED]" in line for line in leaked)


def test_statuses_are_the_four_the_issue_names() -> None:
    assert [str(s) for s in Status] == ["ok", "warning", "failed", "skipped"]
