"""The first minute of a pool: its model list is fetched as soon as it has a usable key."""
from __future__ import annotations

import time

from balancer.extensions import db
from balancer.models import Pool
from balancer.services import keys as key_service
from balancer.services import pools as pool_service
from tests.conftest import TOKEN
from tests.fake_upstream import make_key

#: Far below the models round's interval (48 to 72 s): only "at once" gets there.
WITHIN = 8.0


def wait_for(check, within=WITHIN):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def list_calls(upstream) -> list:
    return [r for r in upstream.requests if r["path"].rstrip("/").endswith("/models")]


def test_keys_from_the_environment_bring_the_model_list_within_seconds(make_app, upstream):
    app = make_app(GEMINI_API_KEYS=",".join(make_key("first", i, kind="auth") for i in range(2)))
    rt = app.extensions["balancer"]
    started = time.monotonic()
    rt.services.start()
    assert wait_for(lambda: "gemini-2.5-flash" in rt.catalog.default_pool().models)
    assert time.monotonic() - started < WITHIN
    listed = app.test_client().get("/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})
    ids = {m["id"] for m in listed.get_json()["data"]}
    assert {"gemini-2.5-flash", "gemini-3-flash-preview", "gemini-embedding-001"} <= ids
    assert len(list_calls(upstream)) == 1


def test_a_new_pool_gets_its_list_when_its_first_key_is_added(make_app, upstream):
    app = make_app()
    rt = app.extensions["balancer"]
    rt.services.start()
    with app.app_context():
        db.session.add(Pool(name="groq", kind="openai", base_url=f"{upstream.url}/openai/v1",
                            overrides={}))
        db.session.commit()
        pool_service.load_catalog(rt)
        pool = db.session.query(Pool).filter_by(name="groq").one()
        pool_id = pool.id
        time.sleep(0.5)
        assert not rt.catalog.pools[pool_id].models  # no key, no list
        key_service.add_keys(rt, [make_key("groq-first", 0, openai=True)], pool)
    assert wait_for(lambda: rt.catalog.pools[pool_id].models)
    assert "gpt-4o-mini" in rt.catalog.pools[pool_id].models


def test_a_pool_whose_list_is_switched_off_is_not_fetched(make_app, upstream):
    app = make_app(GEMINI_API_KEYS=make_key("never", 0, kind="auth"))
    rt = app.extensions["balancer"]
    from balancer.services import settings as settings_service
    with app.app_context():
        settings_service.update(rt, {"models_refresh_seconds": 0})
    rt.services.start()
    time.sleep(2.0)
    assert list_calls(upstream) == []
