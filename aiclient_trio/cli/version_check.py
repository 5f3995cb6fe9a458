"""Version report and PyPI release check.

`aiclient version [--check]`: this build's version and, on request, the newest one on PyPI.
The check is a courtesy: one short request, and any network trouble means "unknown", not an
error.

`latest_release()` reads `info.version` from the PyPI JSON API (`AICLIENT_PYPI_URL`
overrides the URL, for mirrors and tests). `compare()` orders PEP 440-style versions well
enough for released versions and pre-releases; `upgrade_command()` names the installer
that owns this environment (pipx, uv tool or pip).
"""

from __future__ import annotations

import os
import platform
import re
import sys
from dataclasses import dataclass

import click
import httpx

from aiclient_trio import __version__
from aiclient_trio.upstream import blocking_call

__all__ = [
    "PACKAGE",
    "PYPI_URL",
    "ReleaseCheck",
    "check_release",
    "compare",
    "latest_release",
    "upgrade_command",
    "version",
]

PACKAGE = "aiclient-trio"
PYPI_URL = f"https://pypi.org/pypi/{PACKAGE}/json"
URL_ENV = "AICLIENT_PYPI_URL"
TIMEOUT = 3.0

_VERSION = re.compile(
    r"^\s*v?(?P<release>\d+(?:\.\d+)*)"
    r"(?:[-_.]?(?P<pre>a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?P<pre_n>\d*))?"
    r"(?:[-_.]?post[-_.]?(?P<post>\d*))?"
    r"(?:[-_.]?dev[-_.]?(?P<dev>\d*))?",
    re.IGNORECASE,
)
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}


def _key(text: str) -> tuple[tuple[int, ...], tuple[int, int], int, int]:
    match = _VERSION.match(text)
    if match is None:
        raise ValueError(f"not a version: {text!r}")
    release = tuple(int(part) for part in match["release"].split("."))
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    if match["pre"]:
        pre = (_PRE_RANK[match["pre"].lower()], int(match["pre_n"] or 0))
    elif match["dev"] is not None and match["post"] is None:
        pre = (-1, 0)  # 1.0.dev1 sorts before 1.0a1
    else:
        pre = (99, 0)  # a final release sorts after its pre-releases
    post = int(match["post"] or 0) if match["post"] is not None else -1
    dev = int(match["dev"] or 0) if match["dev"] is not None else sys.maxsize
    return release, pre, post, dev


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as version `a` is older than, equal to or newer than `b`."""
    ka, kb = _key(a), _key(b)
    return (ka > kb) - (ka < kb)


def latest_release(
    url: str | None = None,
    *,
    timeout: float = TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> str | None:
    """The newest release's version on PyPI, or None when it cannot be found out."""
    url = url or os.environ.get(URL_ENV) or PYPI_URL
    try:
        if transport is None:  # the daemon's transport: its proxies and TLS settings
            response = blocking_call("GET", url, timeout, headers={"Accept": "application/json"})
        else:
            with httpx.Client(timeout=timeout, transport=transport) as client:
                response = client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    info = data.get("info") if isinstance(data, dict) else None
    latest = info.get("version") if isinstance(info, dict) else None
    if not isinstance(latest, str) or _VERSION.match(latest) is None:
        return None
    return latest


def upgrade_command(prefix: str | None = None) -> str:
    """How to upgrade the package in the environment this process runs from."""
    where = (prefix or sys.prefix).replace("\\", "/")
    if "/pipx/venvs/" in where:
        return f"pipx upgrade {PACKAGE}"
    if "/uv/tools/" in where:
        return f"uv tool upgrade {PACKAGE}"
    return f"{sys.executable} -m pip install --upgrade {PACKAGE}"


@dataclass(frozen=True, slots=True)
class ReleaseCheck:
    current: str
    latest: str | None  # None: PyPI could not be reached or gave no usable answer

    @property
    def newer_available(self) -> bool:
        return self.latest is not None and compare(self.latest, self.current) > 0

    def message(self) -> str:
        if self.latest is None:
            return "could not check PyPI for a newer release (offline?)"
        if self.newer_available:
            return (
                f"a newer release is available: {self.latest} (you have {self.current}).\n"
                f"Upgrade with: {upgrade_command()}\n"
                "then restart the daemon: aiclient restart"
            )
        if compare(self.latest, self.current) < 0:
            return f"{self.current} is newer than the latest release on PyPI ({self.latest})"
        return f"{self.current} is the latest release"


def check_release(
    url: str | None = None, *, transport: httpx.BaseTransport | None = None
) -> ReleaseCheck:
    return ReleaseCheck(__version__, latest_release(url, transport=transport))


@click.command("version")
@click.option("--check", is_flag=True, help="Also ask PyPI for the newest release (3 s timeout).")
def version(check: bool) -> None:
    """Print the installed version; with --check compare it with the newest release on PyPI.

    Offline, the check says it could not tell and still exits 0.

    \b
    Examples:
      aiclient version
      aiclient version --check
    """
    click.echo(f"aiclient {__version__} (Python {platform.python_version()}, {sys.executable})")
    if check:
        click.echo(check_release().message())
