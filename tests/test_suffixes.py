"""Model suffixes: -search, -image, -non-thinking."""
from __future__ import annotations

import dataclasses

import pytest

from balancer.services import settings as settings_service
from tests.conftest import TOKEN

BODY = {"contents": [{"role": "user", "parts": [{"text": "suffixed"}]}]}


def native(client, model, action="generateContent"):
    return client.post(f"/v1beta/models/{model}:{action}", headers={"x-goog-api-key": TOKEN}, json=BODY)


@pytest.mark.parametrize("suffix, check", [
    ("-search", lambda b: {"googleSearch": {}} in b["tools"]),
    ("-image", lambda b: b["generationConfig"]["responseModalities"] == ["TEXT", "IMAGE"]),
    ("-non-thinking", lambda b: b["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 0),
])
@pytest.mark.parametrize("action", ["generateContent", "streamGenerateContent"])
def test_a_suffix_becomes_the_gemini_option_and_the_base_model_is_called(
        client, keys, upstream, suffix, check, action):
    keys(1)
    resp = native(client, f"gemini-2.5-flash{suffix}", action)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    sent = upstream.requests[-1]
    assert f"/models/gemini-2.5-flash:{action}" in sent["path"]
    assert check(sent["body"])


def test_a_client_option_is_kept_beside_the_suffix(client, keys, upstream):
    keys(1)
    body = {**BODY, "tools": [{"codeExecution": {}}]}
    client.post("/v1beta/models/gemini-2.5-flash-search:generateContent",
                headers={"x-goog-api-key": TOKEN}, json=body)
    assert upstream.requests[-1]["body"]["tools"] == [{"codeExecution": {}}, {"googleSearch": {}}]


def test_non_thinking_works_through_chat_completions(client, auth, keys, upstream):
    keys(1)
    resp = client.post("/v1/chat/completions", headers=auth, json={
        "model": "gemini-2.5-flash-non-thinking", "messages": [{"role": "user", "content": "x"}]})
    assert resp.status_code == 200
    sent = upstream.requests[-1]["body"]
    assert sent["model"] == "gemini-2.5-flash" and sent["reasoning_effort"] == "none"


def test_search_through_chat_completions_is_refused_clearly(client, auth, keys, upstream):
    keys(1)
    resp = client.post("/v1/chat/completions", headers=auth, json={
        "model": "gemini-2.5-flash-search", "messages": [{"role": "user", "content": "x"}]})
    assert resp.status_code == 400 and "generateContent" in resp.get_json()["error"]["message"]
    assert upstream.requests == []


def test_a_suffix_switched_off_is_just_part_of_the_name(app, client, keys, upstream, rt):
    keys(1)
    with app.app_context():
        settings_service.update(rt, {"suffix_search": False})
    resp = native(client, "gemini-2.5-flash-search")
    assert resp.status_code == 404
    assert "gemini-2.5-flash-search" in upstream.requests[-1]["path"]


def test_the_model_list_offers_non_thinking_variants_while_that_suffix_is_on(app, client, auth, keys, rt):
    keys(1)
    pool = rt.catalog.default_pool()
    rt.catalog = dataclasses.replace(rt.catalog, pools={
        pool.id: dataclasses.replace(pool, models=("gemini-2.5-flash", "gemini-embedding-001"))})
    ids = [m["id"] for m in client.get("/v1/models", headers=auth).get_json()["data"]]
    assert ids == ["gemini-2.5-flash", "gemini-2.5-flash-non-thinking", "gemini-embedding-001"]
    with app.app_context():
        settings_service.update(rt, {"suffix_non_thinking": False})
    ids = [m["id"] for m in client.get("/v1/models", headers=auth).get_json()["data"]]
    assert ids == ["gemini-2.5-flash", "gemini-embedding-001"]


def test_health_is_kept_under_the_base_model(client, keys, upstream, rt):
    (key,) = keys(1)
    upstream.set_key(key, "rate_minute", retry_delay="30s")
    native(client, "gemini-2.5-flash-search")
    key_id = next(iter(rt.keypool.key_ids()))
    assert [s.model for s in rt.keypool.snapshot(key_id)[1]] == ["gemini-2.5-flash"]
    assert native(client, "gemini-2.5-flash").status_code == 429
