"""Shared fixtures: a private XDG home so no test touches the real user's files, and loggers
restored after a test that set up logging."""

from __future__ import annotations

import gc
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis's default 200 ms deadline per example is a wall-clock margin: on a loaded machine
# it fails examples that are merely slow. Speed is measured by `nox -s bench`, not here.
settings.register_profile("aiclient", deadline=None)
settings.load_profile("aiclient")

_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture(autouse=True)
def _a_failed_test_leaves_nothing(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that failed half-way may leave sockets held only by its traceback: collect
    them now, quietly (the failure is already reported), so that their ResourceWarnings do
    not surface in the next test under filterwarnings=error."""
    yield
    if request.node.stash.get(_FAILED, False):
        # pytest keeps the last failure for post-mortem debugging, and its frames with it.
        sys.last_type = sys.last_value = sys.last_traceback = None
        if hasattr(sys, "last_exc"):
            sys.last_exc = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


@dataclass(frozen=True)
class XdgHome:
    """Directories a test runs in; `env` holds the variables for subprocesses."""

    root: Path
    config: Path  # XDG_CONFIG_HOME
    state: Path  # XDG_STATE_HOME
    runtime: Path  # XDG_RUNTIME_DIR (short path: unix sockets allow ~107 bytes)
    home: Path  # HOME

    @property
    def env(self) -> dict[str, str]:
        return {
            "XDG_CONFIG_HOME": str(self.config),
            "XDG_STATE_HOME": str(self.state),
            "XDG_RUNTIME_DIR": str(self.runtime),
            "HOME": str(self.home),
        }

    @property
    def config_file(self) -> Path:
        return self.config / "aiclient" / "config.toml"


@pytest.fixture
def xdg_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[XdgHome]:
    """Point XDG_CONFIG_HOME, XDG_STATE_HOME, XDG_RUNTIME_DIR and HOME at fresh temp dirs.

    Also clears every AICLIENT_* variable so the developer's environment cannot leak in.
    """
    runtime = Path(tempfile.mkdtemp(prefix="aic-", dir="/tmp"))
    home = XdgHome(
        root=tmp_path,
        config=tmp_path / "config",
        state=tmp_path / "state",
        runtime=runtime,
        home=tmp_path / "home",
    )
    for directory in (home.config, home.state, home.home):
        directory.mkdir(mode=0o700)
    runtime.chmod(0o700)
    for name in list(os.environ):
        if name.startswith("AICLIENT_"):
            monkeypatch.delenv(name)
    for name, value in home.env.items():
        monkeypatch.setenv(name, value)
    yield home
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo what a test's `setup_logging` did to the package loggers: close the handlers it
    added (their files live in the test's temp dirs) and restore handlers, propagation, level."""
    loggers = [logging.getLogger(name) for name in ("aiclient", "aiclient_trio")]
    saved = [(list(lg.handlers), lg.propagate, lg.level) for lg in loggers]
    yield
    for logger, (handlers, propagate, level) in zip(loggers, saved, strict=True):
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers[:], logger.propagate, logger.level = handlers, propagate, level
