"""QA regression: records of the package's module loggers (`aiclient_trio.*`, e.g. the Kiro
provider's warnings) reach the daemon's log file formatted, redacted and at the set level,
instead of going raw to stderr through logging's last resort."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiclient_trio.log import reset_logging, set_level, setup_logging


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
