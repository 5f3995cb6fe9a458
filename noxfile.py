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


# The CLI versions the e2e suite was last verified with (bump deliberately).
E2E_NPM_PREFIX = "e2e/.npm"
E2E_NPM_PACKAGES = ("@anthropic-ai/claude-code@2.1.197", "@openai/codex@0.171.0")


@nox.session
def e2e(session: nox.Session) -> None:
    """Real Claude Code and Codex CLIs against `aiclient demo` (npm installs them to e2e/.npm)."""
    session.install("-e", ".[test]")
    session.run(
        "npm",
        "install",
        "--no-audit",
        "--no-fund",
        "--prefix",
        E2E_NPM_PREFIX,
        *E2E_NPM_PACKAGES,
        external=True,
    )
    session.run(
        "pytest", "-q", "-p", "no:cacheprovider", "-m", "e2e", "tests/e2e", *session.posargs
    )


@nox.session
def demo(session: nox.Session) -> None:
    """Run `aiclient demo` in this terminal (Ctrl-C stops it); posargs go to the command."""
    session.install("-e", ".")
    session.run("aiclient", "demo", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (issue 9): daemon vs direct upstream, null proxy, LiteLLM and Portkey.

    Needs `wrk` (apt-get install -y wrk) and, for Portkey, node + npm. Results go to
    bench/results/. BENCH_QUICK=1 for a short run; BENCH_PEERS=0 skips the peers.
    """
    session.install("-e", ".", "botocore", "matplotlib", "py-spy")
    if session.env.get("BENCH_PEERS", "1") != "0":
        session.install("litellm[proxy]")
        session.env["BENCH_LITELLM"] = f"{session.bin}/litellm"
    session.run("python", "bench/run.py", *session.posargs)
