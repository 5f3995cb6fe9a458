"""Start-up check of the daemon's private trees (config with credentials, state, runtime):
directories 0700 and files 0600 at most; looser modes are tightened and each fix is logged.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PermissionFix", "secure_private_trees", "secure_tree"]

log = logging.getLogger("aiclient.security")

# Group and other bits: none of them belong on anything holding tokens, usage or sockets.
_OPEN_BITS = stat.S_IRWXG | stat.S_IRWXO


@dataclass(frozen=True, slots=True)
class PermissionFix:
    path: Path
    old_mode: int
    new_mode: int
    fixed: bool  # False: not ours to change (owned by another user) or chmod failed

    def describe(self) -> str:
        change = f"{self.old_mode:04o} -> {self.new_mode:04o}"
        if self.fixed:
            return f"tightened permissions of {self.path} ({change})"
        return f"cannot tighten permissions of {self.path} ({change} needed)"


def _fix(path: Path, info: os.stat_result) -> PermissionFix | None:
    mode = stat.S_IMODE(info.st_mode)
    if not mode & _OPEN_BITS:
        return None
    wanted = mode & ~_OPEN_BITS
    if info.st_uid != os.getuid():
        return PermissionFix(path, mode, wanted, fixed=False)
    try:
        os.chmod(path, wanted, follow_symlinks=False)
    except OSError:
        return PermissionFix(path, mode, wanted, fixed=False)
    return PermissionFix(path, mode, wanted, fixed=True)


def secure_tree(root: Path) -> list[PermissionFix]:
    """Strip group/other bits from `root` and everything below it (symlinks are neither
    followed nor changed: what they point to is not ours). A missing root is fine."""
    fixes: list[PermissionFix] = []
    try:
        info = root.lstat()
    except FileNotFoundError:
        return fixes
    if stat.S_ISLNK(info.st_mode):
        return fixes
    if (fix := _fix(root, info)) is not None:
        fixes.append(fix)
    if not stat.S_ISDIR(info.st_mode):
        return fixes
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        for name in (*dirnames, *filenames):
            path = Path(directory, name)
            try:
                entry = path.lstat()
            except FileNotFoundError:
                continue  # removed while we looked
            if stat.S_ISLNK(entry.st_mode):
                continue
            if (fix := _fix(path, entry)) is not None:
                fixes.append(fix)
    return fixes


def secure_private_trees(roots: Iterable[Path]) -> list[PermissionFix]:
    """`secure_tree` for each root, logging every change (or failure to change)."""
    fixes = [fix for root in roots for fix in secure_tree(root)]
    for fix in fixes:
        if fix.fixed:
            log.warning("%s", fix.describe())
        else:
            log.error("%s; fix it by hand: chmod go-rwx '%s'", fix.describe(), fix.path)
    return fixes
