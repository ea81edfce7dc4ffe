"""Client text that an error message names is quoted and cut, never echoed raw."""
from __future__ import annotations

import json

import pytest

from tests.conftest import TOKEN

OPENAI = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
GEMINI = {"x-goog-api-key": TOKEN, "Content-Type": "application/json"}
FIELD = "evil\nfield\u202e" + "f" * 3000


def raw_free(message: str) -> None:
    assert "\n" not in message and "\x00" not in message
    assert "f" * 200 not in message and len(message) < 600, len(message)


@pytest.mark.parametrize("path, headers, body", [
    ("/v1/chat/completions", OPENAI,
     {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], FIELD: 1}),
    ("/v1/embeddings", OPENAI, {"model": "gemini-embedding-001", "input": "x", FIELD: 1}),
    ("/v1/chat/completions", OPENAI,
     {"model": "gemini-2.5-flash", "messages": [{"role": FIELD, "content": "x"}]}),
    ("/v1/chat/completions", OPENAI,
     {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}],
      "reasoning_effort": FIELD}),
    ("/v1/chat/completions", OPENAI,
     {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}],
      "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": FIELD}),
])
def test_a_field_name_or_value_in_an_error_is_quoted_and_cut(client, keys, path, headers, body):
    keys(1)
    resp = client.post(path, data=json.dumps(body), headers=headers)
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
    error = resp.get_json()["error"]
    raw_free(error["message"])
    assert '"evil\\nfield' in error["message"]  # JSON-quoted: the newline shown as \n
    assert error.get("param") is None or len(error["param"]) <= 200


def test_an_unknown_route_is_named_quoted(client):
    resp = client.post("/v1/" + "a%0Ab" + "f" * 3000, data="{}", headers=OPENAI)
    assert resp.status_code == 404
    message = resp.get_json()["error"]["message"]
    raw_free(message)
    assert '"/v1/a\\nb' in message
