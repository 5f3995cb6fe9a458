"""Start-up check of the daemon's private trees (config with credentials, state, runtime):
directories 0700 and files 0600 at most; looser modes are tightened and each fix is logged.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PermissionFix", "loose_entries", "secure_private_trees", "secure_tree"]

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


def loose_entries(root: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """`root` and everything below it that group or other may use, with its `lstat`.

    Symlinks are neither followed nor reported (what they point to is not ours); a missing
    root, or an entry gone or unreadable while we look, is passed over."""
    try:
        info = root.lstat()
    except OSError:
        return
    if stat.S_ISLNK(info.st_mode):
        return
    if stat.S_IMODE(info.st_mode) & _OPEN_BITS:
        yield root, info
    if not stat.S_ISDIR(info.st_mode):
        return
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        for name in (*dirnames, *filenames):
            path = Path(directory, name)
            try:
                entry = path.lstat()
            except OSError:
                continue
            if not stat.S_ISLNK(entry.st_mode) and stat.S_IMODE(entry.st_mode) & _OPEN_BITS:
                yield path, entry


def _fix(path: Path, info: os.stat_result) -> PermissionFix:
    mode = stat.S_IMODE(info.st_mode)
    wanted = mode & ~_OPEN_BITS
    if info.st_uid != os.getuid():
        return PermissionFix(path, mode, wanted, fixed=False)
    try:
        os.chmod(path, wanted, follow_symlinks=False)
    except OSError:
        return PermissionFix(path, mode, wanted, fixed=False)
    return PermissionFix(path, mode, wanted, fixed=True)


def secure_tree(root: Path) -> list[PermissionFix]:
    """Strip group/other bits from `root` and everything below it (`loose_entries`)."""
    return [_fix(path, info) for path, info in loose_entries(root)]


def secure_private_trees(roots: Iterable[Path]) -> list[PermissionFix]:
    """`secure_tree` for each root, logging every change (or failure to change)."""
    fixes = [fix for root in roots for fix in secure_tree(root)]
    for fix in fixes:
        if fix.fixed:
            log.warning("%s", fix.describe())
        else:
            log.error("%s; fix it by hand: chmod go-rwx '%s'", fix.describe(), fix.path)
    return fixes
