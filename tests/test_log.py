"""Logging: credential shapes masked on every handler, rotation, runtime level, request line."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiclient_trio import log as aclog
from aiclient_trio.log import reset_logging, set_level, setup_logging
from aiclient_trio.record import RequestRecord

CASES = json.loads((Path(__file__).parent / "data" / "log" / "credentials.json").read_text())[
    "cases"
]


@pytest.fixture
def logger(tmp_path: Path) -> Iterator[logging.Logger]:
    yield aclog.setup_logging(
        level="debug", file=tmp_path / "a.log", secrets=["my-configured-api-key-7"]
    )
    aclog.reset_logging()  # closes the file handler again


@pytest.mark.parametrize(("template", "secret"), CASES, ids=[c[1][:12] for c in CASES])
def test_every_credential_shape_is_masked(template: str, secret: str) -> None:
    aclog.set_secrets(["my-configured-api-key-7"])
    text = template.format(secret=secret)
    redacted = aclog.redact(text)
    assert secret not in redacted
    assert aclog.MASK in redacted


def test_ordinary_text_is_left_alone() -> None:
    text = "token refreshed; max_tokens=100 input_tokens: 5; model gpt-4.1 at 127.0.0.1:9090"
    assert aclog.redact(text) == text


def test_filter_masks_args_and_tracebacks_on_the_file_handler(
    logger: logging.Logger, tmp_path: Path
) -> None:
    child = logging.getLogger("aiclient.test")
    child.info("refresh with %s", '{"refreshToken": "aorSECRETVALUE0123456789abcdef"}')
    try:
        raise RuntimeError("upstream rejected Bearer sk-live-0123456789abcdef")
    except RuntimeError:
        child.exception("call failed for key %s", "my-configured-api-key-7")
    text = (tmp_path / "a.log").read_text()
    assert "aorSECRETVALUE" not in text
    assert "sk-live-0123456789abcdef" not in text
    assert "my-configured-api-key-7" not in text
    assert text.count(aclog.MASK) == 4  # message, argument, source line and exception text
    assert "RuntimeError" in text  # the traceback itself is kept


def test_stderr_handler_is_filtered_too(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    aclog.setup_logging(level="info", stderr=True)
    try:
        logging.getLogger("aiclient.x").warning("got gho_abcdefghijklmnop0123")
    finally:
        aclog.reset_logging()
    assert "gho_" not in stream.getvalue()
    assert aclog.MASK in stream.getvalue()


def test_level_changes_at_runtime(logger: logging.Logger, tmp_path: Path) -> None:
    child = logging.getLogger("aiclient.level")
    aclog.set_level("warning")
    child.info("hidden line")
    aclog.set_level("debug")
    child.debug("visible line")
    text = (tmp_path / "a.log").read_text()
    assert "hidden line" not in text
    assert "visible line" in text


def test_file_rotates_by_size(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    aclog.setup_logging(level="info", file=path, max_bytes=2000, backups=2)
    try:
        for i in range(200):
            logging.getLogger("aiclient.rot").info("line %04d %s", i, "x" * 40)
    finally:
        aclog.reset_logging()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["r.log", "r.log.1", "r.log.2"]
    assert all((tmp_path / f).stat().st_size <= 2000 for f in files)
    assert "line 0199" in path.read_text()


def test_request_line_has_method_path_status_duration_provider_model_id(
    logger: logging.Logger, tmp_path: Path
) -> None:
    record = RequestRecord(
        request_id="req_123",
        endpoint="/v1/messages",
        method="POST",
        http_status=200,
        outcome="ok",
        started_at=0.0,
        duration=0.25,
        provider="kiro",
        client_model="claude-sonnet-4.5",
    )
    aclog.log_request(record)
    line = (tmp_path / "a.log").read_text().strip().splitlines()[-1]
    assert "INFO aiclient.access: POST /v1/messages 200 250ms" in line
    assert "provider=kiro model=claude-sonnet-4.5" in line
    assert line.endswith("id=req_123")


def test_tail_filters_by_level_and_keeps_tracebacks(logger: logging.Logger, tmp_path: Path) -> None:
    child = logging.getLogger("aiclient.tail")
    child.info("first info")
    try:
        raise ValueError("boom")
    except ValueError:
        child.exception("bad thing")
    child.info("second info")
    path = tmp_path / "a.log"
    lines = aclog.tail_lines(path, 50, "error")
    assert "bad thing" in lines[0]
    assert any("ValueError: boom" in line for line in lines)
    assert not any("info" in line for line in lines)
    assert aclog.tail_lines(path, 1)[0].endswith("second info")


_FRAGMENTS = [
    "Bearer abcdefgh12345678",
    "x-api-key: k123456789",
    '"accessToken": "xyz"',
    "refresh_token=abc",
    "gho_abcdefghij1234",
    "GHU_ABCDEFGHIJ1234",
    "github_pat_abcdefghij",
    "tid=t1;exp=1;sku=x:mac",
    "aoaAAAAAAAAAAAAAAAAAAAA",
    "aorBBBBBBBBBBBBBBBBBBBB",
    "eyJhbGciOi.eyJzdWIiOi.sig",
    "password: hunter2",
    "client_secret=s3",
    "device_code=dc1",
    "POST /v1/messages 200 3ms provider=kiro model=kiro/claude-sonnet-4.5",
    " ",
    "id=req_0123",
]


@given(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=12), max_size=6))
def test_fast_path_never_skips_what_the_patterns_would_mask(parts: list[str]) -> None:
    """The substring pre-check is a pure shortcut: same result as running every pattern."""
    from aiclient_trio.redact import _PATTERNS, redact

    text = "".join(parts)
    slow = text
    for pattern, replacement in _PATTERNS:
        slow = pattern.sub(replacement, slow)
    assert redact(text) == slow


# Records of the package's module loggers (`aiclient_trio.*`, e.g. the Kiro
# provider's warnings) reach the daemon's log file formatted, redacted and at the set level,
# instead of going raw to stderr through logging's last resort.


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "state" / "aiclient.log"
    old_umask = os.umask(0o022)
    try:
        setup_logging(level="info", file=path, secrets=["sekrit-api-key"])
    finally:
        os.umask(old_umask)
    try:
        yield path
    finally:
        reset_logging()


def test_module_loggers_write_formatted_redacted_lines(log_file: Path) -> None:
    provider_log = logging.getLogger("aiclient_trio.providers.kiro.provider")
    provider_log.warning("Kiro %s failed: %s", "/getUsageLimits", "SignedOut")
    provider_log.warning("token gho_abcdefghijklmnop and key sekrit-api-key")
    provider_log.debug("hidden at info")
    set_level("debug")
    logging.getLogger("aiclient_trio.server").debug("shown at debug")
    lines = log_file.read_text().splitlines()
    assert len(lines) == 3, lines
    assert lines[0].endswith(
        " WARNING aiclient_trio.providers.kiro.provider: Kiro /getUsageLimits failed: SignedOut"
    )
    assert "gho_" not in lines[1] and "sekrit" not in lines[1]
    assert "[REDACTED]" in lines[1]
    assert lines[2].endswith(" DEBUG aiclient_trio.server: shown at debug")


def test_log_file_is_private_under_a_default_umask(log_file: Path) -> None:
    assert log_file.stat().st_mode & 0o777 == 0o600


def test_reset_lets_module_records_propagate_again(log_file: Path) -> None:
    reset_logging()
    module_logger = logging.getLogger("aiclient_trio.providers.copilot.provider")
    assert module_logger.propagate and not module_logger.handlers
    assert module_logger.level == logging.NOTSET
