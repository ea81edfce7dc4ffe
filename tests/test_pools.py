"""Pools and their model lists: validation, effects on the catalog, refresh from the upstream."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from balancer.extensions import db
from balancer.keypool.records import KeyStatus
from balancer.models import ApiKey, KeyEvent, KeyModelState, Pool
from balancer.models.types import utcnow
from balancer.services import keys as key_service
from balancer.services import models as model_service
from balancer.services import pools as pool_service
from balancer.services.pools import PoolError, PoolNotFound
from balancer.settings import SettingError, validate
from tests.fake_upstream import make_key
from tests.fake_upstream.catalogue import GEMINI_MODELS, OPENAI_MODELS

GEMINI_IDS = [m["name"][len("models/"):] for m in GEMINI_MODELS]


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def openai_pool(rt, ctx, upstream):
    """An ``openai`` pool on the fake's OpenAI-compatible provider, with n keys."""
    def make(n: int = 2, name: str = "prov", modes=None) -> tuple[Pool, list[str]]:
        pool = pool_service.create_pool(rt, name, "openai", f"{upstream.url}/openai/v1")
        made = [make_key(name, i, openai=True) for i in range(n)]
        key_service.add_keys(rt, made, pool)
        for key, mode in (modes or {}).items():
            upstream.set_key(key, mode)
        return pool, made
    return make


# --- validation -------------------------------------------------------------------

BASE = {"name": "groq", "kind": "openai", "base_url": "https://api.groq.com/openai/v1"}


@pytest.mark.parametrize("changes, words", [
    ({"name": ""}, "pool name"),
    ({"name": "Groq"}, "pool name"),
    ({"name": "groq/fast"}, "no '/'"),
    ({"name": "-groq"}, "pool name"),
    ({"name": "g" * 65}, "pool name"),
    ({"name": "models"}, "reserved"),
    ({"kind": "anthropic"}, "expected one of gemini, openai"),
    ({"base_url": None}, "needs a base URL"),
    ({"base_url": "ftp://api.groq.com"}, "expected http/https"),
    ({"base_url": "https://"}, "expected http/https"),
    ({"base_url": "api.groq.com/openai/v1"}, "expected http/https"),
    ({"base_url": "https://api.groq.com/v1?key=x"}, "no query string"),
    ({"base_url": "https://user:pw@api.groq.com/v1"}, "no credentials"),
    ({"base_url": "https://api.groq.com/v 1"}, "no spaces"),
    ({"base_url": "https://api.groq.com:99999/v1"}, "not a valid URL"),
    ({"proxy_url": "ftp://proxy:8080"}, "http/https/socks5/socks5h"),
    ({"proxy_url": "socks4://proxy:1080"}, "http/https/socks5/socks5h"),
    ({"overrides": {"no_such_setting": 1}}, "no_such_setting: no such setting"),
    ({"overrides": {"max_failures": 0}}, "max_failures: must be at least 1"),
    ({"overrides": {"strategy": "fastest"}}, "strategy: expected one of"),
    ({"overrides": {"ejection_base_seconds": 100, "ejection_max_seconds": 50}}, "ejection_max_seconds"),
    ({"overrides": {"sync_interval_seconds": 1}}, "whole process"),
    ({"aliases": ["fast"]}, "expected a mapping"),
    ({"aliases": {"a/b": "llama"}}, "alias 'a/b'"),
    ({"aliases": {"": "llama"}}, "alias ''"),
    ({"aliases": {"fast one": "llama"}}, "alias 'fast one'"),
    ({"aliases": {"fast": "../admin"}}, "not a valid model name"),
    ({"aliases": {"fast": "llama?x=1"}}, "not a valid model name"),
    ({"aliases": {"fast": "llama 3"}}, "not a valid model name"),
    ({"aliases": {"fast": 3}}, "not a valid model name"),
    ({"aliases": {"fast": "m" * 201}}, "not a valid model name"),
])
def test_create_refuses_bad_values_with_a_one_line_message(rt, ctx, changes, words):
    args = {**BASE, **changes}
    with pytest.raises(PoolError) as err:
        pool_service.create_pool(rt, args.pop("name"), args.pop("kind"), args.pop("base_url"), **args)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert db.session.scalar(sa.select(Pool).where(Pool.name == BASE["name"])) is None


@pytest.mark.parametrize("kwargs, stored", [
    ({"kind": "gemini", "base_url": None}, {"base_url": None}),
    ({"base_url": "https://api.groq.com/openai/v1/"}, {"base_url": "https://api.groq.com/openai/v1"}),
    ({"proxy_url": "socks5h://user:pw@127.0.0.1:1080"}, {"proxy_url": "socks5h://user:pw@127.0.0.1:1080"}),
    ({"proxy_url": ""}, {"proxy_url": None}),
    ({"overrides": {"max_failures": "5", "strategy": "least_busy"}},
     {"overrides": {"max_failures": 5, "strategy": "least_busy"}}),
    ({"aliases": {"llama": "meta-llama/llama-3.3-70b-instruct:free", "gpt-4o": "gemini-2.5-flash"}},
     {"aliases": {"llama": "meta-llama/llama-3.3-70b-instruct:free", "gpt-4o": "gemini-2.5-flash"}}),
])
def test_create_accepts_and_normalises_good_values(rt, ctx, kwargs, stored):
    args = {**BASE, **kwargs}
    pool = pool_service.create_pool(rt, args.pop("name"), args.pop("kind"), args.pop("base_url"), **args)
    for field, value in stored.items():
        assert getattr(pool, field) == value


def test_a_name_is_taken_once(rt, ctx):
    pool_service.create_pool(rt, "groq", "openai", "https://api.groq.com/openai/v1")
    with pytest.raises(PoolError, match="already exists"):
        pool_service.create_pool(rt, "groq", "gemini")
    with pytest.raises(PoolError, match="already exists"):
        pool_service.edit_pool(rt, "gemini", name="groq")


def test_models_refresh_seconds_is_a_bounded_setting():
    assert validate({"models_refresh_seconds": "0"}) == {"models_refresh_seconds": 0.0}
    with pytest.raises(SettingError, match="at most"):
        validate({"models_refresh_seconds": 604_801})


# --- create, edit, delete -------------------------------------------------------------


def test_create_is_in_this_processs_catalog_at_once(rt, ctx):
    pool = pool_service.create_pool(rt, "groq", "openai", "https://api.groq.com/openai/v1/",
                                    proxy_url="http://127.0.0.1:3128",
                                    overrides={"max_failures": 7}, aliases={"fast": "llama-3.1-8b-instant"})
    info = rt.catalog.pools[pool.id]
    assert (info.name, info.kind, info.base_url, info.proxy_url) == \
        ("groq", "openai", "https://api.groq.com/openai/v1", "http://127.0.0.1:3128")
    assert info.aliases == {"fast": "llama-3.1-8b-instant"} and info.models == ()
    assert info.enabled and not info.is_default
    assert rt.policy_for(pool.id).max_failures == 7
    assert rt.catalog.default_pool().name == "gemini"


def test_edit_renames_switches_and_replaces_overrides_and_aliases(rt, ctx):
    pool = pool_service.create_pool(rt, "groq", "openai", "https://api.groq.com/openai/v1",
                                    overrides={"max_failures": 7}, aliases={"fast": "a"})
    pool_service.edit_pool(rt, "groq", name="groq-eu", enabled=False, overrides={"strategy": "random"},
                           aliases={"slow": "b"}, proxy_url="socks5://127.0.0.1:1080")
    info = rt.catalog.pools[pool.id]
    assert (info.name, info.enabled, info.overrides, info.aliases, info.proxy_url) == \
        ("groq-eu", False, {"strategy": "random"}, {"slow": "b"}, "socks5://127.0.0.1:1080")
    assert rt.policy_for(pool.id).max_failures == 3
    with pytest.raises(PoolNotFound):
        pool_service.get_pool("groq")


def test_a_new_upstream_makes_the_model_list_due(rt, ctx, upstream):
    pool = pool_service.create_pool(rt, "groq", "openai", f"{upstream.url}/openai/v1")
    key_service.add_keys(rt, [make_key("due", 0, openai=True)], pool)
    model_service.refresh_models(rt, pool.id)
    assert pool_service.get_pool("groq").models_refreshed_at is not None
    pool_service.edit_pool(rt, "groq", aliases={"x": "gpt-4o"})
    assert pool_service.get_pool("groq").models_refreshed_at is not None
    pool_service.edit_pool(rt, "groq", base_url=f"{upstream.url}/openai/v1/")
    assert pool_service.get_pool("groq").models_refreshed_at is not None  # the same URL
    pool_service.edit_pool(rt, "groq", proxy_url="http://127.0.0.1:3128")
    assert pool_service.get_pool("groq").models_refreshed_at is None


@pytest.mark.parametrize("changes, words", [
    ({"kind": "openai", "base_url": "https://x.example/v1"}, "always of kind gemini"),
    ({"base_url": "nope"}, "base URL"),
    ({"name": "A B"}, "pool name"),
    ({"color": "red"}, "cannot change color"),
    ({"overrides": {"log_requests": False}}, "whole process"),
])
def test_edit_refuses_bad_changes_and_saves_nothing(rt, ctx, changes, words):
    with pytest.raises(PoolError, match=words):
        pool_service.edit_pool(rt, "gemini", **changes)
    db.session.rollback()
    assert pool_service.get_pool("gemini").base_url is None


def test_the_kind_changes_only_while_a_pool_has_no_keys(rt, ctx):
    pool_service.create_pool(rt, "spare", "gemini")
    pool = pool_service.edit_pool(rt, "spare", kind="openai", base_url="https://api.mistral.ai/v1")
    assert rt.catalog.pools[pool.id].kind == "openai"
    key_service.add_keys(rt, [make_key("kind", 0, openai=True)], pool)
    with pytest.raises(PoolError, match="has keys of kind openai"):
        pool_service.edit_pool(rt, "spare", kind="gemini")


def test_unknown_pools_are_lookup_errors(rt, ctx):
    for call in (lambda: pool_service.edit_pool(rt, "nope", enabled=False),
                 lambda: pool_service.delete_pool(rt, "nope")):
        with pytest.raises(LookupError, match="no pool named 'nope'"):
            call()


def test_the_default_pool_cannot_be_deleted(rt, ctx):
    with pytest.raises(PoolError, match="default pool"):
        pool_service.delete_pool(rt, "gemini")
    assert rt.catalog.default_pool().name == "gemini"


def test_delete_takes_the_keys_and_their_states_with_it(rt, ctx, keys):
    kept = keys(1)
    pool = pool_service.create_pool(rt, "groq", "openai", "https://api.groq.com/openai/v1")
    added = key_service.add_keys(rt, [make_key("del", i, openai=True) for i in range(3)], pool).added
    db.session.add(KeyModelState(key_id=added[0], model="llama", consecutive_failures=1))
    db.session.commit()
    assert pool_service.delete_pool(rt, "groq") == 3
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == len(kept)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(KeyModelState)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Pool).where(Pool.name == "groq")) == 0
    events = db.session.scalars(sa.select(KeyEvent).where(KeyEvent.event == "delete")).all()
    assert sorted(e.key_id for e in events) == added and events[0].reason == "pool groq deleted"
    assert pool.id not in rt.catalog.pools
    assert rt.keypool.key_ids(pool.id) == set() and all(rt.keypool.snapshot(k) is None for k in added)


def test_list_counts_keys_per_status(rt, ctx, keys):
    made = keys(4)
    ids = db.session.scalars(sa.select(ApiKey.id).order_by(ApiKey.id)).all()
    key_service.set_enabled(rt, ids[0], False)
    db.session.execute(sa.update(ApiKey).where(ApiKey.id == ids[1]).values(status="disabled"))
    db.session.add(KeyModelState(key_id=ids[2], model="gemini-2.5-flash",
                                 cooldown_until=utcnow() + timedelta(minutes=5)))
    db.session.commit()
    pool_service.create_pool(rt, "groq", "openai", "https://api.groq.com/openai/v1",
                             proxy_url="http://bob:secret@127.0.0.1:3128")
    rows = pool_service.list_pools()
    assert [r["name"] for r in rows] == ["gemini", "groq"]
    assert rows[0]["keys"] == {"total": len(made), "active": 1, "cooling_down": 1, "disabled": 1,
                               "switched_off": 1}
    assert rows[1]["keys"]["total"] == 0 and rows[1]["proxy_url"] == "http://bob:***@127.0.0.1:3128"
    assert set(rows[0]) >= {"id", "kind", "base_url", "enabled", "is_default", "overrides", "aliases",
                            "models", "models_refreshed_at"}


# --- model lists ------------------------------------------------------------------


def test_refresh_follows_the_gemini_pages_and_fills_the_catalog(rt, ctx, keys, upstream):
    (key,) = keys(1)
    pool = pool_service.get_pool(None)
    models = model_service.refresh_models(rt, pool.id, page_size=7)
    assert models == GEMINI_IDS and not any(m.startswith("models/") for m in models)
    calls = [r for r in upstream.requests if r["flavour"] == "native"]
    assert len(calls) == -(-len(GEMINI_IDS) // 7) and all(r["key"] == key for r in calls)
    assert rt.catalog.pools[pool.id].models == tuple(GEMINI_IDS)
    db.session.expire_all()
    assert pool_service.get_pool(None).models == GEMINI_IDS
    assert pool_service.get_pool(None).models_refreshed_at is not None


def test_refresh_of_an_openai_pool_reads_data_ids(rt, openai_pool, upstream):
    pool, made = openai_pool(1)
    assert model_service.refresh_models(rt, pool.id) == list(OPENAI_MODELS)
    assert rt.catalog.pools[pool.id].models == tuple(OPENAI_MODELS)
    assert upstream.count(key=made[0], flavour="provider") == 1


@pytest.mark.parametrize("mode", ["invalid", "suspended"])
def test_a_dead_key_found_by_a_refresh_is_disabled_and_another_tried(rt, app, openai_pool, mode):
    pool, made = openai_pool(3, modes={make_key("prov", 0, openai=True): mode,
                                       make_key("prov", 1, openai=True): mode})
    assert model_service.refresh_models(rt, pool.id) == list(OPENAI_MODELS)
    rt.services.flush()
    db.session.rollback()  # a new transaction: MariaDB's repeatable read kept the old snapshot
    rows = db.session.scalars(sa.select(ApiKey).where(ApiKey.pool_id == pool.id).order_by(ApiKey.id)).all()
    assert [r.status for r in rows] == ["disabled", "disabled", "active"]
    assert rt.keypool.snapshot(rows[0].id)[0].status is KeyStatus.DISABLED


def test_a_pool_whose_keys_are_all_dead_fails_with_the_reason(rt, openai_pool):
    pool, made = openai_pool(2, modes={make_key("prov", i, openai=True): "invalid" for i in range(2)})
    with pytest.raises(model_service.RefreshError) as err:
        model_service.refresh_models(rt, pool.id)
    assert "401" in str(err.value) and "2 disabled" in str(err.value)
    assert all(s not in str(err.value) for s in made)
    assert pool_service.get_pool("prov").models_refreshed_at is None


def test_a_pool_without_keys_says_so(rt, ctx):
    pool = pool_service.create_pool(rt, "empty", "openai", "https://api.groq.com/openai/v1")
    with pytest.raises(model_service.RefreshError, match="No key can list the models: the pool has no keys"):
        model_service.refresh_models(rt, pool.id)


def test_a_wrong_base_url_fails_once_without_charging_the_key(rt, ctx, upstream):
    pool = pool_service.create_pool(rt, "wrong", "openai", f"{upstream.url}/nothing/here")
    key_service.add_keys(rt, [make_key("wrong", i, openai=True) for i in range(3)], pool)
    with pytest.raises(model_service.RefreshError, match="404"):
        model_service.refresh_models(rt, pool.id)
    assert len(upstream.requests) <= 1
    assert rt.transitions.drain(100) == []


def test_refresh_due_fetches_stale_lists_only(rt, app, keys, openai_pool, upstream):
    keys(1)
    fresh, _ = openai_pool(1, name="fresh")
    model_service.refresh_models(rt, fresh.id)
    pool_service.create_pool(rt, "nokeys", "openai", "https://api.groq.com/openai/v1")
    never, _ = openai_pool(1, name="never")
    pool_service.edit_pool(rt, "never", overrides={"models_refresh_seconds": 0})
    upstream.reset()
    assert model_service.refresh_due(rt) == {"gemini": len(GEMINI_IDS)}
    assert model_service.refresh_due(rt) == {}
    assert {r["key"] for r in upstream.requests} == {make_key("k", 0)}


def test_a_failed_refresh_waits_before_the_next_try_and_the_round_never_raises(
        rt, app, openai_pool, upstream):
    pool, made = openai_pool(1, modes={make_key("prov", 0, openai=True): "internal"})
    failed: dict[int, float] = {}
    with app.app_context():
        result = model_service.refresh_due(rt, failed)
        assert "500" in result["prov"] and failed[pool.id] > rt.clock()
        assert model_service.refresh_due(rt, failed) == {}
    rt.services.models_failed[pool.id] = 0
    rt.services.refresh_models()  # the background round: logs, does not raise
    assert rt.services.models_failed[pool.id] > rt.clock()
    upstream.set_key(made[0], "good")
    rt.services.models_failed.clear()
    rt.services.refresh_models()
    with app.app_context():
        assert pool_service.get_pool("prov").models == list(OPENAI_MODELS)


def test_list_models_shows_lists_and_aliases(rt, ctx, openai_pool):
    pool, _ = openai_pool(1)
    pool_service.edit_pool(rt, "prov", aliases={"mini": "gpt-4o-mini"})
    model_service.refresh_models(rt, pool.id)
    (row,) = model_service.list_models("prov")
    assert row["models"] == list(OPENAI_MODELS) and row["aliases"] == {"mini": "gpt-4o-mini"}
    assert row["refreshed_at"].endswith("Z")
    assert [r["pool"] for r in model_service.list_models()] == ["gemini", "prov"]
