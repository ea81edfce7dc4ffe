"""Google's auth keys (``AQ.…``): served over Gemini's own API, refused by its OpenAI layer."""
from __future__ import annotations

import json

from balancer.services import keys as key_service
from balancer.services import pools as pool_service
from tests.fake_upstream import make_key

MODEL = "gemini-2.5-flash"


def chat(client, auth, stream=False, **extra):
    return client.post("/v1/chat/completions", headers=auth, json={
        "model": MODEL, "stream": stream, "messages": [{"role": "user", "content": "hi"}],
        **extra})


def key_rows(app):
    with app.app_context():
        return {row["key"]: row for row in key_service.list_keys()}


def test_a_pool_of_auth_keys_serves_openai_clients_over_the_native_api(client, auth, keys,
                                                                       upstream):
    made = keys(2, kind="auth")
    assert all(k.startswith("AQ.") for k in made)
    answer = chat(client, auth)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["choices"][0]["message"]["content"] == "Echo: hi"
    streamed = chat(client, auth, stream=True, stream_options={"include_usage": True})
    events = [e[6:] for e in streamed.get_data(as_text=True).split("\n\n") if e.startswith("data: ")]
    assert events[-1] == "[DONE]" and json.loads(events[-2])["usage"]["total_tokens"] > 0
    embedded = client.post("/v1/embeddings", headers=auth,
                           json={"model": "gemini-embedding-001", "input": ["a", "b"]})
    assert embedded.status_code == 200 and len(embedded.get_json()["data"]) == 2
    for sent in upstream.requests:
        assert sent["flavour"] == "native" and sent["headers"]["x-goog-api-key"] in made
        assert not any(k in sent["path"] or k in json.dumps(sent["query"]) for k in made)


def test_on_a_compat_pool_an_auth_key_is_passed_over_and_says_why(app, rt, client, auth, keys,
                                                                   upstream, compat):
    auth_key = make_key("mixed", 0, kind="auth")
    standard = make_key("mixed", 1)
    with app.app_context():
        key_service.add_keys(rt, [auth_key, standard])
    for _ in range(3):
        resp = chat(client, auth)
        assert resp.status_code == 200, resp.get_data(as_text=True)
    # Refused once by Google's OpenAI layer, then left alone for that model.
    assert upstream.count(key=auth_key) == 1
    rt.services.flush()
    row = key_rows(app)[f"{auth_key[:4]}…{auth_key[-3:]}"]
    assert row["status"] == "cooling_down" and row["disabled_reason"] is None
    state = row["models"][MODEL]
    assert state["reason"] == "openai_layer_refuses_key"
    assert "OpenAI-compatible layer refuses this kind of key" in state["reason_text"]
    listed = app.test_cli_runner().invoke(args=["keys", "list"]).output
    assert "refuses this kind of key" in listed and "openai_api to native" in listed


def test_a_compat_pool_of_auth_keys_only_tells_the_client_what_to_change(client, auth, keys,
                                                                         compat):
    keys(2, kind="auth")
    resp = chat(client, auth)
    assert resp.status_code == 503
    message = resp.get_json()["error"]["message"]
    assert "refuses this kind of key" in message and "native" in message


def test_switching_the_pool_to_native_serves_the_same_keys(app, rt, client, auth, keys, compat):
    keys(1, kind="auth")
    assert chat(client, auth).status_code == 503
    with app.app_context():
        pool_service.edit_pool(rt, "gemini", overrides={"openai_api": "native"})
    # The key stays off the model it was refused for, for a while (health is per model);
    # on any other model the native API serves it at once.
    resp = chat(client, auth, model="gemini-2.5-pro")
    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_on_the_native_api_a_refused_auth_key_is_dead(app, rt, client, auth, keys, upstream):
    broken = "AQ." + "x" * 10  # cut short: the native API refuses it as an invalid token
    good = make_key("dead-auth", 0, kind="auth")
    with app.app_context():
        key_service.add_keys(rt, [good, broken + "y" * 30])
    upstream.set_key(broken + "y" * 30, "invalid")
    for _ in range(3):
        assert chat(client, auth).status_code == 200
    rt.services.flush()
    statuses = sorted(row["status"] for row in key_rows(app).values())
    assert statuses == ["active", "disabled"]


def test_the_cli_and_the_pools_page_set_how_openai_clients_reach_a_pool(app, rt, client, auth,
                                                                         keys, upstream):
    keys(1)
    runner = app.test_cli_runner()
    assert "openai_api=native (from settings)" in runner.invoke(args=["pools", "list"]).output
    result = runner.invoke(args=["pools", "edit", "gemini", "--openai-api", "compat"])
    assert result.exit_code == 0, result.output
    assert "openai_api=compat" in runner.invoke(args=["pools", "list"]).output
    assert chat(client, auth).status_code == 200
    assert upstream.requests[-1]["flavour"] == "compat"
    with app.app_context():
        [pool] = [p for p in pool_service.list_pools() if p["name"] == "gemini"]
    assert pool["overrides"] == {"openai_api": "compat"}
    result = runner.invoke(args=["pools", "edit", "gemini", "--unset", "openai_api"])
    assert result.exit_code == 0, result.output
    assert chat(client, auth).status_code == 200
    assert upstream.requests[-1]["flavour"] == "native"
