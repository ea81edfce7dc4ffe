"""Per-client-token limits: requests per minute, requests at once, models, body size."""
from __future__ import annotations

import threading
import time

import pytest

from balancer.crypto import token_hash
from balancer.extensions import db
from balancer.models import ClientToken
from balancer.services import pools as pool_service
from tests.conftest import TOKEN

MODEL = "gemini-2.5-flash"
LIMITED = "limited-client-token-0123456789"


def chat(client, model=MODEL, stream=False, text="hi", token=LIMITED):
    return client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {token}"},
                       json={"model": model, "stream": stream,
                             "messages": [{"role": "user", "content": text}]})


def native(client, model=MODEL, token=LIMITED):
    return client.post(f"/v1beta/models/{model}:generateContent", headers={"x-goog-api-key": token},
                       json={"contents": [{"parts": [{"text": "hi"}]}]})


@pytest.fixture
def limited(app, rt):
    """A stored client token with the given limits, in force in this process."""
    def make(**limits):
        with app.app_context():
            db.session.add(ClientToken(name="limited", token_hash=token_hash(LIMITED),
                                       prefix=LIMITED[:8], **limits))
            db.session.commit()
            pool_service.load_catalog(rt)
    return make


def test_requests_per_minute_in_both_api_formats(client, keys, upstream, limited):
    keys(2)
    limited(rpm_limit=3)
    for _ in range(3):
        assert chat(client).status_code == 200
    sent = len(upstream.requests)
    over = chat(client)
    assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
    assert over.get_json()["error"]["code"] == "rate_limit_exceeded"
    assert "3 requests per minute" in over.get_json()["error"]["message"]
    gemini = native(client)
    assert gemini.status_code == 429
    assert gemini.get_json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert len(upstream.requests) == sent  # refused before any key was used
    # Other clients are not held back by this one's limit.
    assert chat(client, token=TOKEN).status_code == 200


def test_requests_at_once(app, keys, upstream, limited):
    made = keys(1)
    limited(max_concurrent=1)
    upstream.set_key(made[0], "slow", delay=1.0, times=1)
    first: dict = {}
    slow = threading.Thread(target=lambda: first.setdefault("resp", chat(app.test_client())))
    slow.start()
    time.sleep(0.3)  # the first is now waiting on its slow upstream
    second = chat(app.test_client())
    slow.join(10)
    assert first["resp"].status_code == 200
    assert second.status_code == 429
    assert second.get_json()["error"]["code"] == "too_many_concurrent_requests"
    assert chat(app.test_client()).status_code == 200  # the first one has ended
    # A stream holds its place until it ends, then gives it back.
    stream = chat(app.test_client(), stream=True)
    assert b"[DONE]" in stream.get_data()
    assert chat(app.test_client()).status_code == 200


def test_allowed_models(client, keys, upstream, limited):
    keys(1)
    limited(allowed_models=["gemini-2.5-*", "text-embedding-*"])
    assert chat(client).status_code == 200
    refused = chat(client, model="gemini-2.0-flash")
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "model_not_allowed"
    assert "gemini-2.5-*" in refused.get_json()["error"]["message"]
    assert native(client, model="gemini-2.0-flash").get_json()["error"]["status"] == "PERMISSION_DENIED"


def test_request_size(client, keys, upstream, limited):
    keys(1)
    limited(max_request_kb=1)
    assert chat(client).status_code == 200
    big = chat(client, text="x" * 2048)
    assert big.status_code == 413
    assert big.get_json()["error"]["code"] == "request_too_large"


def test_a_limit_holds_over_several_processes(make_app, upstream):
    """Two processes on one database: each counts the other's requests after a sync."""
    from tests.fake_upstream import make_key
    a, b = make_app(), make_app()
    for app in (a, b):
        app.extensions["balancer"].services.bootstrap()
    from balancer.services import keys as key_service
    with a.app_context():
        key_service.add_keys(a.extensions["balancer"], [make_key("lim", 0)])
        db.session.add(ClientToken(name="shared", token_hash=token_hash(LIMITED),
                                   prefix=LIMITED[:8], rpm_limit=4))
        db.session.commit()
    for app in (a, b):
        app.extensions["balancer"].services.sync()
    assert chat(a.test_client()).status_code == 200
    assert chat(a.test_client()).status_code == 200
    a.extensions["balancer"].services.sync()  # publishes its two
    b.extensions["balancer"].services.sync()  # learns them
    assert chat(b.test_client()).status_code == 200
    assert chat(b.test_client()).status_code == 200
    assert chat(b.test_client()).status_code == 429


def test_the_tokens_command_sets_limits_the_proxy_enforces(app, client, keys, upstream):
    keys(1)
    runner = app.test_cli_runner()
    made = runner.invoke(args=["tokens", "add", "batch-jobs", "--rpm", "2",
                               "--models", "gemini-2.5-*"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().rsplit(": ", 1)[1]
    assert token.startswith("bal-") and "2/min" in made.stdout
    listed = runner.invoke(args=["tokens", "list"]).output
    assert "batch-jobs" in listed and token not in listed  # only its prefix is ever shown
    assert chat(client, token=token).status_code == 200
    assert chat(client, token=token, model="gemini-2.0-flash").status_code == 403
    assert chat(client, token=token).status_code == 200
    assert chat(client, token=token).status_code == 429
    token_id = listed.split()[0]
    lifted = runner.invoke(args=["tokens", "limit", token_id, "--rpm", "0"])
    assert lifted.exit_code == 0 and "models gemini-2.5-*" in lifted.output
    assert chat(client, token=token).status_code == 200
    bad = runner.invoke(args=["tokens", "limit", token_id, "--concurrent", "-1"])
    assert bad.exit_code == 2 and "whole number" in bad.output
    assert runner.invoke(args=["tokens", "revoke", token_id, "--yes"]).exit_code == 0
    assert chat(client, token=token).status_code == 401


def test_a_worker_forked_from_the_master_counts_as_a_process_of_its_own():
    """gunicorn builds the app (and its limiter) once in the master and forks the workers:
    each must publish its counts under a name of its own, or one would overwrite the other's."""
    import os

    from balancer.proxy.limits import ClientLimiter
    limiter = ClientLimiter()
    master = limiter.process
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: says its name and leaves at once
        os.write(write, limiter.process.encode())
        os._exit(0)
    os.close(write)
    worker = os.read(read, 200).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert worker and worker != master
    assert f":{pid}:" in worker
    assert limiter.process == master  # the master's own name stays as it was
