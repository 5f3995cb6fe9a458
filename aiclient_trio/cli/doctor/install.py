"""`aiclient doctor`: the install group.

Install checks: version (and PyPI's newest, when online), Python, dependencies, paths, file and
directory modes, config validity. Local file reads only, plus one PyPI request.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import stat
import sys

from aiclient_trio import __version__
from aiclient_trio.cli.doctor.context import DoctorContext
from aiclient_trio.cli.version_check import PACKAGE, check_release, compare, upgrade_command
from aiclient_trio.config import paths
from aiclient_trio.config.load import ConfigError, default_config_path, load_config
from aiclient_trio.config.paths import log_path
from aiclient_trio.daemon.permissions import loose_entries

__all__ = ["check_install", "requirement_problem"]

GROUP = "install"
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*)(;.*)?$")
_SPEC = re.compile(r"^\s*(>=|<=|==|!=|~=|>|<)\s*([^\s,]+)\s*$")


def requirement_problem(requirement: str, installed: str | None) -> str | None:
    """Why `installed` does not satisfy `requirement` ("trio>=0.35,<0.36"), or None."""

    match = _REQUIREMENT.match(requirement)
    if match is None:
        return None
    name, specs = match.group(1), match.group(2)
    if installed is None:
        return f"{name} is not installed"
    for spec in filter(None, (s.strip() for s in specs.split(","))):
        found = _SPEC.match(spec)
        if found is None:
            continue
        op, wanted = found.groups()
        try:
            order = compare(installed, wanted)
        except ValueError:
            continue
        ok = {
            ">=": order >= 0,
            "<=": order <= 0,
            ">": order > 0,
            "<": order < 0,
            "==": order == 0,
            "!=": order != 0,
            "~=": order >= 0,
        }[op]
        if not ok:
            return f"{name} {installed} does not satisfy {spec}"
    return None


def _check_version(ctx: DoctorContext) -> None:

    here = f"aiclient {__version__}"
    try:
        release = check_release()
    except Exception as exc:  # broken TLS settings: the network checks say more
        ctx.checklist.ok(GROUP, "version", f"{here} (PyPI not asked: {type(exc).__name__})")
        return
    if release.latest is None:
        ctx.checklist.ok(GROUP, "version", f"{here} (PyPI not reachable: newest release unknown)")
    elif release.newer_available:
        ctx.checklist.warn(
            GROUP,
            "version",
            f"{here}; {release.latest} is out (upstream services change: fixes arrive in releases)",
            f"{upgrade_command()}, then: aiclient restart",
        )
    else:
        ctx.checklist.ok(GROUP, "version", f"{here} (newest on PyPI: {release.latest})")


def _check_python(ctx: DoctorContext) -> None:
    version = ".".join(map(str, sys.version_info[:3]))
    where = f"Python {version} ({sys.executable})"
    ctx.checklist.ok(GROUP, "python", where)  # the package refuses to install on older ones


def _check_dependencies(ctx: DoctorContext) -> None:

    try:
        requirements = importlib.metadata.requires(PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        ctx.checklist.warn(
            GROUP,
            "dependencies",
            f"{PACKAGE} is not installed as a package (running from a source tree?)",
            f"pip install {PACKAGE}",
        )
        return
    problems: list[str] = []
    found: list[str] = []
    seen: set[str] = set()
    for requirement in requirements:
        if "extra ==" in requirement:
            continue
        match = _REQUIREMENT.match(requirement)
        if match is None:
            continue
        name = match.group(1)
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        try:
            installed: str | None = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        problem = requirement_problem(requirement, installed)
        if problem:
            problems.append(problem)
        else:
            found.append(f"{name} {installed}")
    if problems:
        ctx.checklist.fail(
            GROUP,
            "dependencies",
            "; ".join(problems),
            f"reinstall: {upgrade_command().replace('--upgrade', '--force-reinstall')}",
        )
    else:
        ctx.checklist.ok(GROUP, "dependencies", ", ".join(found))


def _check_paths(ctx: DoctorContext) -> None:
    from aiclient_trio.daemon.main import ledger_path

    config = ctx.effective_config
    where = {
        "config": paths.config_file(),
        "credentials": paths.config_dir(),
        "ledger": ledger_path(),
        "log": log_path(config),
        "runtime": paths.runtime_dir(),
    }
    ctx.checklist.ok(GROUP, "paths", ", ".join(f"{k} {v}" for k, v in where.items()))
    if not os.environ.get("XDG_RUNTIME_DIR"):
        ctx.checklist.ok(
            GROUP, "runtime dir", f"XDG_RUNTIME_DIR unset: using {paths.runtime_dir()}"
        )


def _check_modes(ctx: DoctorContext) -> None:
    roots = [paths.config_dir(), paths.state_dir(), paths.runtime_dir()]
    loose: list[str] = []
    foreign: list[str] = []
    for root in roots:
        for path, info in loose_entries(root):
            mine = info.st_uid == os.getuid()
            (loose if mine else foreign).append(f"{path} ({stat.S_IMODE(info.st_mode):04o})")
    if foreign:
        ctx.checklist.fail(
            GROUP,
            "file modes",
            "readable by others and not owned by you: " + ", ".join(foreign[:5]),
            "chmod go-rwx those paths as their owner (or root)",
        )
    elif loose:
        shown = ", ".join(loose[:5]) + (f" and {len(loose) - 5} more" if len(loose) > 5 else "")
        ctx.checklist.warn(
            GROUP,
            "file modes",
            f"group/other may read: {shown} (the daemon tightens them when it starts)",
            "chmod -R go-rwx " + " ".join(f"'{r}'" for r in roots if r.exists()),
        )
    else:
        ctx.checklist.ok(GROUP, "file modes", "config, credentials, state and runtime are private")


def _check_config(ctx: DoctorContext) -> None:
    from aiclient_trio.daemon.main import check_bind_safety

    path = default_config_path()
    try:
        ctx.config = load_config(path=path)
        check_bind_safety(ctx.config)
    except ConfigError as exc:
        ctx.config_error = str(exc)
        ctx.checklist.fail(
            GROUP,
            "config",
            str(exc),
            f"edit {path} (or start over: mv it away, then `aiclient config init`)",
        )
        return
    source = str(path) if path.exists() else f"defaults (no file at {path})"
    ctx.checklist.ok(GROUP, "config", f"valid: {source}")


def check_install(ctx: DoctorContext) -> None:
    _check_version(ctx)
    _check_python(ctx)
    _check_dependencies(ctx)
    _check_config(ctx)
    _check_paths(ctx)
    _check_modes(ctx)
