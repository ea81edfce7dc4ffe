"""Process configuration: defaults, parsing, and errors that name the variable."""
from __future__ import annotations

import os
import stat

import pytest

from balancer.config import Config, ConfigError
from tests.fake_upstream import make_key


def config(tmp_path, **env) -> Config:
    return Config({"BALANCER_INSTANCE_PATH": str(tmp_path), **env})


def test_defaults_give_sqlite_under_instance_and_a_generated_secret(tmp_path):
    cfg = config(tmp_path)
    assert cfg.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///")
    assert cfg.GEMINI_BASE_URL == "https://generativelanguage.googleapis.com"
    secret_file = tmp_path / "secret_key"
    assert secret_file.read_text() == cfg.SECRET_KEY
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600


def test_the_generated_secret_is_kept_across_restarts(tmp_path):
    assert config(tmp_path).SECRET_KEY == config(tmp_path).SECRET_KEY


def test_gemini_keys_are_split_on_commas_and_whitespace_and_deduplicated(tmp_path):
    a, b = make_key("cfg", 0), make_key("cfg", 1)
    cfg = config(tmp_path, GEMINI_API_KEYS=f"{a}, {b}\n{a}  ")
    assert cfg.GEMINI_API_KEYS == [a, b]


def test_platform_database_urls_get_a_driver(tmp_path):
    assert config(tmp_path, DATABASE_URL="postgres://u@h/db").SQLALCHEMY_DATABASE_URI == \
        "postgresql+psycopg://u@h/db"
    assert config(tmp_path, DATABASE_URL="mysql://u@h/db").SQLALCHEMY_DATABASE_URI == \
        "mysql+pymysql://u@h/db"


@pytest.mark.parametrize("name, value", [
    ("DATABASE_URL", "oracle://x"),
    ("GEMINI_API_KEYS", "not-a-key"),
    ("GEMINI_BASE_URL", "ftp://example.com"),
    ("PROXY_URL", "gopher://proxy"),
    ("LOG_LEVEL", "LOUD"),
    ("MAX_REQUEST_MB", "lots"),
    ("SECRET_KEY", "short"),
    ("ENCRYPTION_KEY", "not-a-fernet-key"),
])
def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError) as err:
        config(tmp_path, **{name: value})
    assert err.value.name == name
    assert str(err.value).startswith(name)


def test_a_malformed_key_is_not_echoed_in_the_error(tmp_path):
    almost = "AIza" + "x" * 20
    with pytest.raises(ConfigError) as err:
        config(tmp_path, GEMINI_API_KEYS=almost)
    assert almost not in str(err.value)


def test_socks_proxies_are_accepted(tmp_path):
    assert config(tmp_path, PROXY_URL="socks5://127.0.0.1:1080").PROXY_URL == "socks5://127.0.0.1:1080"
