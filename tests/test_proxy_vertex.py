"""A pool of Vertex AI express-mode keys, through every client API, against the fake's
``/v1/publishers/google/models/...`` paths."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import Pool
from balancer.services import keys as key_service
from balancer.services import pools as pool_service
from tests.conftest import TOKEN
from tests.fake_upstream import make_key

MODEL = "gemini-2.5-flash"
GEMINI_AUTH = {"x-goog-api-key": TOKEN}
BODY = {"contents": [{"role": "user", "parts": [{"text": "hello vertex"}]}]}
UPSTREAM_PATH = f"/v1/publishers/google/models/{MODEL}"


@pytest.fixture
def vertex(app, rt, upstream):
    """The default pool is a ``vertex_express`` pool on the fake, with two keys (one auth key)."""
    with app.app_context():
        pool_service.create_pool(rt, "vertex", "vertex_express", upstream.url)
        db.session.execute(sa.update(Pool).values(is_default=False))
        db.session.execute(sa.update(Pool).where(Pool.name == "vertex").values(is_default=True))
        db.session.commit()
        made = [make_key("vx", 0), "AQ." + make_key("vx", 1)[4:] + "Ab_-Q"]
        added = key_service.add_keys(rt, made, pool_service.get_pool("vertex"))
        assert len(added.added) == 2 and added.unknown == 0 and not added.malformed
        pool_service.load_catalog(rt)
    return made


def generate(client, action="generateContent", query=""):
    return client.post(f"/v1beta/models/{MODEL}:{action}{query}", headers=GEMINI_AUTH, json=BODY)


def key_rows(app):
    with app.app_context():
        return {r["key"]: r for r in key_service.list_keys() if r["pool"] == "vertex"}


def test_native_generate_passes_through_to_the_express_path(client, vertex, upstream):
    resp = generate(client)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert "hello vertex" in resp.get_json()["candidates"][0]["content"]["parts"][0]["text"]
    sent = upstream.requests[-1]
    assert sent["flavour"] == "vertex" and sent["path"] == f"{UPSTREAM_PATH}:generateContent"
    # The key travels in the header, never in the URL.
    assert sent["headers"]["x-goog-api-key"] in vertex and "key" not in sent["query"]


def test_native_stream_is_relayed_as_sse(client, vertex, upstream):
    resp = generate(client, "streamGenerateContent", "?alt=sse")
    assert resp.status_code == 200
    text = resp.get_data(as_text=True).replace("\r\n", "\n")
    events = [json.loads(b.strip()[5:]) for b in text.split("\n\n") if b.strip().startswith("data:")]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    sent = upstream.requests[-1]
    assert sent["path"] == f"{UPSTREAM_PATH}:streamGenerateContent" and sent["query"] == {"alt": "sse"}


def test_native_stream_without_alt_is_relayed_as_a_json_array(client, vertex, upstream):
    resp = generate(client, "streamGenerateContent")
    assert resp.status_code == 200
    chunks = json.loads(resp.get_data(as_text=True))
    assert isinstance(chunks, list) and chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert upstream.requests[-1]["query"] == {}


def test_count_tokens_passes_through(client, vertex, upstream):
    resp = generate(client, "countTokens")
    assert resp.status_code == 200 and resp.get_json()["totalTokens"] > 0
    assert upstream.requests[-1]["path"] == f"{UPSTREAM_PATH}:countTokens"


def test_openai_chat_is_translated_to_generate_content(client, auth, vertex, upstream):
    resp = client.post("/v1/chat/completions", headers=auth, json={
        "model": "vertex/" + MODEL, "messages": [{"role": "user", "content": "hello chat"}]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    answer = resp.get_json()
    assert answer["object"] == "chat.completion" and answer["choices"][0]["message"]["content"]
    assert upstream.requests[-1]["path"] == f"{UPSTREAM_PATH}:generateContent"


def test_openai_chat_stream_is_translated(client, auth, vertex, upstream):
    resp = client.post("/v1/chat/completions", headers=auth, json={
        "model": MODEL, "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 200
    assert resp.get_data(as_text=True).rstrip().endswith("data: [DONE]")
    assert upstream.requests[-1]["path"] == f"{UPSTREAM_PATH}:streamGenerateContent"


def test_anthropic_messages_are_translated(client, vertex, upstream):
    resp = client.post("/v1/messages", headers={"x-api-key": TOKEN, "anthropic-version": "2023-06-01"},
                       json={"model": MODEL, "max_tokens": 64,
                             "messages": [{"role": "user", "content": "hello claude"}]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["type"] == "message"
    assert upstream.requests[-1]["path"] == f"{UPSTREAM_PATH}:generateContent"


def test_a_quota_429_cools_the_key_and_another_key_answers(app, client, vertex, upstream, rt):
    limited, good = vertex
    upstream.set_key(limited, "rate_minute")
    for _ in range(4):
        assert generate(client).status_code == 200
    assert upstream.count(key=limited) == 1
    rt.services.flush()
    row = next(r for r in key_rows(app).values() if r["models"].get(MODEL, {}).get("status") == "cooling_down")
    assert row["enabled"] and row["status"] != "disabled"


def test_an_invalid_key_is_retired_and_the_request_goes_on(app, client, vertex, upstream, rt):
    dead, good = vertex
    upstream.set_key(dead, "invalid")
    for _ in range(3):
        assert generate(client).status_code == 200
    assert upstream.count(key=dead) == 1
    rt.services.flush()
    assert sorted(r["status"] for r in key_rows(app).values()) == ["active", "disabled"]


def test_a_permission_refusal_keeps_the_key_but_not_on_that_model(app, client, vertex, upstream, rt):
    refused, good = vertex
    upstream.set_key(refused, "no_permission")
    for _ in range(3):
        assert generate(client).status_code == 200
    assert upstream.count(key=refused) == 1
    rt.services.flush()
    statuses = sorted(r["status"] for r in key_rows(app).values())
    assert "disabled" not in statuses


def test_the_files_api_is_a_clear_400(client, vertex, upstream):
    resp = client.post("/upload/v1beta/files", headers={
        **GEMINI_AUTH, "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": "3", "X-Goog-Upload-Header-Content-Type": "text/plain"},
        json={"file": {"display_name": "x"}})
    assert resp.status_code == 400, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and "Files API" in error["message"]
    assert not upstream.requests


def test_cached_contents_are_a_clear_400(client, vertex, upstream):
    resp = client.post("/v1beta/cachedContents", headers=GEMINI_AUTH,
                       json={"model": f"models/{MODEL}", "contents": BODY["contents"]})
    assert resp.status_code == 400
    assert "express mode" in resp.get_json()["error"]["message"]
    assert not upstream.requests


def test_a_method_express_mode_lacks_is_a_clear_400(client, vertex, upstream):
    resp = client.post(f"/v1beta/models/{MODEL}:embedContent", headers=GEMINI_AUTH,
                       json={"content": {"parts": [{"text": "x"}]}})
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and "express mode" in error["message"]
    assert not upstream.requests


def test_the_model_list_comes_from_the_pool(client, auth, vertex, upstream):
    names = [m["name"] for m in client.get("/v1beta/models", headers=GEMINI_AUTH).get_json()["models"]]
    assert f"models/{MODEL}" in names
    ids = [m["id"] for m in client.get("/v1/models", headers=auth).get_json()["data"]]
    assert MODEL in ids
    assert not upstream.requests


def test_one_model_is_answered_from_the_pool(client, auth, vertex, upstream):
    resp = client.get(f"/v1/models/{MODEL}", headers=auth)
    assert resp.status_code == 200 and resp.get_json()["owned_by"] == "vertex"
    missing = client.get("/v1/models/vertex/gemini-9-nope", headers=auth)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "model_not_found"
    assert not upstream.requests


def test_responses_are_translated_to_generate_content(client, auth, vertex, upstream):
    resp = client.post("/v1/responses", headers=auth, json={"model": MODEL, "input": "hello responses"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    answer = resp.get_json()
    assert answer["object"] == "response" and answer["output"][0]["content"][0]["text"]
    assert upstream.requests[-1]["path"] == f"{UPSTREAM_PATH}:generateContent"


def test_beside_a_gemini_default_pool_a_prefix_or_alias_reaches_it(app, rt, client, keys, upstream):
    gemini_keys = keys(1)
    with app.app_context():
        pool = pool_service.create_pool(rt, "vx", "vertex_express", upstream.url,
                                        aliases={"pro": "gemini-2.5-pro"})
        key_service.add_keys(rt, [make_key("vx-side", 0)], pool)
        # The default pool's fetched list holds the model too: it comes first.
        db.session.execute(sa.update(Pool).where(Pool.is_default.is_(True)).values(
            models=["gemini-2.5-flash"]))
        db.session.commit()
        pool_service.load_catalog(rt)
    for name, model in (("vx/gemini-2.5-flash", "gemini-2.5-flash"), ("pro", "gemini-2.5-pro")):
        resp = client.post(f"/v1beta/models/{name}:generateContent", headers=GEMINI_AUTH, json=BODY)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        sent = upstream.requests[-1]
        assert sent["path"] == f"/v1/publishers/google/models/{model}:generateContent"
    assert generate(client).status_code == 200  # a plain name stays on the default pool
    assert upstream.requests[-1]["flavour"] == "native" and upstream.requests[-1]["key"] in gemini_keys


def test_testing_a_key_counts_tokens_and_a_dead_key_is_disabled(app, rt, vertex, upstream):
    from balancer.services import key_ops

    dead, good = vertex
    upstream.set_key(dead, "invalid")
    with app.app_context():
        ids = {r["key"]: r["id"] for r in key_service.list_keys() if r["pool"] == "vertex"}
        results = [key_ops.test_key(rt, key_id) for key_id in sorted(ids.values())]
    assert [(r.ok, r.effect) for r in results] == [(False, "disabled"), (True, "")]
    assert all(dead not in r.message for r in results)
    sent = upstream.requests[-1]
    assert sent["method"] == "POST" and sent["path"].endswith(":countTokens")
    assert sent["flavour"] == "vertex" and sent["status"] == 200



@pytest.fixture
def served(app):
    """The app on a loopback port (werkzeug, threaded), for SDK clients."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def test_the_openai_sdk_chats_and_streams_through_a_vertex_pool(served, vertex, upstream):
    import openai

    sdk = openai.OpenAI(base_url=f"{served}/v1", api_key=TOKEN, max_retries=0)
    reply = sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi sdk"}])
    assert "hi sdk" in reply.choices[0].message.content and reply.usage.total_tokens > 0
    pieces = [c.choices[0].delta.content or "" for c in sdk.chat.completions.create(
        model=MODEL, stream=True, messages=[{"role": "user", "content": "stream sdk"}]) if c.choices]
    assert "stream sdk" in "".join(pieces)
    assert {r["flavour"] for r in upstream.requests} == {"vertex"}
    upstream.set_key(vertex[0], "invalid")
    upstream.set_key(vertex[1], "rate_minute")
    with pytest.raises(openai.APIStatusError) as err:
        sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code == 429
    assert all(k not in str(err.value.body) for k in vertex)
