"""The playground: chats go through the proxy path as client "playground"; saved prompts."""
from __future__ import annotations

import json
import re
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ApiKey, Pool, RequestLog, SavedPrompt, UsageBucket
from balancer.services import pools as pool_service
from tests.admin.conftest import AdminClient, csrf_token

MODEL = "gemini-2.5-flash"


@pytest.fixture
def listed(admin_app, rt):
    """The default pool with a model list, as the background refresh leaves it."""
    with admin_app.app_context():
        pool = pool_service.ensure_default_pool()
        db.session.execute(sa.update(Pool).where(Pool.id == pool.id).values(
            models=[MODEL, "gemini-2.5-pro"]))
        db.session.commit()
        pool_service.load_catalog(rt)
        return pool.name


def chat(admin: AdminClient, pool_name: str, **fields):
    body = {"pool": pool_name, "model": MODEL, "system": "Be brief.", "message": "hello there",
            "temperature": 0.7, "max_tokens": 256, "stream": False, **fields}
    return admin.post_json("/admin/playground/chat", body)


def events(resp) -> list[dict]:
    """The JSON data of each SSE event (not [DONE])."""
    out = []
    for block in resp.get_data(as_text=True).split("\n\n"):
        data = "".join(line[5:].strip() for line in block.splitlines() if line.startswith("data:"))
        if data and data != "[DONE]":
            out.append(json.loads(data))
    return out


def _log_rows(app) -> list[RequestLog]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(RequestLog).order_by(RequestLog.id)))
        db.session.expunge_all()
        return rows


def _key(app, key_id: int) -> ApiKey:
    with app.app_context():
        row = db.session.get(ApiKey, key_id)
        db.session.expunge(row)
        return row


def test_the_page_offers_the_pools_and_their_models(admin, keys, listed):
    keys(1, tag="pg")
    page = admin.text("/admin/playground")
    assert '<label class="form-label" for="pool">Pool</label>' in page
    for label in ("Model", "System prompt", "Message", "Temperature", "Max tokens", "Save as"):
        assert f">{label}</label>" in page
    assert f'<option selected value="{listed}">{listed}</option>' in page
    assert f'<option value="{MODEL}">{MODEL}</option>' in page
    assert "playground.js" in page


def test_a_plain_chat_goes_through_the_proxy_as_client_playground(admin, admin_app, keys, listed, rt,
                                                                  upstream):
    [secret] = keys(1, tag="pg")
    resp = chat(admin, listed)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["choices"][0]["message"]["content"] == "Echo: hello there"
    assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0
    key_id = int(resp.headers["x-balancer-key"])
    assert resp.headers["x-balancer-attempts"] == "1"
    key = _key(admin_app, key_id)
    # Percent-encoded: the mask's ellipsis is no Latin-1 header character.
    assert unquote(resp.headers["x-balancer-key-display"]) == key.display
    resp.headers["x-balancer-key-display"].encode("latin-1")
    assert secret not in resp.get_data(as_text=True) and secret not in str(resp.headers)
    # The upstream got the very call a client makes: system + user, the options given,
    # translated for Gemini's own API as the pool serves every OpenAI client.
    sent = upstream.requests[-1]["body"]
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent["contents"] == [{"role": "user", "parts": [{"text": "hello there"}]}]
    assert sent["generationConfig"]["temperature"] == 0.7
    assert sent["generationConfig"]["maxOutputTokens"] == 256
    rt.services.flush()
    [row] = _log_rows(admin_app)
    assert (row.client_name, row.route, row.status, row.key_id, row.model) == \
        ("playground", "chat.completions", 200, key_id, MODEL)
    assert row.tokens_out > 0
    key = _key(admin_app, key_id)
    assert key.request_count == 1 and key.tokens_out == row.tokens_out
    with admin_app.app_context():
        assert db.session.scalar(sa.select(sa.func.sum(UsageBucket.count))) == 1


def test_a_streamed_chat_is_relayed_as_sse_with_usage(admin, admin_app, keys, listed, rt, upstream):
    [secret] = keys(1, tag="pgs")
    upstream.configure(chunks=4)
    resp = chat(admin, listed, stream=True, message="one two three four five")
    assert resp.status_code == 200
    assert resp.mimetype == "text/event-stream"
    assert re.fullmatch(r"AIza….{3}", unquote(resp.headers["x-balancer-key-display"]))
    chunks = events(resp)
    text = "".join(c["choices"][0]["delta"].get("content") or ""
                   for c in chunks if c.get("choices"))
    assert text == "Echo: one two three four five"
    assert len([c for c in chunks if c.get("choices")]) >= 4
    # The page asked for usage: it arrives in the last chunk, as OpenAI sends it.
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    assert upstream.requests[-1]["query"] == {"alt": "sse"}
    assert secret not in resp.get_data(as_text=True)
    rt.services.flush()
    [row] = _log_rows(admin_app)
    assert row.client_name == "playground" and row.stream and row.status == 200
    assert row.tokens_in > 0 and row.tokens_out > 0
    assert _key(admin_app, row.key_id).request_count == 1


def test_retries_and_key_health_are_the_proxys(admin, admin_app, keys, listed, rt, upstream):
    bad, good = keys(2, tag="pgr")
    upstream.set_key(bad, "invalid")
    attempts = []
    for _ in range(3):
        resp = chat(admin, listed)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        attempts.append(int(resp.headers["x-balancer-attempts"]))
    # The dead key was met once, the chat retried on the good one; never called again.
    assert sorted(attempts) == [1, 1, 2]
    assert upstream.count(key=bad) == 1
    rt.services.flush()
    with admin_app.app_context():
        statuses = {rt.box.decrypt(k.secret_encrypted): k.status
                    for k in db.session.scalars(sa.select(ApiKey))}
    assert statuses == {bad: "disabled", good: "active"}
    assert {r.client_name for r in _log_rows(admin_app)} == {"playground"}


def test_no_key_available_is_the_proxys_error(admin, keys, listed, upstream):
    [secret] = keys(1, tag="pgx", modes={})
    upstream.set_key(secret, "invalid")
    first = chat(admin, listed)
    assert first.status_code in (400, 401, 403, 503)
    again = chat(admin, listed)
    assert again.status_code == 503
    message = again.get_json()["error"]["message"]
    assert "key" in message.lower()
    assert secret not in first.get_data(as_text=True) + again.get_data(as_text=True)


def test_the_chat_needs_a_csrf_token(admin, keys, listed):
    keys(1, tag="pgc")
    resp = admin.client.post("/admin/playground/chat",
                             json={"pool": listed, "model": MODEL, "message": "hi",
                                   "temperature": 1, "max_tokens": 10})
    assert resp.status_code == 400
    assert "CSRF" in resp.get_json()["error"]


def test_the_chat_needs_a_session(anon, listed, upstream):
    token = csrf_token(anon)
    resp = anon.post("/admin/playground/chat", json={"pool": listed, "model": MODEL,
                                                    "message": "hi", "temperature": 1,
                                                    "max_tokens": 10},
                     headers={"X-CSRFToken": token})
    assert resp.status_code == 401 and resp.get_json() == {"error": "login required"}
    assert upstream.requests == []


@pytest.mark.parametrize("fields, field, says", [
    ({"pool": "nowhere"}, "pool", "No enabled pool is named “nowhere”."),
    ({"model": "no-such-model"}, "model", "lists no model “no-such-model”"),
    ({"message": "   "}, "message", "Write a message to send."),
    ({"temperature": 2.5}, "temperature", "The temperature goes from 0 to 2."),
    ({"temperature": -0.1}, "temperature", "The temperature goes from 0 to 2."),
    ({"temperature": "warm"}, "temperature", "Not a valid float value."),
    ({"max_tokens": 0}, "max_tokens", "Max tokens goes from 1 to 65536."),
    ({"max_tokens": 65537}, "max_tokens", "Max tokens goes from 1 to 65536."),
])
def test_bad_input_is_a_clear_json_400(admin, admin_app, keys, listed, rt, upstream, fields, field,
                                       says):
    keys(1, tag="pgb")
    before = len(upstream.requests)
    resp = chat(admin, listed, **fields)
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert says in error["message"] and says in " ".join(error["fields"][field])
    assert len(upstream.requests) == before


def test_a_body_that_is_not_a_form_is_refused(admin, listed):
    resp = admin.client.post("/admin/playground/chat", data="[1, 2]",
                             headers={"X-CSRFToken": admin.token, "Content-Type": "application/json"})
    assert resp.status_code == 400
    assert "JSON object" in resp.get_json()["error"]["message"]
    nested = chat(admin, listed, message={"role": "user"})
    assert nested.status_code == 400


# --- saved prompts ---------------------------------------------------------------------

def _form(pool: str, **extra) -> dict:
    data = {"pool": pool, "model": MODEL, "system": "Answer in French.", "message": "Bonjour",
            "temperature": "0.3", "max_tokens": "128", "stream": "y", "name": "french"}
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


def _prompts(app) -> list[SavedPrompt]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(SavedPrompt).order_by(SavedPrompt.id)))
        db.session.expunge_all()
        return rows


def test_a_prompt_is_saved_listed_loaded_and_deleted(admin, admin_app, keys, listed):
    keys(1, tag="pgp")
    resp = admin.post("/admin/playground/prompts", _form(listed))
    assert resp.status_code == 302
    [row] = _prompts(admin_app)
    assert (row.name, row.pool, row.model, row.system, row.message, row.temperature,
            row.max_tokens, row.stream) == ("french", listed, MODEL, "Answer in French.",
                                            "Bonjour", 0.3, 128, True)
    assert resp.headers["Location"].endswith(f"/admin/playground?prompt={row.id}")
    listing = admin.text("/admin/playground")
    assert "french" in listing and f"/admin/playground?prompt={row.id}" in listing
    loaded = admin.text(f"/admin/playground?prompt={row.id}")
    assert "Loaded the saved prompt “french”." in loaded
    assert re.search(r'<textarea[^>]*id="system"[^>]*>\s*Answer in French\.</textarea>', loaded)
    assert re.search(r'<textarea[^>]*id="message"[^>]*>\s*Bonjour</textarea>', loaded)
    assert re.search(r'<input[^>]*id="temperature"[^>]*value="0.3"', loaded)
    assert re.search(r'<input[^>]*id="max_tokens"[^>]*value="128"', loaded)
    assert re.search(r'<input checked[^>]*id="stream"', loaded)
    assert re.search(f'<option selected value="{MODEL}">', loaded)
    # Deleting asks first, then deletes.
    ask = admin.post(f"/admin/playground/prompts/{row.id}/delete")
    assert ask.status_code == 200 and "Delete the saved prompt “french”?" in ask.get_data(as_text=True)
    assert len(_prompts(admin_app)) == 1
    done = admin.post(f"/admin/playground/prompts/{row.id}/delete", {"confirmed": "yes"})
    assert done.status_code == 302
    assert _prompts(admin_app) == []
    assert admin.get(f"/admin/playground?prompt={row.id}").status_code == 404


@pytest.mark.parametrize("extra, says", [
    ({"name": ""}, "Give the prompt a name."),
    ({"name": "x" * 129}, "A name has at most 128 characters."),
    ({"temperature": "3"}, "The temperature goes from 0 to 2."),
    ({"max_tokens": "70000"}, "Max tokens goes from 1 to 65536."),
    ({"model": "no-such-model"}, "lists no model “no-such-model”"),
])
def test_saving_validates_the_form(admin, admin_app, keys, listed, extra, says):
    keys(1, tag="pgv")
    resp = admin.post("/admin/playground/prompts", _form(listed, **extra))
    assert resp.status_code == 400
    assert says in resp.get_data(as_text=True)
    assert _prompts(admin_app) == []


def test_names_are_unique(admin, admin_app, keys, listed):
    keys(1, tag="pgu")
    assert admin.post("/admin/playground/prompts", _form(listed)).status_code == 302
    again = admin.post("/admin/playground/prompts", _form(listed, name=" french "))
    assert again.status_code == 400
    assert "A saved prompt named “french” exists already." in again.get_data(as_text=True)
    assert len(_prompts(admin_app)) == 1


def test_saving_needs_a_csrf_token(admin, admin_app, listed):
    resp = admin.client.post("/admin/playground/prompts", data=_form(listed))
    assert resp.status_code == 400
    assert _prompts(admin_app) == []


def test_a_prompt_of_a_pool_gone_says_so(admin, admin_app, keys, listed):
    keys(1, tag="pgg")
    with admin_app.app_context():
        db.session.add(SavedPrompt(name="old", pool="retired", model=MODEL, message="hi",
                                   temperature=1.0, max_tokens=10, stream=False))
        db.session.commit()
    [row] = _prompts(admin_app)
    page = admin.text(f"/admin/playground?prompt={row.id}")
    assert "The saved pool “retired” is not enabled any more; pick another." in page
