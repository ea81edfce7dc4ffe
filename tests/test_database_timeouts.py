"""A database server that stops answering ends a wait instead of holding it for ever.

The silent server here is a listening socket nobody reads: the kernel completes the
connection, and then nothing comes, not even the greeting.
"""
from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from balancer.config import Config
from balancer.engine_options import engine_options


@pytest.fixture
def silent_server():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


def config(tmp_path, **env) -> Config:
    return Config({"BALANCER_INSTANCE_PATH": str(tmp_path), **env})


def test_mariadb_gives_up_on_a_server_that_never_greets(silent_server):
    url = f"mysql+pymysql://root@127.0.0.1:{silent_server}/test"
    engine = sa.create_engine(url, **engine_options(url, connect_timeout=1, read_timeout=1))
    with pytest.raises(sa.exc.OperationalError) as err:
        engine.connect()
    engine.dispose()
    assert "Lost connection" in str(err.value) or "timed out" in str(err.value)


def test_postgresql_gives_up_on_a_server_that_never_answers(silent_server):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{silent_server}/test"
    engine = sa.create_engine(url, **engine_options(url, connect_timeout=2))
    with pytest.raises(sa.exc.OperationalError) as err:
        engine.connect()
    engine.dispose()
    assert "timeout" in str(err.value).lower()


def test_the_server_processes_bound_each_answer_and_the_cli_does_not(tmp_path, monkeypatch):
    url = "mysql+pymysql://u@db/balancer"
    cli = config(tmp_path, DATABASE_URL=url).SQLALCHEMY_ENGINE_OPTIONS["connect_args"]
    # A migration's ALTER of a big table may be silent for minutes.
    assert cli == {"connect_timeout": 10}
    monkeypatch.setattr("balancer.config.under_gevent", lambda: True)
    server = config(tmp_path, DATABASE_URL=url, DATABASE_READ_TIMEOUT="60",
                    DATABASE_CONNECT_TIMEOUT="5").SQLALCHEMY_ENGINE_OPTIONS["connect_args"]
    assert server == {"connect_timeout": 5, "read_timeout": 60, "write_timeout": 60}
    off = config(tmp_path, DATABASE_URL=url, DATABASE_READ_TIMEOUT="0")
    assert "read_timeout" not in off.SQLALCHEMY_ENGINE_OPTIONS["connect_args"]


def test_postgresql_finds_a_silent_peer_by_keepalives_everywhere(tmp_path, monkeypatch):
    url = "postgresql+psycopg://u@db/balancer"
    cli = config(tmp_path, DATABASE_URL=url).SQLALCHEMY_ENGINE_OPTIONS["connect_args"]
    assert cli["keepalives"] == 1 and cli["connect_timeout"] == 10
    assert "tcp_user_timeout" not in cli
    monkeypatch.setattr("balancer.config.under_gevent", lambda: True)
    server = config(tmp_path, DATABASE_URL=url).SQLALCHEMY_ENGINE_OPTIONS["connect_args"]
    assert server["tcp_user_timeout"] == 120_000  # milliseconds, as libpq takes it


def test_what_the_database_url_sets_is_kept(tmp_path):
    cfg = config(tmp_path, DATABASE_URL="postgres://u@db/balancer?connect_timeout=30")
    assert "connect_timeout" not in cfg.SQLALCHEMY_ENGINE_OPTIONS["connect_args"]
    engine = sa.create_engine(cfg.SQLALCHEMY_DATABASE_URI, **cfg.SQLALCHEMY_ENGINE_OPTIONS)
    _, params = engine.dialect.create_connect_args(engine.url)
    assert params["connect_timeout"] == "30"
    engine.dispose()


@pytest.mark.parametrize("name, value", [("DATABASE_CONNECT_TIMEOUT", "0"),
                                         ("DATABASE_READ_TIMEOUT", "soon")])
def test_a_bad_timeout_stops_start_up_naming_it(tmp_path, name, value):
    from balancer.config import ConfigError
    with pytest.raises(ConfigError) as err:
        config(tmp_path, DATABASE_URL="mysql://u@db/b", **{name: value})
    assert err.value.name == name
