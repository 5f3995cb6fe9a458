"""Private trees at start: directories 0700, files 0600 at most; fixes are made and logged,
symlinked files are left alone; the real daemon does it before serving."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from conftest import XdgHome
from test_daemon import CONFIG, Cli

from aiclient_trio.config.load import ConfigError
from aiclient_trio.config.types import Config, ServerConfig
from aiclient_trio.daemon.main import check_bind_safety
from aiclient_trio.daemon.permissions import secure_private_trees, secure_tree


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_secure_tree_tightens_everything_but_symlink_targets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "aiclient"
    (root / "copilot").mkdir(parents=True)
    root.chmod(0o755)
    (root / "copilot").chmod(0o775)
    token = root / "copilot" / "github_token.json"
    token.write_text('{"github_token": "gho_x"}')
    token.chmod(0o644)
    private = root / "config.toml"
    private.write_text("")
    private.chmod(0o600)
    outside = tmp_path / "shared.json"
    outside.write_text("{}")
    outside.chmod(0o644)
    (root / "link.json").symlink_to(outside)

    with caplog.at_level(logging.WARNING, logger="aiclient.security"):
        fixes = secure_private_trees([root, tmp_path / "missing"])
    assert {f.path: (f.old_mode, f.new_mode) for f in fixes} == {
        root: (0o755, 0o700),
        root / "copilot": (0o775, 0o700),
        token: (0o644, 0o600),
    }
    assert all(f.fixed for f in fixes)
    assert (_mode(root), _mode(root / "copilot"), _mode(token)) == (0o700, 0o700, 0o600)
    assert _mode(private) == 0o600
    assert _mode(outside) == 0o644  # not ours: reached through a symlink
    assert f"tightened permissions of {token} (0644 -> 0600)" in caplog.text
    assert "gho_x" not in caplog.text
    assert secure_tree(root) == []  # idempotent


def test_non_loopback_bind_needs_an_api_key() -> None:
    check_bind_safety(Config())
    check_bind_safety(Config(server=ServerConfig(host="::1")))
    check_bind_safety(Config(server=ServerConfig(host="0.0.0.0"), api_key="k"))
    for host in ("0.0.0.0", "192.168.1.5", "::", "gw.example"):
        with pytest.raises(ConfigError, match="without an api_key"):
            check_bind_safety(Config(server=ServerConfig(host=host)))


def test_daemon_fixes_open_permissions_at_start(xdg_home: XdgHome) -> None:
    config_dir = xdg_home.config_file.parent
    (config_dir / "kiro").mkdir(parents=True)
    xdg_home.config_file.write_text(CONFIG)
    token = config_dir / "kiro" / "token.json"
    token.write_text("{}")
    for path, mode in ((config_dir, 0o755), (config_dir / "kiro", 0o755), (token, 0o644)):
        path.chmod(mode)
    xdg_home.config_file.chmod(0o644)
    cli = Cli(xdg_home)
    cli("start", "--port", "0")
    try:
        log = cli.log_text()
        assert f"tightened permissions of {token} (0644 -> 0600)" in log
        assert f"tightened permissions of {xdg_home.config_file} (0644 -> 0600)" in log
        assert _mode(token) == 0o600 and _mode(config_dir / "kiro") == 0o700
        assert _mode(config_dir) == 0o700
        assert os.stat(xdg_home.state / "aiclient").st_mode & 0o077 == 0
    finally:
        cli("stop")
