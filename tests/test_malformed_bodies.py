"""Malformed and deeply nested bodies are a 400 in the caller's format, on every route."""
from __future__ import annotations

import json

import pytest

from tests.conftest import TOKEN

MODEL = "gemini-2.5-flash"
EMBED_MODEL = "gemini-embedding-001"
IMAGE_MODEL = "imagen-4.0-generate-001"
USER = {"role": "user", "content": "hi"}
GEMINI_TURN = {"role": "user", "parts": [{"text": "hi"}]}


def nested(depth: int) -> object:
    """A value ``depth`` arrays deep."""
    return json.loads("[" * depth + "]" * depth)


DEEP = 100


def deep_text() -> str:
    """Nested far past orjson's own limit (1024) and Python's recursion limit."""
    return "[" * 100_000 + "]" * 100_000


CHAT = {"model": MODEL, "messages": [USER]}
CHAT_BODIES = {
    "message not an object": {**CHAT, "messages": [1]},
    "message null": {**CHAT, "messages": [None]},
    "role not a string": {**CHAT, "messages": [{"role": 5, "content": "hi"}]},
    "content part not an object": {**CHAT, "messages": [{"role": "user", "content": [1]}]},
    "content part null": {**CHAT, "messages": [{"role": "user", "content": [None]}]},
    "content an object": {**CHAT, "messages": [{"role": "user", "content": {"text": "x"}}]},
    "image_url not an object": {**CHAT, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": 5}]}]},
    "modalities of objects": {**CHAT, "modalities": [{}]},
    "modalities a string": {**CHAT, "modalities": "text"},
    "tool null": {**CHAT, "tools": [None]},
    "tools an object": {**CHAT, "tools": {"type": "function"}},
    "tool function null": {**CHAT, "tools": [{"type": "function", "function": None}]},
    "tool function a string": {**CHAT, "tools": [{"function": "f"}]},
    "tool_calls not objects": {**CHAT, "messages": [
        USER, {"role": "assistant", "content": None, "tool_calls": [1]}]},
    "tool_choice a number": {**CHAT, "tool_choice": 5},
    "response_format a string": {**CHAT, "response_format": "json"},
    "stop an object": {**CHAT, "stop": {"a": 1}},
    "max_tokens a string": {**CHAT, "max_tokens": "100"},
    "deeply nested metadata": {**CHAT, "metadata": {"x": nested(DEEP)}},
    "deeply nested content": {**CHAT, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "x", "extra": nested(DEEP)}]}]},
}
EMBED = {"model": EMBED_MODEL, "input": "hi"}
EMBED_BODIES = {
    "input of objects": {**EMBED, "input": [{}]},
    "input an object": {**EMBED, "input": {"a": 1}},
    "input of nulls": {**EMBED, "input": [None]},
    "deeply nested input": {**EMBED, "input": nested(DEEP)},
}
IMAGE = {"model": IMAGE_MODEL, "prompt": "a cat"}
IMAGE_BODIES = {
    "n a string": {**IMAGE, "n": "two"},
    "n a boolean": {**IMAGE, "n": True},
    "size an object": {**IMAGE, "size": {}},
    "deeply nested": {**IMAGE, "user": nested(DEEP)},
}
GEN = {"contents": [GEMINI_TURN]}
GEMINI_BODIES = {
    "contents a string": {"contents": "x"},
    "contents of numbers": {"contents": [1]},
    "contents of nulls": {"contents": [None]},
    "parts a string": {"contents": [{"role": "user", "parts": "x"}]},
    "part not an object": {"contents": [{"role": "user", "parts": [1]}]},
    "tools of nulls": {**GEN, "tools": [None]},
    "tools a string": {**GEN, "tools": "search"},
    "generationConfig a string": {**GEN, "generationConfig": "x"},
    "systemInstruction a number": {**GEN, "systemInstruction": 5},
    "safetySettings of numbers": {**GEN, "safetySettings": [1]},
    "deeply nested": {**GEN, "labels": nested(DEEP)},
}
EMBED_CONTENT_BODIES = {
    "content a string": {"content": "x"},
    "parts of numbers": {"content": {"parts": [1]}},
    "parts a number": {"content": {"parts": 1}},
    "deeply nested": {"content": {"parts": [{"text": "x"}]}, "extra": nested(DEEP)},
}


def _openai_error(resp) -> dict:
    assert resp.status_code == 400, resp.get_data(as_text=True)
    err = resp.get_json()["error"]
    assert err["type"] == "invalid_request_error" and err["message"]
    return err


def _anthropic_error(resp) -> dict:
    assert resp.status_code == 400, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["type"] == "error"
    err = body["error"]
    assert err["type"] == "invalid_request_error" and err["message"]
    return err


def _google_error(resp) -> dict:
    assert resp.status_code == 400, resp.get_data(as_text=True)
    err = resp.get_json()["error"]
    assert err["code"] == 400 and err["status"] == "INVALID_ARGUMENT" and err["message"]
    return err


OPENAI_CASES = [("/v1/chat/completions", name, body) for name, body in CHAT_BODIES.items()] \
    + [("/v1/chat/completions", f"{name} (stream)", {**body, "stream": True})
       for name, body in CHAT_BODIES.items()] \
    + [("/v1/embeddings", name, body) for name, body in EMBED_BODIES.items()] \
    + [("/v1/images/generations", name, body) for name, body in IMAGE_BODIES.items()]


@pytest.mark.parametrize("mode", ["native", "compat"])
@pytest.mark.parametrize("path, name, body", OPENAI_CASES,
                         ids=[f"{p.rsplit('/', 1)[-1]}: {n}" for p, n, _ in OPENAI_CASES])
def test_openai_routes_refuse_malformed_bodies(app, rt, client, auth, keys, upstream, mode,
                                               path, name, body):
    from balancer.services import pools as pool_service
    with app.app_context():
        pool_service.edit_pool(rt, "gemini", overrides={"openai_api": mode})
    keys(1)
    _openai_error(client.post(path, json=body, headers=auth))
    assert upstream.requests == []


GEMINI_CASES = [(action, name, body) for action in ("generateContent", "streamGenerateContent")
                for name, body in GEMINI_BODIES.items()] \
    + [("embedContent", name, body) for name, body in EMBED_CONTENT_BODIES.items()]


@pytest.mark.parametrize("action, name, body", GEMINI_CASES,
                         ids=[f"{a}: {n}" for a, n, _ in GEMINI_CASES])
def test_gemini_routes_refuse_malformed_bodies(client, keys, upstream, action, name, body):
    keys(1)
    model = EMBED_MODEL if action == "embedContent" else MODEL
    resp = client.post(f"/v1beta/models/{model}:{action}", json=body,
                       headers={"x-goog-api-key": TOKEN})
    _google_error(resp)
    assert upstream.requests == []


@pytest.mark.parametrize("path, headers, check", [
    ("/v1/chat/completions", {"Authorization": f"Bearer {TOKEN}"}, _openai_error),
    ("/v1/embeddings", {"Authorization": f"Bearer {TOKEN}"}, _openai_error),
    (f"/v1beta/models/{MODEL}:generateContent", {"x-goog-api-key": TOKEN}, _google_error),
    ("/v1/messages", {"x-api-key": TOKEN}, _anthropic_error),
])
def test_json_nested_past_any_parser_is_a_400(client, keys, upstream, path, headers, check):
    keys(1)
    raw = '{"model": "%s", "messages": %s, "contents": %s}' % (MODEL, deep_text(), deep_text())
    err = check(client.post(path, data=raw, headers={**headers,
                                                      "Content-Type": "application/json"}))
    assert "nested" in err["message"]
    assert upstream.requests == []


@pytest.mark.parametrize("body", [
    # Google's JSON takes one object for a repeated field; its own examples do.
    {"contents": {"parts": {"text": "hi"}}},
    {"system_instruction": {"parts": {"text": "Be brief."}}, "contents": [GEMINI_TURN]},
    {"contents": [GEMINI_TURN], "tools": {"googleSearch": {}}},
], ids=["contents an object", "system_instruction parts an object", "tools an object"])
def test_gemini_bodies_google_accepts_are_not_refused(client, keys, upstream, body):
    keys(1)
    resp = client.post(f"/v1beta/models/{MODEL}:generateContent", json=body,
                       headers={"x-goog-api-key": TOKEN})
    assert resp.status_code not in (400, 500), resp.get_data(as_text=True)
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("part", [
    {"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo="},
    {"type": "text", "text": "hi"},
], ids=["image_url a bare URL", "text"])
def test_chat_content_parts_clients_send_are_not_refused(client, auth, keys, upstream, part):
    keys(1)
    body = {**CHAT, "messages": [{"role": "user", "content": [part]}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {
                "type": "object", "properties": {"x": {"type": "string"}}}}}]}
    resp = client.post("/v1/chat/completions", json=body, headers=auth)
    assert resp.status_code != 500 and len(upstream.requests) == 1, resp.get_data(as_text=True)
