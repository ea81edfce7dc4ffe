"""No admin page, JSON answer, log line or export shows an upstream key, even after errors that echo it."""
from __future__ import annotations

import io
import logging
import re

import pytest
import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import RequestLog
from tests.conftest import TOKEN
from tests.fake_upstream import make_key

PAGES = ("/admin/", "/admin/keys", "/admin/keys?status=disabled", "/admin/pools", "/admin/tokens",
         "/admin/settings", "/admin/stats/summary", "/admin/keys/export")


def test_keys_never_appear_unmasked(admin, admin_app, rt, keys, upstream):
    made = keys(4, tag="leak", modes={make_key("leak", 0): "suspended", make_key("leak", 1): "invalid",
                                      make_key("leak", 2): "internal"})
    proxy = admin_app.test_client()
    for i in range(8):
        proxy.post("/v1/chat/completions", headers={"Authorization": f"Bearer {TOKEN}"},
                   json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": str(i)}]})
    rt.services.flush()
    seen = [admin.post("/admin/keys/action", {"action": "test", "ids": [str(i) for i in range(1, 100)]})
            .get_data(as_text=True)]
    ids = [r["id"] for r in admin.get("/admin/keys/export").get_json()["keys"]]
    seen.append(admin.post_json("/admin/keys/action", {"action": "test", "ids": ids}).get_data(as_text=True))
    for key_id in ids:
        seen.append(admin.text(f"/admin/keys/{key_id}/edit"))
    seen += [admin.get(url).get_data(as_text=True) for url in PAGES]
    assert any("CONSUMER_SUSPENDED" in text or "suspended" in text.lower() for text in seen)
    for key in made:
        for text in seen:
            assert key not in text
            assert key[:-3] not in text  # not even most of it


@pytest.fixture
def balancer_log():
    """What Balancer's own log handler writes (after its redaction), while the test runs."""
    handler = next(h for h in logging.getLogger("balancer").handlers if getattr(h, "_balancer", False))
    buffer = io.StringIO()
    old = handler.setStream(buffer)
    yield buffer
    handler.setStream(old)


def test_auth_keys_never_appear_whole_on_pages_json_answers_or_logs(admin, admin_app, rt, keys,
                                                                   upstream, balancer_log):
    made = keys(4, tag="leak-aq", kind="auth")
    upstream.set_key(made[0], "suspended")  # its message echoes the key: "api_key:AQ.…"
    upstream.set_key(made[1], "invalid")
    upstream.set_key(made[2], "internal")
    proxy = admin_app.test_client()
    chat = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
    seen = []
    for _ in range(6):
        for stream in (False, True):
            seen.append(proxy.post("/v1/chat/completions", headers={"Authorization": f"Bearer {TOKEN}"},
                                   json={**chat, "stream": stream}).get_data(as_text=True))
            seen.append(_native(proxy, stream))
    rt.services.flush()
    ids = [r["id"] for r in admin.get("/admin/keys/export").get_json()["keys"]]
    seen.append(admin.post_json("/admin/keys/action", {"action": "test", "ids": ids}).get_data(as_text=True))
    with admin_app.app_context():
        log_ids = list(db.session.scalars(sa.select(RequestLog.id)))
    pages = [*PAGES, "/admin/logs", "/admin/logs/events", "/admin/logs/audit",
             *(f"/admin/logs/requests/{i}" for i in log_ids), *(f"/admin/keys/{i}/edit" for i in ids)]
    seen += [admin.get(url).get_data(as_text=True) for url in pages]
    assert "chat.completions model=gemini-2.5-flash" in balancer_log.getvalue()
    seen.append(balancer_log.getvalue())
    assert any("CONSUMER_SUSPENDED" in text for text in seen)
    assert any(f"{k[:4]}…{k[-3:]}" in text for text in seen for k in made)  # shown masked
    for text in seen:
        for key in made:
            assert key not in text and key[:-3] not in text
        assert not re.search(r"AQ\.[0-9A-Za-z_-]{6}", text)


def _native(client, stream: bool) -> str:
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return client.post(f"/v1beta/models/gemini-2.5-flash:{action}", headers={"x-goog-api-key": TOKEN},
                       json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).get_data(as_text=True)


@pytest.mark.parametrize("kind", ["standard", "auth"])
@pytest.mark.parametrize("api", ["openai", "gemini"])
def test_an_error_event_inside_a_stream_does_not_carry_the_key(client, keys, upstream, kind, api):
    key, = keys(1, tag="leak-event", kind=kind)
    upstream.set_key(key, "break_stream", after=1, how="event", error="suspended")
    if api == "openai":
        text = client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {TOKEN}"},
                           json={"model": "gemini-2.5-flash", "stream": True,
                                 "messages": [{"role": "user", "content": "hi"}]}).get_data(as_text=True)
    else:
        text = _native(client, stream=True)
    assert "has been suspended" in text  # the error event reached the client
    assert key not in text
