"""Process configuration: defaults, parsing, and errors that name the variable."""
from __future__ import annotations

import json
import logging
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
    ("MAX_UPLOAD_MB", "0"),
    ("MAX_PARSING_REQUESTS", "0"),
    ("SECRET_KEY", "short"),
    ("ENCRYPTION_KEY", "not-a-fernet-key"),
    ("PROXY_ADDRESSES", "10.0.0.0/33"),
])
def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError) as err:
        config(tmp_path, **{name: value})
    assert err.value.name == name
    assert str(err.value).startswith(name)


def test_a_short_admin_password_stops_start_up_and_says_how_long_it_must_be(tmp_path):
    with pytest.raises(ConfigError) as err:
        config(tmp_path, ADMIN_PASSWORD="hunter2hunt")  # 11 characters
    assert str(err.value).startswith("ADMIN_PASSWORD: must be at least 12 characters (it has 11)")
    assert "hunter2hunt" not in str(err.value)
    assert config(tmp_path, ADMIN_PASSWORD="hunter2hunt2").ADMIN_PASSWORD == "hunter2hunt2"
    assert config(tmp_path, ADMIN_PASSWORD="").ADMIN_PASSWORD is None


def test_forwarded_headers_are_believed_from_loopback_and_private_networks_by_default(tmp_path):
    from balancer.forwarded import in_networks
    networks = config(tmp_path).PROXY_ADDRESSES
    for peer in ("127.0.0.1", "::1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "fd00::1",
                 "::ffff:10.0.0.1"):
        assert in_networks(peer, networks), peer
    for peer in ("203.0.113.50", "172.32.0.1", "2001:db8::1", "", "junk"):
        assert not in_networks(peer, networks), peer
    assert config(tmp_path, PROXY_ADDRESSES="").PROXY_ADDRESSES == ()


@pytest.mark.parametrize("almost, why", [
    ("AIza" + "x" * 20, "entry 2 cannot be a key: starts like a standard Gemini key"),
    ("AQ.Ab8RN6LmZ_x", "entry 2 cannot be a key: too short: Gemini auth keys are AQ. followed by 20 or more"),
    ("my-key", "entry 2 cannot be a key: too short for a key"),
])
def test_a_malformed_key_is_not_echoed_in_the_error(tmp_path, almost, why):
    with pytest.raises(ConfigError) as err:
        config(tmp_path, GEMINI_API_KEYS=f"{make_key('cfg', 2)},{almost}")
    assert almost not in str(err.value)
    assert str(err.value).startswith(f"GEMINI_API_KEYS: {why}")


def test_auth_keys_start_balancer_beside_standard_ones(tmp_path):
    aq, aiza = make_key("cfg", 0, kind="auth"), make_key("cfg", 3)
    cfg = config(tmp_path, GEMINI_API_KEYS=f"{aq}, \"{aiza}\"\n'{aq}'")
    assert cfg.GEMINI_API_KEYS == [aq, aiza]


def test_a_key_of_an_unknown_shape_is_taken_with_a_warning(tmp_path, caplog):
    odd = "gk1.Zq8Vn2Lw5Xr7Kp3Ty9Bm4Hc6"
    with caplog.at_level(logging.WARNING, logger="balancer.config"):
        cfg = config(tmp_path, GEMINI_API_KEYS=f"{make_key('cfg', 0, kind='auth')} {odd}")
    assert cfg.GEMINI_API_KEYS[1] == odd
    assert caplog.messages == [
        "GEMINI_API_KEYS: entry 2 does not look like a standard (AIza…) or auth (AQ.…) Gemini key; "
        "added anyway, check it"]


def test_auth_keys_from_the_environment_are_stored_and_shown_masked(make_app, caplog):
    from balancer.services import keys as key_service
    from balancer.services.pools import ensure_default_pool
    aq = [make_key("env", i, kind="auth") for i in range(2)]
    app = make_app(GEMINI_API_KEYS=",".join(aq))
    rt = app.extensions["balancer"]
    with caplog.at_level(logging.INFO):
        rt.services.bootstrap()
    with app.app_context():
        rows = key_service.list_keys()
        assert [r["key"] for r in rows] == [f"{k[:4]}…{k[-3:]}" for k in aq]
        assert [r["label"] for r in rows] == ["env", "env"]
        assert all(k not in json.dumps(rows) for k in aq)
        pool_id = ensure_default_pool().id
    assert rt.keypool.acquire(pool_id, "gemini-2.5-flash").secret in aq
    assert "GEMINI_API_KEYS: 2 added" in caplog.text
    assert all(k not in caplog.text for k in aq)
    # A second start adds nothing twice.
    again = make_app(GEMINI_API_KEYS=",".join(aq))
    again.extensions["balancer"].services.bootstrap()
    with again.app_context():
        assert len(key_service.list_keys()) == 2


def test_socks_proxies_are_accepted(tmp_path):
    assert config(tmp_path, PROXY_URL="socks5://127.0.0.1:1080").PROXY_URL == "socks5://127.0.0.1:1080"
