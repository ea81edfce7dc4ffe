"""Several processes on one database: what one learns, the others follow."""
from __future__ import annotations

import time

import pytest

from balancer.keypool.records import KeyStatus
from balancer.services import keys as key_service
from balancer.services import settings as settings_service
from tests.fake_upstream import make_key

MODEL = "gemini-2.5-flash"


def chat(app, auth, model=MODEL):
    return app.test_client().post("/v1/chat/completions", headers=auth,
                                  json={"model": model, "messages": [{"role": "user", "content": "x"}]})


@pytest.fixture
def two(make_app):
    """Two apps = two worker processes, each with its own key pool, on one database."""
    a, b = make_app(), make_app()
    for app in (a, b):
        app.extensions["balancer"].services.bootstrap()
    return a, b


def rt_of(app):
    return app.extensions["balancer"]


def add(app, *secrets):
    with app.app_context():
        return key_service.add_keys(rt_of(app), list(secrets)).added


def test_a_key_disabled_in_one_process_is_skipped_by_the_other_after_a_sync(two, auth, upstream):
    a, b = two
    dead, good = make_key("sync", 0), make_key("sync", 1)
    dead_id, _ = add(a, dead, good)
    rt_of(b).services.sync()
    upstream.set_key(dead, "invalid")
    while rt_of(a).keypool.snapshot(dead_id)[0].status is KeyStatus.ACTIVE:
        assert chat(a, auth).status_code == 200
    rt_of(a).services.flush()
    rt_of(b).services.sync()
    assert rt_of(b).keypool.snapshot(dead_id)[0].status is KeyStatus.DISABLED
    before = upstream.count(key=dead)
    for _ in range(6):
        assert chat(b, auth).status_code == 200
    assert upstream.count(key=dead) == before


def test_a_cooldown_seen_by_one_process_is_honoured_by_the_other(two, auth, upstream):
    a, b = two
    limited, good = make_key("cool", 0), make_key("cool", 1)
    add(a, limited, good)
    upstream.set_key(limited, "rate_minute", retry_delay="60s")
    for _ in range(2):
        chat(a, auth)
    rt_of(a).services.flush()
    rt_of(b).services.sync()
    before = upstream.count(key=limited)
    for _ in range(6):
        assert chat(b, auth).status_code == 200
    assert upstream.count(key=limited) == before


def test_keys_added_and_deleted_elsewhere_appear_and_vanish(two):
    a, b = two
    (key_id,) = add(a, make_key("set", 0))
    rt_of(b).services.sync()
    assert key_id in rt_of(b).keypool.key_ids()
    with a.app_context():
        key_service.delete(rt_of(a), key_id)
    rt_of(b).services.sync()
    assert key_id not in rt_of(b).keypool.key_ids()


def test_a_sync_decrypts_only_the_keys_whose_stored_token_changed(two):
    from balancer.extensions import db
    from balancer.models import ApiKey
    from balancer.models.types import utcnow
    a, b = two
    secrets = [make_key("crypt", i) for i in range(3)]
    ids = add(a, *secrets)
    syncer = rt_of(b).services.syncer
    opened = []
    plain = syncer.decrypt
    syncer.decrypt = lambda token: opened.append(token) or plain(token)
    rt_of(b).services.sync()
    assert len(opened) == 3
    # The newest rows are read again at every sync (commits may land late): unchanged,
    # they are not decrypted again.
    rt_of(b).services.sync()
    rt_of(b).services.sync()
    assert len(opened) == 3
    with a.app_context():
        row = db.session.get(ApiKey, ids[1])
        row.secret_encrypted = rt_of(a).box.encrypt(secrets[1])  # a new token, same key
        row.updated_at = utcnow()
        db.session.commit()
    rt_of(b).services.sync()
    assert len(opened) == 4
    assert [rt_of(b).keypool.snapshot(i)[0].secret for i in ids] == secrets


def test_an_operator_enable_clears_cooldowns_everywhere(two, auth, upstream):
    a, b = two
    limited = make_key("enable", 0)
    (key_id,) = add(a, limited)
    upstream.set_key(limited, "rate_minute", retry_delay="60s")
    assert chat(a, auth).status_code == 429
    rt_of(a).services.flush()
    rt_of(b).services.sync()
    assert chat(b, auth).status_code == 429
    upstream.set_key(limited, "good")
    time.sleep(0.01)
    with a.app_context():
        key_service.set_enabled(rt_of(a), key_id, True)
    rt_of(b).services.sync()
    assert chat(b, auth).status_code == 200


def test_a_settings_change_reaches_the_other_process_at_its_next_sync(two):
    a, b = two
    with a.app_context():
        settings_service.update(rt_of(a), {"strategy": "random", "max_retries": 7})
    assert rt_of(b).settings.current.max_retries != 7
    rt_of(b).services.sync()
    assert rt_of(b).settings.current.strategy == "random"
    assert rt_of(b).settings.current.max_retries == 7


def test_env_keys_are_imported_once_however_many_processes_start(make_app):
    keys = ",".join(make_key("env", i) for i in range(3))
    apps = [make_app(GEMINI_API_KEYS=keys) for _ in range(3)]
    for app in apps:
        app.extensions["balancer"].services.bootstrap()
    with apps[0].app_context():
        assert len(key_service.list_keys()) == 3


def test_counters_from_two_processes_add_up(two, auth, upstream):
    a, b = two
    (key_id,) = add(a, make_key("count", 0))
    rt_of(b).services.sync()
    for app in (a, b, a):
        assert chat(app, auth).status_code == 200
    rt_of(a).services.flush()
    rt_of(b).services.flush()
    with a.app_context():
        row = key_service.list_keys()[0]
    assert row["requests"] == 3 and row["last_used"]


def test_a_late_flush_never_undoes_a_newer_state(two):
    """Process A flushes a failure count after process B wrote an ejection: B's stays."""
    from balancer.extensions import db
    from balancer.keypool.records import ModelState, Transition, TransitionKind
    from balancer.keypool.sync import persist
    from balancer.models import KeyModelState
    a, b = two
    add(a, make_key("late", 0))
    key_id = next(iter(rt_of(a).keypool.key_ids()))
    now = time.time()
    ejected = ModelState(key_id=key_id, model=MODEL, cooldown_until=now + 600, reason="ejected",
                         ejections=1, updated_at=now)
    older = ModelState(key_id=key_id, model=MODEL, consecutive_failures=2, updated_at=now - 1)
    with b.app_context():
        persist(db.session, [Transition(TransitionKind.EJECT, key_id, MODEL, "ejected",
                                        now + 600, now, model_state=ejected)])
        db.session.commit()
    with a.app_context():
        persist(db.session, [Transition(TransitionKind.STATE, key_id, MODEL, "server_error",
                                        None, now - 1, model_state=older)])
        db.session.commit()
        row = db.session.scalars(db.select(KeyModelState)).one()
        assert row.reason == "ejected" and row.ejections == 1 and row.consecutive_failures == 0
        newer = ModelState(key_id=key_id, model=MODEL, updated_at=now + 1)
        persist(db.session, [Transition(TransitionKind.RESTORE, key_id, MODEL, "", None, now + 1,
                                        model_state=newer)])
        db.session.commit()
        db.session.expire_all()
        row = db.session.scalars(db.select(KeyModelState)).one()
        assert row.reason is None and row.cooldown_until is None


@pytest.mark.parametrize("keys_before", [0, 2], ids=["first-keys", "more-keys"])
def test_a_change_made_here_while_a_sync_reads_is_not_undone_by_it(make_app, monkeypatch,
                                                                    keys_before):
    """Under gevent the sync's read runs in the database thread while this worker serves
    on: a setting saved, a token created or a key added meanwhile is in force here at
    once, and what the sync read before it must not take it back."""
    from balancer.services import client_tokens
    app = make_app()
    rt = rt_of(app)
    rt.services.bootstrap()
    if keys_before:  # the sync reads what changed (without keys yet: everything)
        add(app, *[make_key("before", i) for i in range(keys_before)])
        rt.services.sync()
    real = rt.services.in_database
    made = {}

    def read_then_change_here(fn):
        result = real(fn)  # what was read: from before the changes below
        if not made:
            with app.app_context():
                settings_service.update(rt, {"requests_per_key": 5})
                made["token"] = client_tokens.create_token(rt, "new")[1]
                made["key"] = key_service.add_keys(rt, [make_key("meanwhile", 0)]).added[0]
        return result

    monkeypatch.setattr(rt.services, "in_database", read_then_change_here)
    rt.services.sync()
    assert rt.settings.current.requests_per_key == 5
    assert rt.catalog.client_for(made["token"]) is not None
    assert made["key"] in rt.keypool.key_ids()
    assert len(rt.keypool.key_ids()) == keys_before + 1
    rt.services.sync()  # the next round reads them back: nothing changes
    assert rt.settings.current.requests_per_key == 5
    assert rt.catalog.client_for(made["token"]) is not None
    assert len(rt.keypool.key_ids()) == keys_before + 1 and made["key"] in rt.keypool.key_ids()
