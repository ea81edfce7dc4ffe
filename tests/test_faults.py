"""The upstream fault suite (issue 6): Balancer under load while keys turn bad mid-run.

One live Balancer (gunicorn, two gevent workers) with 20 keys takes 3,000 requests at
concurrency 200 -- OpenAI chat completions, plain and streamed, and Gemini generateContent,
plain and streamed -- from a separate load process (``tests/load.py``), against a fake
upstream in its own gevent process. After the first 600 answers, twelve keys turn bad, one
fault each; eight stay healthy. Then:

* every client request got a right, complete answer;
* the request log has one row per request, the usage buckets count each once, and each
  key's request counter equals the calls the upstream saw with that key;
* each key ends in the state the policy table (shared/design.md) gives for its fault, and
  no key is called once it is known to be bad.

Then, each with its own small Balancer: every key bad gives a fast 429/503 with Retry-After,
never a hang; a connect timeout (the fake cannot refuse connections for one key only, so the
whole upstream is a port that never accepts) ejects the keys and then fails fast; a stream
that breaks after its first bytes (no retry is possible then, by design) ends with an error
event in the client's format.
"""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timezone
from typing import Optional

import pytest
import requests
import sqlalchemy as sa

from balancer.keypool.days import next_pacific_midnight
import tests.conftest as conftest
from tests.conftest import TOKEN
from tests.fake_upstream import FakeControl, make_key
from tests.live import ROOT, LiveBalancer, free_port
from tests.load import MODEL, run_load

pytestmark = pytest.mark.e2e

TOTAL = 3000
CONCURRENCY = 200
SWITCH_AFTER = 600
READ_TIMEOUT = 2.0
SLOW = 5.0  # longer than READ_TIMEOUT: a read timeout
RETRY_DELAY = 300.0  # per-minute quota's RetryInfo: outlasts the run
EJECTION = 600.0  # an ejection outlasts the run, so the end state is certain
MARGIN = 1.0
UNKNOWN_BASE = 5.0
UNKNOWN_MAX = 120.0

#: one fault per key (index into the 20 keys); the keys not named here stay good.
FAULTS = {
    0: {"mode": "invalid"},
    1: {"mode": "suspended"},
    2: {"mode": "rate_minute", "retry_delay": f"{RETRY_DELAY:g}s", "models": [MODEL]},
    3: {"mode": "rate_day", "models": [MODEL]},
    4: {"mode": "rate_unknown"},
    5: {"mode": "internal"},
    6: {"mode": "overloaded"},
    7: {"mode": "slow", "delay": SLOW},
    8: {"mode": "reset"},
    9: {"mode": "trickle", "delay": 0.3},
    # Breaks before its first content chunk: an in-band error as the stream's first event,
    # which Balancer must see and retry on another key (nothing was sent to the client).
    10: {"mode": "break_stream", "after": 0, "how": "event"},
    11: {"mode": "empty"},
}
#: faults after which the request is retried on another key with a backoff (max_retries).
TRANSIENT = ("internal", "overloaded", "slow", "reset", "break_stream", "empty")


# --- fixtures -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fake_server():
    """The fake upstream in its own gevent process (200 concurrent calls, no shared GIL)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.fake_upstream", "--host", "127.0.0.1",
                             "--port", str(port), "--server", "gevent"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    control = FakeControl(f"http://127.0.0.1:{port}")
    try:
        control.wait_ready(timeout=15)
        yield control
    finally:
        control.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def fake_proc(fake_server):
    """The out-of-process fake, reset for this test."""
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@pytest.fixture
def blackhole():
    """A loopback port whose accept queue is full: a connect to it times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    for c in fillers:
        c.close()
    server.close()


def configure(make_app, **settings) -> object:
    """Store runtime settings before the live Balancer starts; returns a helper app."""
    from balancer.services import settings as settings_service
    app = make_app()
    with app.app_context():
        settings_service.update(app.extensions["balancer"], settings)
    return app


def key_ids(app) -> dict[str, int]:
    """Each key (the secret) to its id, as Balancer stored it."""
    from balancer.services import keys as key_service
    with app.app_context():
        exported = key_service.export(app.extensions["balancer"], reveal=True)
    return {k["key"]: k["id"] for k in exported["keys"]}


def db_rows(app):
    """Request log, usage buckets, keys and key-model states, as plain dicts."""
    from balancer.extensions import db
    from balancer.models import ApiKey, KeyEvent, RequestLog, UsageBucket
    from balancer.models.key import KeyModelState
    with app.app_context():
        db.session.remove()
        conn = db.session.connection()
        fetch = lambda table: [dict(r._mapping) for r in conn.execute(sa.select(table))]  # noqa: E731
        out = (fetch(RequestLog.__table__), fetch(UsageBucket.__table__),
               {r["id"]: r for r in fetch(ApiKey.__table__)},
               {(r["key_id"], r["model"]): r for r in fetch(KeyModelState.__table__)},
               fetch(KeyEvent.__table__))
        db.session.remove()
    return out


def epoch(value) -> float:
    """A datetime from the database (naive means UTC) as epoch seconds."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def generation_requests(fake: FakeControl) -> list[dict]:
    """The calls the fake saw on generation routes (not model lists or probes)."""
    return [call for call in fake.requests
            if "generatecontent" in call["path"].lower() or "chat/completions" in call["path"]]


def generation_calls(fake: FakeControl) -> Counter:
    """Calls per key the fake saw on generation routes."""
    return Counter(call["key"] for call in generation_requests(fake))


def failures(results: list[dict]) -> list[dict]:
    return [r for r in results if r["problem"]]


# --- 1. faults mid-run at concurrency 200 ----------------------------------------------

@dataclass
class Run:
    """What one faulted run left behind: what clients saw, the upstream saw, the database holds."""

    results: list
    calls: Counter
    logs: list
    buckets: list
    keys: dict
    states: dict
    events: list
    #: key id -> its fault's mode ("good" for the healthy ones)
    fault_of: dict
    #: key id -> epoch seconds at which each of its calls reached the fake
    call_times: dict
    switched_at: float
    log: str

    def key_of(self, mode: str) -> int:
        return next(k for k, m in self.fault_of.items() if m == mode)

    def state(self, mode_or_id) -> Optional[dict]:
        key_id = self.key_of(mode_or_id) if isinstance(mode_or_id, str) else mode_or_id
        return self.states.get((key_id, MODEL))

    @property
    def healthy(self) -> list[int]:
        return [k for k, m in self.fault_of.items() if m == "good"]

    @property
    def served(self) -> Counter:
        return Counter(r["key_id"] for r in self.logs)


@pytest.fixture(scope="module")
def faulted(database_url, fake_server, tmp_path_factory) -> Run:
    """One live Balancer, 20 keys, 3,000 requests at concurrency 200; 12 keys turn bad
    after the first 600 answers. Run once; the tests below each check one promise."""
    from balancer import create_app
    from balancer.config import Config
    from balancer.extensions import db
    from balancer.services import settings as settings_service

    fake_server.reset()
    instance = tmp_path_factory.mktemp("faults")
    app = create_app(Config(conftest.test_env(database_url, fake_server.url, instance)))
    with app.app_context():
        conftest._empty_tables(db)
        settings_service.update(app.extensions["balancer"], dict(
            sync_interval_seconds=0.5,
            # Enough further attempts for the worst case, every transient-fault key in a
            # row: the promise can hold only while retries can reach a healthy key.
            max_retries=len(TRANSIENT), max_key_failovers=10, max_failures=3,
            ejection_base_seconds=EJECTION, ejection_max_seconds=2 * EJECTION,
            cooldown_margin_seconds=MARGIN, cooldown_unknown_seconds=UNKNOWN_BASE,
            cooldown_unknown_max_seconds=UNKNOWN_MAX, read_timeout_seconds=READ_TIMEOUT,
            connect_timeout_seconds=2.0, models_refresh_seconds=0, recovery_interval_seconds=0))
    keys = [make_key("fault", i) for i in range(20)]
    live = LiveBalancer({"DATABASE_URL": database_url, "SECRET_KEY": conftest.SECRET,
                         "GEMINI_BASE_URL": fake_server.url, "ALLOWED_TOKENS": TOKEN,
                         "GEMINI_API_KEYS": ",".join(keys), "BALANCER_INSTANCE_PATH": str(instance),
                         "LOG_LEVEL": "INFO"}).start()
    try:
        ids = key_ids(app)
        plan = {"base": live.url, "token": TOKEN, "total": TOTAL, "concurrency": CONCURRENCY,
                "request_timeout": 60, "deadline": 150,
                "switch": {"after": SWITCH_AFTER, "url": f"{fake_server.url}/__fake/keys",
                           "json": {keys[i]: spec for i, spec in FAULTS.items()}}}
        load = run_load(plan, timeout=170)
        assert load["switched_at"] is not None
        time.sleep(SLOW + 1)  # the fake notes a slow call once it has slept
        seen = generation_requests(fake_server)
        assert live.stop() == 0  # SIGTERM: graceful, everything buffered is flushed
    finally:
        live.stop()
    logs, buckets, key_rows, states, events = db_rows(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["balancer"].upstream.close()
    fault_of = {ids[k]: FAULTS[i]["mode"] if i in FAULTS else "good" for i, k in enumerate(keys)}
    calls = Counter({ids[k]: sum(1 for c in seen if c["key"] == k) for k in keys})
    # The fake notes a call when it has answered: a slow one SLOW seconds after it came.
    call_times = {ids[k]: sorted(c["time"] - (SLOW if c["mode"] == "slow" else 0)
                                 for c in seen if c["key"] == k) for k in keys}
    return Run(load["results"], calls, logs, buckets, key_rows, states, events, fault_of,
               call_times, load["switched_at"], live.log())


def test_no_client_request_fails_while_healthy_keys_remain(faulted):
    bad = failures(faulted.results)
    by_key = Counter((r["key"], faulted.fault_of.get(int(r["key"] or 0), "?"), r["kind"])
                     for r in bad)
    assert not bad, (f"{len(bad)} of {TOTAL} client requests failed; by (key, its fault, kind): "
                     f"{dict(by_key)}; e.g. {bad[:3]}")


def test_every_fault_was_met_and_healthy_keys_served(faulted):
    for key_id, mode in faulted.fault_of.items():
        after = [t for t in faulted.call_times[key_id] if t > faulted.switched_at]
        assert after, f"key {key_id} ({mode}) was never called after the faults began"
    assert all(faulted.served[k] > 0 for k in faulted.healthy)


def test_the_request_log_has_one_row_per_client_request(faulted):
    logs, results = faulted.logs, faulted.results
    assert len(logs) == TOTAL
    assert Counter((r["api_format"], bool(r["stream"])) for r in logs) == Counter(
        {("openai", False): TOTAL // 4, ("openai", True): TOTAL // 4,
         ("gemini", False): TOTAL // 4, ("gemini", True): TOTAL // 4})
    # The log agrees with what each client was told (x-balancer-key, x-balancer-attempts).
    assert Counter(r["key_id"] for r in logs) == Counter(
        int(r["key"]) if r["key"] else None for r in results)
    assert sum(r["attempts"] for r in logs) == sum(int(r["attempts"] or 0) for r in results)
    # Every row a success, as every client saw.
    ok = sum(1 for r in results if not r["problem"])
    assert sum(1 for r in logs if r["status"] == 200 and r["error_class"] in (None, "success")) == ok


def test_usage_buckets_count_every_request_once(faulted):
    assert sum(b["count"] for b in faulted.buckets) == TOTAL
    ok = sum(1 for r in faulted.results if not r["problem"])
    assert sum(b["count"] for b in faulted.buckets if b["status_class"] == "success") == ok


def test_key_counters_count_every_attempt_once(faulted):
    served = faulted.served
    wrong = {}
    for key_id, row in faulted.keys.items():
        mode = faulted.fault_of[key_id]
        if row["request_count"] != faulted.calls[key_id]:
            wrong[(key_id, mode, "requests")] = (row["request_count"], faulted.calls[key_id])
        if row["failure_count"] != row["request_count"] - served[key_id]:
            wrong[(key_id, mode, "failures")] = (row["failure_count"],
                                                 row["request_count"] - served[key_id])
    assert not wrong, f"(key, fault, counter): (counted, expected): {wrong}"
    assert sum(r["request_count"] for r in faulted.keys.values()) == sum(
        r["attempts"] for r in faulted.logs)


def test_dead_keys_are_disabled_with_the_reason(faulted):
    for mode, reason in (("invalid", "API_KEY_INVALID"), ("suspended", "CONSUMER_SUSPENDED")):
        row = faulted.keys[faulted.key_of(mode)]
        assert row["status"] == "disabled" and row["enabled"], (mode, row)
        assert reason in (row["disabled_reason"] or ""), (mode, row["disabled_reason"])


def test_rate_limited_keys_cool_down_as_the_quota_says(faulted):
    st = faulted.state("rate_minute")
    assert st and st["reason"] == "per_minute_quota", st
    assert epoch(st["cooldown_until"]) - epoch(st["updated_at"]) == pytest.approx(
        RETRY_DELAY + MARGIN, abs=0.01)
    assert st["consecutive_failures"] == 0

    st = faulted.state("rate_day")
    assert st and st["reason"] == "per_day_quota", st
    assert epoch(st["cooldown_until"]) == pytest.approx(
        next_pacific_midnight(epoch(st["updated_at"])), abs=0.01)
    assert st["consecutive_failures"] == 0

    st = faulted.state("rate_unknown")
    assert st and st["reason"] == "rate_limit", st
    left = epoch(st["cooldown_until"]) - epoch(st["updated_at"])
    # A 429 without a quota doubles the pause of the one before, and never shortens a
    # cooldown under way. Requests already in flight on the key may succeed after its 429
    # (the success heals the streak, the cooldown stays) and a later 429 starts the streak
    # again: the pause left is then at least what the streak asks, never more than the cap.
    expected = min(UNKNOWN_BASE * 2 ** (st["rate_limit_streak"] - 1), UNKNOWN_MAX) \
        if st["rate_limit_streak"] else 0.0
    assert expected - 0.01 <= left <= UNKNOWN_MAX + 0.01 and left > 0, (left, st)
    assert st["consecutive_failures"] == 0
    for mode in ("rate_minute", "rate_day", "rate_unknown"):
        assert faulted.keys[faulted.key_of(mode)]["status"] == "active"


EJECTED_MODES = (("internal", "server_error"), ("slow", "read_timeout"),
                 ("reset", "connect_error"), ("empty", "empty_response"))


def test_failing_keys_are_ejected_after_max_failures(faulted):
    for mode, error in EJECTED_MODES:
        key_id = faulted.key_of(mode)
        st = faulted.state(key_id)
        assert st and st["reason"] == "ejected" and st["ejections"] >= 1, (mode, st)
        # The ejection lasts ``base x ejections in a row`` from when it began; an attempt
        # already in flight may still land a failure afterwards (updated_at moves on).
        length = min(EJECTION * st["ejections"], 2 * EJECTION)
        left = epoch(st["cooldown_until"]) - epoch(st["updated_at"])
        assert length - 5 <= left <= length + 0.01, (mode, length, left, st)
        assert error in (st["last_error"] or ""), (mode, st["last_error"])
        assert faulted.keys[key_id]["status"] == "active"
        assert faulted.keys[key_id]["failure_count"] >= 3, (mode, faulted.keys[key_id])
    # A stream broken before its first chunk is a transient failure; answers without a
    # stream still succeed on that key and heal it: ejected, or failures on record.
    key_id = faulted.key_of("break_stream")
    st = faulted.state(key_id)
    assert faulted.keys[key_id]["failure_count"] > 0
    assert st and (st["reason"] == "ejected" or st["last_error"]), st


def test_one_ejection_is_not_compounded_by_attempts_already_in_flight(faulted):
    """Each key's first ejection (600 s) outlasts the run, so each was ejected once: the
    multiplier counts ejections in a row, not failures that land while ejected."""
    ejections = {mode: (faulted.state(mode) or {}).get("ejections")
                 for mode, _ in EJECTED_MODES + (("break_stream", ""),)}
    # The key whose streams break may also be healed by its plain answers before it is
    # ejected (no state left, or failures on record with no ejection): never twice.
    assert all(ejections[mode] == 1 for mode, _ in EJECTED_MODES) \
        and ejections["break_stream"] in (None, 0, 1), f"ejections per fault: {ejections}"


def test_overloaded_is_not_the_keys_fault(faulted):
    key_id = faulted.key_of("overloaded")
    st = faulted.state(key_id)
    assert faulted.keys[key_id]["failure_count"] > 0  # it was tried and failed
    assert faulted.keys[key_id]["status"] == "active"
    assert st is None or (not st["consecutive_failures"] and not st["ejections"]
                          and st["cooldown_until"] is None), st


def test_healthy_and_trickling_keys_stay_active_and_clean(faulted):
    for key_id in faulted.healthy + [faulted.key_of("trickle")]:
        st = faulted.state(key_id)
        row = faulted.keys[key_id]
        assert row["status"] == "active", row
        assert row["failure_count"] == 0, (key_id, faulted.fault_of[key_id], row)
        assert st is None or (st["cooldown_until"] is None and not st["consecutive_failures"]), st


# --- 2. every key bad: a fast, explained refusal ----------------------------------------

def _post(live, kind: str, timeout: float = 10.0) -> requests.Response:
    if kind == "openai":
        return requests.post(f"{live.url}/v1/chat/completions", timeout=timeout,
                             headers={"Authorization": f"Bearer {TOKEN}"},
                             json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]})
    return requests.post(f"{live.url}/v1beta/models/{MODEL}:generateContent", timeout=timeout,
                         headers={"x-goog-api-key": TOKEN},
                         json={"contents": [{"role": "user", "parts": [{"text": "x"}]}]})


def _retry_after(resp: requests.Response) -> float:
    value = resp.headers.get("Retry-After")
    assert value is not None, f"{resp.status_code} without Retry-After: {resp.text[:300]}"
    return float(value)


def test_every_key_bad_gives_a_fast_429_or_503_with_retry_after(start, make_app, fake_proc):
    keys = [make_key("allbad", i) for i in range(4)]
    fake_proc.set_keys({keys[0]: "invalid", keys[1]: "suspended",
                        keys[2]: {"mode": "rate_minute", "retry_delay": "40s"},
                        keys[3]: {"mode": "rate_day"}})
    configure(make_app, cooldown_margin_seconds=MARGIN, models_refresh_seconds=0,
              recovery_interval_seconds=0)
    live = start(keys, GEMINI_BASE_URL=fake_proc.url)
    # Each worker meets the bad keys once; then it knows. Every answer is a refusal
    # with Retry-After, in the client's format, never a hang (10 s client timeout).
    seen = []
    for i in range(6):
        for kind in ("openai", "gemini"):
            resp = _post(live, kind)
            seen.append(resp)
            assert resp.status_code in (429, 503), resp.text[:300]
            err = resp.json()["error"]
            assert err["message"]
            if kind == "gemini":
                assert err["code"] == resp.status_code and err["status"]
            assert 0 < _retry_after(resp) <= 40 + MARGIN + 1, (resp.status_code, resp.headers)
    # Two keys are dead, two cool down: some recover by themselves, so "rate limited".
    assert seen[-1].status_code == 429 and seen[-2].status_code == 429
    # Dead keys were called at most once per worker.
    calls = generation_calls(fake_proc)
    assert calls[keys[0]] <= 2 and calls[keys[1]] <= 2


def test_every_key_out_of_daily_quota_says_when_it_comes_back(start, make_app, fake_proc):
    keys = [make_key("daily", i) for i in range(2)]
    fake_proc.set_keys({k: {"mode": "rate_day"} for k in keys})
    configure(make_app, models_refresh_seconds=0, recovery_interval_seconds=0)
    live = start(keys, GEMINI_BASE_URL=fake_proc.url)
    for kind in ("openai", "gemini", "openai", "gemini"):
        resp = _post(live, kind)
        assert resp.status_code == 429, resp.text[:300]
        wait = next_pacific_midnight(time.time()) - time.time()
        assert _retry_after(resp) == pytest.approx(wait, abs=5), resp.headers


def test_every_key_dead_or_ejected_gives_a_fast_503(start, make_app, fake_proc):
    keys = [make_key("dead", i) for i in range(3)]
    fake_proc.set_keys({keys[0]: "invalid", keys[1]: "internal", keys[2]: "internal"})
    configure(make_app, max_failures=1, ejection_base_seconds=120, ejection_max_seconds=240,
              models_refresh_seconds=0, recovery_interval_seconds=0, retry_backoff_seconds=0)
    live = start(keys, GEMINI_BASE_URL=fake_proc.url)
    last = None
    for i in range(6):
        for kind in ("openai", "gemini"):
            last = _post(live, kind)
            assert last.status_code in (500, 503), last.text[:300]
    # Once every key is known dead or ejected: 503 with Retry-After (the soonest ejection end).
    assert last.status_code == 503
    assert 0 < _retry_after(last) <= 120 + 1
    assert last.json()["error"]["message"]


# --- 3. what needs its own set-up -------------------------------------------------------

def test_connect_timeouts_eject_keys_and_then_fail_fast(start, make_app, blackhole, database_url):
    """No connection can be made: each key times out on connect, is ejected, then a 503."""
    keys = [make_key("connect", i) for i in range(3)]
    app = configure(make_app, connect_timeout_seconds=0.3, max_failures=1, max_retries=3,
                    ejection_base_seconds=120, ejection_max_seconds=240, retry_backoff_seconds=0,
                    models_refresh_seconds=0, recovery_interval_seconds=0)
    live = start(keys, GEMINI_BASE_URL=blackhole)
    first = _post(live, "openai", timeout=20)
    # Every key failed to connect: a gateway timeout, in the client's format.
    assert first.status_code == 504, first.text[:300]
    assert "connect_timeout" in first.text
    # The other worker learns the ejections at its next sync (0.5 s here); until then a
    # request it takes may still try a key, as the design allows.
    time.sleep(1.5)
    statuses = [_post(live, kind, timeout=20).status_code for kind in ("openai", "gemini") * 3]
    assert statuses == [503] * 6, statuses
    last = _post(live, "gemini", timeout=5)
    assert last.status_code == 503 and 0 < _retry_after(last) <= 121
    assert live.stop() == 0
    logs, _, key_rows, states, _ = db_rows(app)
    assert len(logs) == 8
    ejected = [s for s in states.values() if s["reason"] == "ejected"]
    assert len(ejected) == 3 and all("connect_timeout" in s["last_error"] for s in ejected)
    assert all(r["status"] == "active" for r in key_rows.values())


def test_a_stream_that_breaks_after_its_first_bytes_ends_with_an_error_event(
        start, make_app, fake_proc):
    """After bytes went to the client no retry is possible: the stream ends with an error
    event in the client's format, the request is logged once, the key is not penalised."""
    keys = [make_key("broken", i) for i in range(2)]
    for key in keys:
        fake_proc.set_key(key, "break_stream", after=1, how="close")
    app = configure(make_app, models_refresh_seconds=0, recovery_interval_seconds=0)
    live = start(keys, GEMINI_BASE_URL=fake_proc.url)
    chat = requests.post(f"{live.url}/v1/chat/completions", timeout=10, stream=True,
                         headers={"Authorization": f"Bearer {TOKEN}"},
                         json={"model": MODEL, "stream": True,
                               "messages": [{"role": "user", "content": "one two three four"}]})
    assert chat.status_code == 200
    events = [line[6:] for line in chat.iter_lines(decode_unicode=True) if line.startswith("data: ")]
    assert any("error" in json.loads(e) for e in events if e != "[DONE]"), events
    native = requests.post(f"{live.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
                           timeout=10, stream=True, headers={"x-goog-api-key": TOKEN},
                           json={"contents": [{"role": "user", "parts": [{"text": "one two three"}]}]})
    assert native.status_code == 200
    events = [json.loads(line[6:]) for line in native.iter_lines(decode_unicode=True)
              if line.startswith("data: ")]
    assert "error" in events[-1], events
    assert live.stop() == 0
    logs, _, key_rows, states, _ = db_rows(app)
    assert len(logs) == 2 and all(r["error_class"] not in (None, "success") for r in logs), logs
    assert all(r["status"] == "active" for r in key_rows.values())
    assert all(not s["consecutive_failures"] and s["cooldown_until"] is None
               for s in states.values()), states


def test_no_call_on_a_key_known_bad(faulted):
    """Once a key is disabled, cooling or ejected (and other workers had a sync interval
    and a write to learn it), nothing is sent with it any more."""
    slack = 3.0  # state write (within 1 s) + sync interval (0.5 s), with room to spare
    late = {}
    for mode in ("invalid", "suspended", "rate_minute", "rate_day", "internal", "slow",
                 "reset", "empty"):
        key_id = faulted.key_of(mode)
        marks = [epoch(e["created_at"]) for e in faulted.events
                 if e["key_id"] == key_id and e["event"] in ("disable", "cooldown", "eject")]
        assert marks, f"key {key_id} ({mode}) never changed state"
        first = min(marks)
        after = [t for t in faulted.call_times[key_id] if t > first + slack]
        if after:
            late[(key_id, mode)] = {
                "calls (s after its first state change)": [round(t - first, 3) for t in after],
                "events": sorted((round(epoch(e["created_at"]) - first, 3), e["event"])
                                 for e in faulted.events if e["key_id"] == key_id)}
    assert not late, f"calls on keys known bad for more than {slack} s: {late}"

