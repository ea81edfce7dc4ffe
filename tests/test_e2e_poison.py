"""A thousand requests, half of them poisoned, through two gunicorn workers: every
well-formed one is in the request log and in the usage totals afterwards."""
from __future__ import annotations

import collections
import itertools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from tests.conftest import TOKEN
from tests.fake_upstream import make_key

pytestmark = pytest.mark.e2e

MODEL = "gemini-2.5-flash"
TOTAL = 1000
#: Model names no column takes as they are: NULs, lone surrogates (sent as JSON escapes
#: "\ud800"), longer than the 128 characters of a model column.
POISONED_MODELS = ["gemini\x00flash", "\x00" * 40, "gemini-2.5-flash\x00", "g\ud800x",
                   "m" * 129, "m" * 300, "gemini-2.5-flash" + "\x00x" * 150,
                   "\udfff" + "m" * 200, "models/" + "n" * 140]
#: Content parts that are not objects, or hold NULs and lone surrogates.
POISONED_PARTS = [[1], ["text"], [None], [["nested"]], [{"type": "text", "text": "a\x00b"}],
                  [{"type": "text", "text": "\ud800 lone"}], [{"type": "text\x00", "text": "x"}],
                  [{"type": "text", "text": "\x00" * 500}]]


def poisoned_bodies():
    for i in itertools.count():
        if i % 2 == 0:
            model = POISONED_MODELS[(i // 2) % len(POISONED_MODELS)]
            yield {"model": model, "messages": [{"role": "user", "content": "poison"}]}
        else:
            parts = POISONED_PARTS[(i // 2) % len(POISONED_PARTS)]
            yield {"model": MODEL, "messages": [{"role": "user", "content": parts}]}


def test_poisoned_requests_cost_no_well_formed_one_its_log_row_or_its_count(
        start, make_app, database_url, upstream):
    from balancer.services import client_tokens
    keys = [make_key("poison", i) for i in range(4)]
    # One key is rate-limited: each model name that meets it, poisoned ones too, gets a
    # cooldown, and with it a key event that names the model.
    upstream.set_key(keys[0], "rate_minute", retry_delay="1s")
    live = start(keys)
    # The poisoned requests come with a token of their own, to tell them apart afterwards.
    app = make_app()
    with app.app_context():
        row, poison_token = client_tokens.create_token(app.extensions["balancer"], "poisoner")
        poison_id = row.id
    bodies = poisoned_bodies()
    plan = [("good", {"model": MODEL, "messages": [{"role": "user", "content": f"good {i}"}]})
            if i % 2 else ("poisoned", next(bodies)) for i in range(TOTAL)]
    local = threading.local()
    statuses: dict[str, collections.Counter] = {"good": collections.Counter(),
                                                 "poisoned": collections.Counter()}
    lock = threading.Lock()

    def send(item):
        kind, body = item
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        token = TOKEN if kind == "good" else poison_token
        # json.dumps escapes every non-ASCII character: a lone surrogate goes as "\ud800".
        resp = session.post(f"{live.url}/v1/chat/completions", data=json.dumps(body),
                            headers={"Authorization": f"Bearer {token}",
                                     "Content-Type": "application/json"}, timeout=30)
        with lock:
            statuses[kind][resp.status_code] += 1

    # The new token reaches both workers within a sync (0.5 s in tests).
    at = time.monotonic()
    while requests.post(f"{live.url}/v1/chat/completions", json=plan[1][1], timeout=10,
                        headers={"Authorization": f"Bearer {poison_token}"}).status_code == 401:
        assert time.monotonic() - at < 5, "the new client token never reached a worker"
        time.sleep(0.2)
    # One worker knows the token now; the other learns it at its own next sync. Three sync
    # periods leave room for a worker busy on its first request.
    time.sleep(1.5)
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(send, plan))
    took = time.monotonic() - started
    assert live.stop() == 0  # graceful: every worker flushes what it holds
    good = sum(statuses["good"].values())
    print(f"{TOTAL} requests in {took:.1f} s; poisoned answered: {dict(statuses['poisoned'])}")
    assert statuses["good"] == {200: TOTAL // 2}, statuses
    assert not [code for code in statuses["poisoned"] if code >= 500], statuses
    assert took < 50

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        def one(sql, **params):
            return conn.execute(sa.text(sql), params).scalar()
        logged_good = one("SELECT COUNT(*) FROM request_logs WHERE client_id IS NULL "
                          "AND status = 200 AND route = 'chat.completions' AND model = :m", m=MODEL)
        counted_good = one("SELECT SUM(count) FROM usage_buckets WHERE client_id = 0 "
                           "AND status_class = 'success'")
        hours_good = one("SELECT SUM(success) FROM usage_hours WHERE dimension = 'client' "
                         "AND subject = '0'")
        logged_poisoned = one("SELECT COUNT(*) FROM request_logs WHERE client_id = :c",
                              c=poison_id)
        counted_poisoned = one("SELECT SUM(count) FROM usage_buckets WHERE client_id = :c",
                               c=poison_id)
        stored = [r for r in conn.execute(sa.text(
            "SELECT model, error_message, client_name FROM request_logs WHERE client_id = :c"),
            {"c": poison_id})]
        events = [r for r in conn.execute(sa.text(
            "SELECT model, reason FROM key_events WHERE event = 'cooldown'"))]
    engine.dispose()
    # The probe above was one more well-formed request of the poisoner's.
    assert logged_good == counted_good == hours_good == good
    answered = sum(statuses["poisoned"].values()) + 1
    assert logged_poisoned == counted_poisoned == answered, (logged_poisoned, answered)
    for model, message, name in stored:
        for text in (model or "", message or "", name or ""):
            assert "\x00" not in text and "\ud800" not in text and "\udfff" not in text
        assert len(model or "") <= 128 and len(message or "") <= 1000
    # Overlong model names met the rate-limited key: their events are stored, cut to fit.
    assert any(len(model or "") == 128 for model, _ in events), events
    for model, reason in events:
        assert len(model or "") <= 128 and len(reason or "") <= 512
    assert "Traceback" not in live.log()
