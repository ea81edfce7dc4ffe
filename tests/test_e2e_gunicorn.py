"""End to end: real gunicorn, two gevent workers, the official openai client."""
from __future__ import annotations

import json
import time

import openai
import pytest
import requests

from tests.conftest import TOKEN
from tests.fake_upstream import make_key
from tests.live import LiveBalancer, flask_cli, keys_list

pytestmark = pytest.mark.e2e
MODEL = "gemini-2.5-flash"


def sdk(live: LiveBalancer, token: str = TOKEN) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=token, max_retries=0, timeout=20)


def test_the_openai_client_gets_chat_streams_models_and_embeddings(start, upstream):
    live = start([make_key("e2e", i) for i in range(3)])
    client = sdk(live)
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi there"}])
    assert "hi there" in reply.choices[0].message.content
    assert reply.usage.total_tokens > 0
    pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "stream it"}], stream=True) if c.choices]
    assert len(pieces) > 1 and "stream it" in "".join(pieces)
    assert any(m.id.endswith(MODEL) for m in client.models.list())
    emb = client.embeddings.create(model="gemini-embedding-001", input=["one", "two"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) > 10


def test_failover_across_bad_keys_with_two_workers(start, upstream):
    good = [make_key("good", i) for i in range(2)]
    bad = {make_key("bad", 0): "invalid", make_key("bad", 1): "internal",
           make_key("bad", 2): "rate_minute", make_key("bad", 3): "suspended"}
    for key, mode in bad.items():
        upstream.set_key(key, mode, retry_delay="60s") if mode == "rate_minute" else upstream.set_key(key, mode)
    live = start(good + list(bad))
    client = sdk(live)
    for i in range(30):
        reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"q{i}"}])
        assert reply.choices[0].message.content
    time.sleep(1.5)
    rows = {r["key"]: r for r in keys_list(live.env)}
    statuses = {key: next(r for r in rows.values() if r["id"] == _id_of(live, key))["status"]
                for key in bad}
    assert statuses[make_key("bad", 0)] == "disabled"
    assert statuses[make_key("bad", 3)] == "disabled"
    assert statuses[make_key("bad", 2)] == "cooling_down"
    # Dead and cooling keys are called at most once per worker, then skipped.
    assert upstream.count(key=make_key("bad", 0)) <= 2
    assert upstream.count(key=make_key("bad", 2)) <= 2


def _id_of(live, key):
    out = flask_cli(live.env, "keys", "export", "--reveal")
    return next(k["id"] for k in json.loads(out.stdout)["keys"] if k["key"] == key)


def test_a_key_disabled_by_one_worker_is_skipped_by_the_other(start, upstream):
    keys = [make_key("sync", i) for i in range(2)]
    live = start(keys)
    upstream.set_key(keys[0], "invalid")
    client = sdk(live)
    # Enough requests that both workers have served some and one met the dead key.
    for i in range(10):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": str(i)}])
    time.sleep(2.0)  # > flush (0.5 s) + sync interval (0.5 s)
    before = upstream.count(key=keys[0])
    for i in range(30):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": str(i)}])
    assert upstream.count(key=keys[0]) == before


def test_every_key_benched_gives_a_fast_429_and_the_sdk_sees_retry_after(start, upstream):
    keys = [make_key("bench", i) for i in range(2)]
    for k in keys:
        upstream.set_key(k, "rate_minute", retry_delay="30s")
    live = start(keys)
    raw = requests.post(f"{live.url}/v1/chat/completions", headers={"Authorization": f"Bearer {TOKEN}"},
                        json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]}, timeout=10)
    assert raw.status_code == 429
    time.sleep(1.5)
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as err:
        sdk(live).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert time.monotonic() - started < 1.0
    assert int(err.value.response.headers["retry-after"]) > 0


def test_client_auth_and_bad_input_through_the_sdk(start, upstream):
    live = start([make_key("auth", 0)], MAX_REQUEST_MB="1")
    with pytest.raises(openai.AuthenticationError):
        sdk(live, token="wrong").chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as err:
        sdk(live).chat.completions.create(model="../etc/passwd", messages=[{"role": "user", "content": "x"}])
    assert "model" in err.value.message.lower()
    resp = requests.post(f"{live.url}/v1/chat/completions", data=b"{broken",
                         headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"]["message"]
    big = {"model": MODEL, "messages": [{"role": "user", "content": "a" * (2 << 20)}]}
    resp = requests.post(f"{live.url}/v1/chat/completions", json=big,
                         headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 413 and resp.json()["error"]["type"] == "invalid_request_error"
    # Nothing reached the upstream but Balancer's own fetch of the model list at start.
    assert [r["path"] for r in upstream.requests if not r["path"].endswith("/models")] == []


def test_a_restart_keeps_key_states_and_counters(start, upstream):
    keys = [make_key("restart", i) for i in range(3)]
    upstream.set_key(keys[0], "invalid")
    live = start(keys)
    client = sdk(live)
    for i in range(12):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": str(i)}])
    assert live.stop() == 0  # SIGTERM: graceful, buffers flushed
    rows = keys_list(live.env)
    # Every chat counted once, the failed attempts on the dead key too (the model-list
    # fetch at start is Balancer's own call, not a request).
    assert sum(r["requests"] for r in rows) == 12 + upstream.count(key=keys[0],
                                                                   path_contains="generateContent")
    calls_on_dead = upstream.count(key=keys[0])
    live2 = start(keys)  # GEMINI_API_KEYS again: nothing is added twice
    assert len(keys_list(live2.env)) == 3
    for i in range(10):
        sdk(live2).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": str(i)}])
    assert upstream.count(key=keys[0]) == calls_on_dead


def test_no_upstream_key_in_responses_logs_or_errors(start, upstream):
    keys = [make_key("leak", i) for i in range(3)]
    upstream.set_key(keys[0], "suspended")
    upstream.set_key(keys[1], "invalid")
    live = start(keys)
    seen = []
    for i in range(6):
        r = requests.post(f"{live.url}/v1/chat/completions", headers={"Authorization": f"Bearer {TOKEN}"},
                          json={"model": MODEL, "messages": [{"role": "user", "content": str(i)}]}, timeout=10)
        seen.append(r.text + json.dumps(dict(r.headers)))
    upstream.set_key(keys[2], "suspended")
    r = requests.post(f"{live.url}/v1/chat/completions", headers={"Authorization": f"Bearer {TOKEN}"},
                      json={"model": MODEL, "messages": [{"role": "user", "content": "last"}]}, timeout=10)
    seen.append(r.text)
    seen.append(flask_cli(live.env, "keys", "list", "--json").stdout)
    seen.append(flask_cli(live.env, "keys", "export").stdout)
    live.stop()
    seen.append(live.log())
    for key in keys:
        assert all(key not in text for text in seen)
        assert all(key[:-3] not in text for text in seen)


def test_two_instances_on_one_database_agree_on_a_dead_key(start, upstream):
    keys = [make_key("twin", i) for i in range(3)]
    first = start(keys)
    second = start(keys)
    upstream.set_key(keys[0], "invalid")
    a = sdk(first)
    for i in range(8):
        a.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": str(i)}])
    assert upstream.count(key=keys[0]) >= 1
    time.sleep(2.0)  # flush (0.5 s) + sync interval (0.5 s), with room to spare
    before = upstream.count(key=keys[0])
    b = sdk(second)
    for i in range(20):
        b.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": str(i)}])
    assert upstream.count(key=keys[0]) == before
    rows = keys_list(second.env)
    assert sum(r["status"] == "disabled" for r in rows) == 1


def _smaps(pid: int) -> dict[str, int]:
    """A process's memory from /proc/PID/smaps_rollup, kB by field."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                fields[name] = int(rest.split()[0])
    return fields


def test_the_workers_share_the_app_the_master_loaded(start, upstream):
    """gunicorn loads Balancer once, in its master, and forks the workers from it: most of a
    worker's memory is pages it shares with the master, not a copy of its own."""
    live = start([make_key("shared", i) for i in range(2)])
    reply = sdk(live).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    master = _smaps(live.proc.pid)
    assert master["Rss"] > 40_000, master  # the master holds the whole app
    for pid in live.worker_pids():
        worker = _smaps(pid)
        own = worker["Private_Clean"] + worker["Private_Dirty"]
        assert own < worker["Rss"] / 2, worker
