"""Developer sessions: tests, lint, typecheck (and later bench, demo, e2e)."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

PACKAGE = "aiclient_trio"


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (everything but the e2e CLI runs)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", PACKAGE, "tests", "noxfile.py")
    session.run("ruff", "format", "--check", PACKAGE, "tests", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[test]", "mypy>=1.10")
    session.run("mypy", "--strict", PACKAGE)
