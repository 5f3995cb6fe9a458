"""`aiclient doctor`: one group per provider.

Per-provider checks without spending quota: credential, refresh / token exchange, model list,
quota, endpoint and API version. From the running daemon, else by running the provider here.

With a daemon, its view is read over the control socket (state, models, quota and the last
failed upstream exchange). Without one, `probe()` runs the provider's own `run()` in this
process until its first credential check is done, reads its models and quota, then stops
it: the same code the daemon runs, so it fails the way the daemon would. Neither sends a
chat request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trio
import trio.testing

from aiclient_trio.cli.doctor.context import DoctorContext
from aiclient_trio.cli.doctor.diagnose import Diagnosis, diagnose, kiro_region_problem
from aiclient_trio.cli.ops import when
from aiclient_trio.cli.version_check import upgrade_command
from aiclient_trio.config import paths
from aiclient_trio.config.types import Config
from aiclient_trio.daemon.control import ControlClient, ControlError, DaemonNotRunning
from aiclient_trio.providers import registry

__all__ = ["check_providers", "probe"]

_READY = ("ready", "refreshing")
# Signed in, but the upstream refuses the client version: the models check says why.
_SIGNED_IN = (*_READY, "outdated")


class _Collect(logging.Handler):
    """Keeps the probe's log lines (redacted) for the report instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        from aiclient_trio.log import RedactionFilter

        self.addFilter(RedactionFilter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


@contextmanager
def _quiet_logs() -> Iterator[_Collect]:
    handler = _Collect()
    saved = []
    for name in ("aiclient", "aiclient_trio"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate, logger.level))
        logger.addHandler(handler)
        logger.propagate = False
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        for logger, propagate, level in saved:
            logger.removeHandler(handler)
            logger.propagate = propagate
            logger.setLevel(level)


async def _probe(name: str, config: Config, limit: float) -> dict[str, Any]:
    provider = registry.create_provider(name, config)
    view: dict[str, Any] = {"source": "probe"}
    try:
        with trio.move_on_after(limit) as scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(provider.run)
                # Let the refresh loop look at the credential once (it may sign out at once).
                await trio.testing.wait_all_tasks_blocked(0.05)
                if provider.status.value.ready:
                    view["quota"] = await provider.quota()
                    await trio.testing.wait_all_tasks_blocked(0.05)
                nursery.cancel_scope.cancel()
        if scope.cancelled_caught:
            view["timed_out"] = limit
    except Exception as exc:
        view["crashed"] = f"{type(exc).__name__}: {exc}"
    finally:
        with trio.CancelScope(shield=True):
            await provider.aclose()
    view.update(provider.status.value.to_json())
    view["models"] = [m.to_json() for m in provider.models()]
    tokens = getattr(provider, "tokens", None)
    api_url = getattr(getattr(tokens, "current", None), "api_url", None)
    if isinstance(api_url, str):
        view["api_url"] = api_url
    return view


def probe(name: str, config: Config, timeout: float) -> tuple[dict[str, Any], list[str]]:
    """Run provider `name` here for a moment: (its view, the log lines it wrote)."""
    with _quiet_logs() as logs:
        view = trio.run(_probe, name, config, timeout)
    return view, logs.lines


def _daemon_view(ctx: DoctorContext, name: str) -> dict[str, Any]:
    assert ctx.daemon is not None
    state = dict((ctx.daemon.get("providers") or {}).get(name) or {})
    view: dict[str, Any] = {"source": "daemon", **state}
    view["quota"] = (ctx.daemon.get("quota") or {}).get(name)
    client = ControlClient(paths.control_socket(), timeout=ctx.options.timeout)
    try:
        view["models"] = client.call("models", {"provider": name}).get("models") or []
    except (DaemonNotRunning, ControlError, OSError, ValueError, AttributeError):
        view["models"] = []
    return view


def _daemon_failures(ctx: DoctorContext) -> dict[str, dict[str, Any]]:
    client = ControlClient(paths.control_socket(), timeout=ctx.options.timeout)
    try:
        result = client.call("upstream.failures")
    except (DaemonNotRunning, ControlError, OSError, ValueError):
        return {}
    return result if isinstance(result, dict) else {}


def _profile_region(name: str) -> str | None:
    if name != "kiro":
        return None
    from aiclient_trio.providers.kiro.credentials import TokenStore

    arn = str((TokenStore().load() or {}).get("profileArn") or "")
    fields = arn.split(":")
    return fields[3] if len(fields) > 3 and fields[3] else None


def _check_credential(ctx: DoctorContext, name: str) -> bool:

    try:
        summary = registry.credential_summary(name)
    except (ImportError, AttributeError) as exc:
        ctx.checklist.fail(name, "credential", f"unavailable in this build: {exc}", None)
        return False
    if not summary.get("signed_in"):
        ctx.checklist.fail(
            name,
            "credential",
            f"not signed in (nothing usable at {summary.get('path')})",
            f"aiclient auth {name}",
        )
        return False
    who = f" as {summary['account']}" if summary.get("account") else ""
    expires = summary.get("expires_at")
    if isinstance(expires, int | float):
        verb = "expires" if expires > time.time() else "expired"
        life = f"; access token {verb} {when(expires)} (renewed automatically)"
    else:
        life = "; does not expire"
    ctx.checklist.ok(name, "credential", f"signed in{who}{life}; {summary.get('path')}")
    return True


def _place(ctx: DoctorContext, name: str, check: str, diagnosis: Diagnosis | None) -> bool:
    """Report `diagnosis` under `check` when it belongs there; True if it did."""
    if diagnosis is None or diagnosis.check != check:
        return False
    ctx.checklist.fail(name, check, diagnosis.detail, diagnosis.fix)
    return True


def _kind(diagnosis: Diagnosis | None) -> str | None:
    return diagnosis.kind if diagnosis is not None else None


def _check_view(
    ctx: DoctorContext,
    name: str,
    view: dict[str, Any],
    diagnosis: Diagnosis | None,
) -> None:
    state = str(view.get("state") or "unknown")
    ready = state in _READY
    models = [m for m in view.get("models") or [] if m.get("provider", name) == name]
    # A recorded failure explains the state now, unless the provider has recovered since.
    sign_in = diagnosis if not ready else None
    listing = diagnosis if (not ready or not models or _kind(diagnosis) == "api_version") else None
    what = "token exchange" if name == "copilot" else "token refresh"
    if not _place(ctx, name, "sign-in", sign_in):
        if state in _SIGNED_IN:
            ctx.checklist.ok(
                name, "sign-in", f"{what} works ({state}, seen by the {view['source']})"
            )
        elif view.get("timed_out"):
            ctx.checklist.fail(
                name,
                "sign-in",
                f"no answer within {view['timed_out']:g} s",
                "see the network checks below; then aiclient restart",
            )
        else:
            reason = view.get("reason") or view.get("crashed") or state
            ctx.checklist.fail(
                name, "sign-in", f"{state}: {reason}", view.get("fix") or "aiclient logs"
            )
    if not _place(ctx, name, "models", listing):
        if state == "outdated":
            ctx.checklist.fail(
                name, "models", f"outdated: {view.get('reason')}", view.get("fix") or None
            )
        elif not ready:
            ctx.checklist.skip(name, "models", f"skipped: {name} is not signed in and ready")
        elif not models:
            failure = ctx.failures.get(name)
            why = (
                f" (last failure: HTTP {failure.get('status')} on {failure.get('path')})"
                if failure
                else ""
            )
            ctx.checklist.fail(name, "models", f"the model list is empty{why}", "aiclient logs")
        else:
            ids = ", ".join(str(m.get("id")) for m in models[:4])
            more = f" and {len(models) - 4} more" if len(models) > 4 else ""
            ctx.checklist.ok(name, "models", f"{len(models)} listed: {ids}{more}")
    quota = view.get("quota")
    if not ready:
        ctx.checklist.skip(name, "quota", f"skipped: {name} is not ready")
    elif not isinstance(quota, dict):
        ctx.checklist.ok(name, "quota", "the upstream reports none")
    elif quota.get("error"):
        ctx.checklist.warn(name, "quota", f"could not read it: {quota['error']}", "aiclient logs")
    else:
        ctx.checklist.ok(name, "quota", _quota_text(quota))
    if not _place(ctx, name, "endpoint", diagnosis):
        if name == "kiro":
            _check_kiro_hosts(ctx)
        else:
            ctx.checklist.ok(name, "endpoint", _endpoint_text(ctx.effective_config, name, view))


def _quota_text(quota: dict[str, Any]) -> str:
    if quota.get("unlimited"):
        return f"unlimited {quota.get('unit') or ''}".strip()
    remaining, limit = quota.get("remaining"), quota.get("limit")
    unit = quota.get("unit") or ""
    resets = f", resets {quota['resets_at']}" if quota.get("resets_at") else ""
    if remaining is None and limit is None:
        return "readable"
    return f"{remaining} of {limit} {unit} left{resets}".replace("  ", " ")


def _endpoint_text(config: Config, name: str, view: dict[str, Any]) -> str:
    if name == "copilot":
        api = view.get("api_url") or "from the token exchange"
        return (
            f"API version {config.copilot.api_version}, {config.copilot.editor_version} "
            f"accepted; Copilot API {api}"
        )
    return "in use"


def _check_kiro_hosts(ctx: DoctorContext) -> None:
    """The chat host family in use answers (the endpoint family / API version check)."""
    from aiclient_trio.cli.doctor.hosts import chat_host_state, kiro_chat_hosts

    config = ctx.effective_config
    region = _profile_region("kiro")
    tried: list[str] = []
    for family, url, target in kiro_chat_hosts(config):
        alive, why = chat_host_state(url, target, ctx.options.timeout)
        if alive:
            note = f" ({', '.join(tried)} gone: auto moved on)" if tried else ""
            detail = f"{family} at {url} answers{note}; profile region {region or 'unknown'}"
            if tried:
                ctx.checklist.warn(
                    "kiro",
                    "endpoint",
                    detail,
                    f"upgrade aiclient ({_upgrade()}): Kiro has moved hosts since this release",
                )
            else:
                ctx.checklist.ok("kiro", "endpoint", detail)
            return
        tried.append(f"{family} {url} {why}")
    setting = config.kiro.endpoint
    pinned = (
        f"; providers.kiro.endpoint is {setting}: aiclient config set providers.kiro.endpoint auto"
        if setting != "auto"
        else ""
    )
    ctx.checklist.fail(
        "kiro",
        "endpoint",
        "no Kiro chat host answers (retired, or out of reach: see the network checks): "
        + "; ".join(tried),
        f"upgrade aiclient ({_upgrade()}): Kiro moves its API hosts{pinned}; remove any "
        "providers.kiro.api_url override",
    )


def _upgrade() -> str:

    return upgrade_command()


# Providers whose sign-in can be checked again while the daemon runs: a Copilot token exchange
# changes nothing, a Kiro refresh rotates the refresh token the daemon holds.
_SAFE_TO_PROBE = ("copilot",)


def _probe_here(ctx: DoctorContext, name: str, config: Config) -> tuple[dict[str, Any], list[str]]:
    """`probe()`, its failed exchange noted in the context."""
    from aiclient_trio.providers.failures import last_failures

    try:
        view, logs = probe(name, config, max(ctx.options.timeout, 5.0))
    except Exception as exc:  # the provider could not even be built (bad CA file...)
        view = {"source": "probe", "state": "error", "models": []}
        view["crashed"] = f"{type(exc).__name__}: {exc}"
        logs = []
    failure = last_failures().get(name)
    if failure is not None and (ctx.daemon is None or view.get("state") not in _SIGNED_IN):
        ctx.failures[name] = failure
    return view, logs


def check_providers(ctx: DoctorContext) -> None:
    config = ctx.effective_config
    if ctx.daemon is not None:
        ctx.failures = _daemon_failures(ctx)
    for name in ctx.provider_names():
        if not ctx.enabled(name):
            ctx.checklist.skip(
                name, "enabled", f"skipped: disabled (aiclient provider enable {name})"
            )
            continue
        if not _check_credential(ctx, name):
            for check in ("sign-in", "models", "quota", "endpoint"):
                ctx.checklist.skip(name, check, "skipped: not signed in")
            continue
        logs: list[str] = []
        if ctx.daemon is not None:
            view = _daemon_view(ctx, name)
            if name in _SAFE_TO_PROBE and view.get("state") in _READY:
                # The daemon notices a revoked token or a lost seat only at its next refresh:
                # a fresh exchange here (it spends nothing and rotates nothing) says it now.
                fresh, logs = _probe_here(ctx, name, config)
                if fresh.get("api_url"):
                    view["api_url"] = fresh["api_url"]  # the host the exchange names
                if fresh.get("state") not in _SIGNED_IN:
                    view = {**view, **{k: fresh.get(k) for k in ("state", "reason", "fix")}}
                    view["source"] = "doctor's own token exchange"
        else:
            view, logs = _probe_here(ctx, name, config)
        region = _profile_region(name)
        diagnosis = diagnose(name, view, ctx.failures.get(name), config, region)
        if diagnosis is None and name == "kiro":
            diagnosis = kiro_region_problem(config, region)
        ctx.providers[name] = {
            **{k: v for k, v in view.items() if k != "models"},
            "model_count": len(view.get("models") or []),
            "diagnosis": diagnosis.kind if diagnosis else None,
            "probe_log": logs,
        }
        _check_view(ctx, name, view, diagnosis)
