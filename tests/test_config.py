"""Config: precedence flag > env > file > default, validation messages, file edits."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from aiclient_trio.config.file import STARTER_TEXT, set_value, write_starter
from aiclient_trio.config.load import (
    ConfigError,
    config_to_dict,
    diff_keys,
    load_config,
    parse_text_value,
    restart_keys,
)

DATA = Path(__file__).parent / "data" / "config"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_file(tmp_path: Path) -> None:
    config = load_config(path=tmp_path / "missing.toml", environ={})
    assert (config.server.host, config.server.port, config.server.drain_timeout) == (
        "127.0.0.1",
        9090,
        30.0,
    )
    assert (config.output_format, config.default_provider, config.api_key) == (
        "native",
        "copilot",
        None,
    )


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[server]\nport = 8001\nhost = "127.0.0.2"\n[logging]\nlevel = "error"\n'
    )
    environ = {"AICLIENT_PORT": "8002", "AICLIENT_SERVER_HOST": "127.0.0.3"}
    config = load_config(path=path, environ=environ, cli_overrides={"server.port": 8003})
    assert config.server.port == 8003  # flag beats env and file
    assert config.server.host == "127.0.0.3"  # env beats file
    assert config.logging.level == "error"  # file beats default
    assert config.server.drain_timeout == 30.0  # default
    # A flag left unset (None) does not hide the lower layers.
    config = load_config(path=path, environ=environ, cli_overrides={"server.port": None})
    assert config.server.port == 8002


def test_file_layout_with_aliases_and_provider_sections() -> None:
    config = load_config(path=DATA / "commented.toml", environ={})
    assert config.api_key == "file-key-0123456789"
    assert config.kiro.enabled is True
    assert config.aliases == {
        "sonnet": ("copilot/claude-sonnet-4.5",),
        "fast": ("copilot/gpt-4.1", "kiro/claude-haiku-4.5"),
    }


def test_env_values_are_typed(tmp_path: Path) -> None:
    environ = {
        "AICLIENT_PROVIDERS_KIRO_ENABLED": "false",
        "AICLIENT_SERVER_DRAIN_TIMEOUT": "2.5",
        "AICLIENT_SERVER_ALLOWED_HOSTS": "a.test, b.test",
        "AICLIENT_API_KEY": "env-key",
        "AICLIENT_LOG_LEVEL": "WARNING",
        "AICLIENT_UNRELATED_HOOK": "ignored",
    }
    config = load_config(path=tmp_path / "none.toml", environ=environ)
    assert config.kiro.enabled is False
    assert config.server.drain_timeout == 2.5
    assert config.server.allowed_hosts == ("a.test", "b.test")
    assert config.api_key == "env-key"
    assert config.logging.level == "warning"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('[server]\nport = "high"\n', ["server.port", "'high'", "0-65535"]),
        ("[server]\nport = 70000\n", ["server.port", "70000", "0-65535"]),
        ('output_format = "xml"\n', ["output_format", "'xml'", "'native', 'openai', 'anthropic'"]),
        ('[logging]\nlevel = "loud"\n', ["logging.level", "'loud'", "debug, info"]),
        ("[server]\nprot = 1\n", ["unknown key 'server.prot'", "Did you mean 'server.port'"]),
        ("colour = 1\n", ["unknown key 'colour'"]),
        ("[providers.openai]\nenabled = true\n", ["unknown key 'providers.openai'"]),
        ('[models.aliases]\nx = "gpt-4"\n', ["models.aliases.x", "'gpt-4'", "provider/model"]),
        ("[providers.kiro]\nenabled = 1\n", ["providers.kiro.enabled", "true or false"]),
        ("[server\n", ["not valid TOML"]),
        ("[server]\nstream_coalesce_ms = 250\n", ["server.stream_coalesce_ms", "0-100"]),
        ("[server]\nstream_coalesce_ms = -1\n", ["server.stream_coalesce_ms", "0-100"]),
    ],
)
def test_bad_file_names_file_key_value_and_allowed(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path=path, environ={})
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_bad_env_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"environment variable AICLIENT_PORT.*'abc'"):
        load_config(path=tmp_path / "none.toml", environ={"AICLIENT_PORT": "abc"})


def test_bad_flag_value_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"command-line flag.*server.port"):
        load_config(path=tmp_path / "none.toml", environ={}, cli_overrides={"server.port": -1})


def test_show_masks_secrets() -> None:
    config = load_config(path=DATA / "commented.toml", environ={})
    shown = config_to_dict(config)
    assert "file-key-0123456789" not in repr(shown)
    assert shown["api_key"].startswith("****")
    assert shown["providers"]["kiro"]["enabled"] is True
    assert shown["models"]["aliases"]["fast"] == ["copilot/gpt-4.1", "kiro/claude-haiku-4.5"]
    assert config_to_dict(config, mask=False)["api_key"] == "file-key-0123456789"


def test_set_value_edits_one_line_and_keeps_comments(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    shutil.copy(DATA / "commented.toml", path)
    original = path.read_text()
    set_value(path, "server.port", 8200)
    set_value(path, "providers.kiro.enabled", False)
    set_value(path, "logging.level", "debug")  # new section appended
    set_value(path, "models.aliases.opus", ("copilot/claude-opus-4.1",))  # inserted
    set_value(path, "default_provider", "kiro")  # top-level key
    text = path.read_text()
    assert "# a comment that must survive edits" in text
    assert "# my gateway settings" in text
    assert text.count("\n") >= original.count("\n")
    config = load_config(path=path, environ={})
    assert config.server.port == 8200
    assert config.kiro.enabled is False
    assert config.logging.level == "debug"
    assert config.aliases["opus"] == ("copilot/claude-opus-4.1",)
    assert config.aliases["fast"] == ("copilot/gpt-4.1", "kiro/claude-haiku-4.5")
    assert config.default_provider == "kiro"
    assert path.stat().st_mode & 0o777 == 0o600
    set_value(path, "api_key", None)  # unset
    assert load_config(path=path, environ={}).api_key is None


def test_set_value_falls_back_to_full_rewrite_for_inline_tables(tmp_path: Path) -> None:
    path = write(tmp_path, "providers = { kiro = { enabled = true } }\n")
    set_value(path, "providers.kiro.enabled", False)
    assert tomllib.loads(path.read_text()) == {"providers": {"kiro": {"enabled": False}}}


def test_set_value_refuses_invalid_and_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 8100\n")
    with pytest.raises(ConfigError, match=r"server.bogus"):
        set_value(path, "server.bogus", 1)
    with pytest.raises(ConfigError, match=r"server.port"):
        set_value(path, "server.port", 99999)
    assert path.read_text() == "[server]\nport = 8100\n"


def test_parse_text_value_converts_command_line_strings() -> None:
    assert parse_text_value("server.port", "8080", "t") == 8080
    assert parse_text_value("providers.copilot.enabled", "off", "t") is False
    assert parse_text_value("api_key", "", "t") is None
    assert parse_text_value("models.aliases.x", "copilot/a, kiro/b", "t") == ("copilot/a", "kiro/b")
    with pytest.raises(ConfigError, match=r"server.port.*'eighty'"):
        parse_text_value("server.port", "eighty", "t")
    with pytest.raises(ConfigError, match=r"true or false"):
        parse_text_value("ledger.enabled", "maybe", "t")


def test_starter_file_is_valid_and_all_commented(tmp_path: Path) -> None:
    path = tmp_path / "aiclient" / "config.toml"
    write_starter(path)
    assert path.read_text() == STARTER_TEXT
    assert load_config(path=path, environ={}) == load_config(path=tmp_path / "x", environ={})


def test_diff_reports_keys_needing_restart(tmp_path: Path) -> None:
    old = load_config(path=tmp_path / "none.toml", environ={})
    new = load_config(
        path=tmp_path / "none.toml",
        environ={"AICLIENT_PORT": "9999", "AICLIENT_LOG_LEVEL": "debug", "AICLIENT_API_KEY": "k"},
    )
    changed = diff_keys(old, new)
    assert changed == ["api_key", "logging.level", "server.port"]
    assert restart_keys(changed) == ["server.port"]


def test_aiclient_config_names_another_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 8444\n")
    assert load_config(environ={"AICLIENT_CONFIG": str(path)}).server.port == 8444
