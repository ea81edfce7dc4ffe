"""Fixtures: a real database (BALANCER_TEST_DB), the fake upstream, an app, a client."""
from __future__ import annotations

import os

import pytest

from balancer import create_app
from balancer.config import Config
from tests.fake_upstream import FakeUpstream, make_key
from tests.live import LiveBalancer, migrated_app

TOKEN = "test-client-token"
SECRET = "test-secret-key-that-is-long-enough"

DATABASES = {
    "sqlite": None,
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}


def database_kind() -> str:
    """Which database this run uses (BALANCER_TEST_DB, default sqlite)."""
    kind = os.environ.get("BALANCER_TEST_DB", "sqlite")
    if kind not in DATABASES:
        raise pytest.UsageError(f"BALANCER_TEST_DB must be one of {', '.join(DATABASES)}")
    return kind


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """A migrated, empty database for the whole run."""
    url = DATABASES[database_kind()] or f"sqlite:///{tmp_path_factory.mktemp('db') / 'balancer.db'}"
    app = migrated_app(test_env(url, "http://127.0.0.1:9", tmp_path_factory.mktemp("inst")))
    with app.app_context():
        from balancer.extensions import db
        db.engine.dispose()
    return url


def test_env(url: str, upstream: str, instance, **extra) -> dict:
    """The environment a test app is configured from."""
    env = {"DATABASE_URL": url, "SECRET_KEY": SECRET, "GEMINI_BASE_URL": upstream,
           "ALLOWED_TOKENS": TOKEN, "BALANCER_INSTANCE_PATH": str(instance), "LOG_LEVEL": "INFO"}
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


@pytest.fixture(scope="session")
def fake():
    """The fake upstream, serving for the whole run."""
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def upstream(fake):
    """The fake upstream, reset for this test."""
    fake.reset()
    yield fake
    fake.reset()


def _empty_tables(db) -> None:
    from balancer.extensions import Base
    with db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def make_app(database_url, upstream, tmp_path):
    """Build apps on the shared database (emptied first); extra env as keyword args."""
    from balancer.extensions import db
    apps = []

    def build(**extra):
        app = create_app(Config(test_env(database_url, upstream.url, tmp_path, **extra)))
        app.config["TESTING"] = True
        if not apps:
            with app.app_context():
                _empty_tables(db)
        apps.append(app)
        return app

    yield build
    for app in apps:
        rt = app.extensions["balancer"]
        if rt.services is not None:
            rt.services.stop(timeout=5)
        rt.upstream.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    """An app whose key pool is loaded (no background threads: tests flush by hand)."""
    app = make_app()
    app.extensions["balancer"].services.bootstrap()
    return app


@pytest.fixture
def rt(app):
    """The app's runtime."""
    return app.extensions["balancer"]


@pytest.fixture
def client(app):
    """A test client."""
    return app.test_client()


@pytest.fixture
def auth():
    """Headers of an authenticated OpenAI-style client."""
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def keys(rt, app, upstream):
    """Add n fake Gemini keys to the default pool; ``modes`` scripts some in the fake.

    ``kind="auth"`` makes auth keys (``AQ.…``) instead of standard ones (``AIza…``).
    """
    from balancer.services import keys as key_service

    def add(n: int, tag: str = "k", modes=None, group=None, kind=None) -> list[str]:
        made = [make_key(tag, i, kind=kind) for i in range(n)]
        with app.app_context():
            key_service.add_keys(rt, made, group=group)
        for key, spec in (modes or {}).items():
            spec = spec if isinstance(spec, dict) else {"mode": spec}
            upstream.set_key(key, **spec)
        return made

    return add


@pytest.fixture
def live_env(make_app, database_url, upstream, tmp_path):
    """Environment for a live Balancer on the shared test database (emptied first)."""
    app = make_app()
    from balancer.services import settings as settings_service
    with app.app_context():
        settings_service.update(app.extensions["balancer"], {"sync_interval_seconds": 0.5})

    def env(keys: list[str], **extra) -> dict:
        return {"DATABASE_URL": database_url, "SECRET_KEY": SECRET, "GEMINI_BASE_URL": upstream.url,
                "ALLOWED_TOKENS": TOKEN, "GEMINI_API_KEYS": ",".join(keys),
                "BALANCER_INSTANCE_PATH": str(tmp_path), "LOG_LEVEL": "INFO", **extra}
    return env


@pytest.fixture
def start(live_env):
    """Start a live Balancer with given keys; stopped at the end of the test."""
    running = []

    def run(keys: list[str], **extra) -> LiveBalancer:
        live = LiveBalancer(live_env(keys, **extra)).start()
        running.append(live)
        return live

    yield run
    for live in running:
        live.stop()


@pytest.fixture
def compat(app, rt):
    """The default pool serves OpenAI clients through Google's OpenAI layer (``openai_api=compat``)."""
    from balancer.services import pools as pool_service
    with app.app_context():
        pool_service.edit_pool(rt, "gemini", overrides={"openai_api": "compat"})
