"""Client tokens: created and shown once, stored hashed, renamed, switched, revoked, usage."""
from __future__ import annotations

import re

import sqlalchemy as sa

from balancer.crypto import token_hash
from balancer.extensions import db
from balancer.models import ClientToken
from tests.admin.conftest import AdminClient, PASSWORD

CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}


def _create(admin, name="chat app") -> str:
    resp = admin.post("/admin/tokens", {"name": name})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "it will not be shown again" in html
    token = re.search(r'id="token-value" value="([^"]+)"', html).group(1)
    assert "it will not be shown again" not in admin.text("/admin/tokens")
    return token


def _rows(admin_app) -> list[ClientToken]:
    with admin_app.app_context():
        rows = list(db.session.scalars(sa.select(ClientToken)))
        db.session.expunge_all()
        return rows


def test_a_new_token_is_shown_once_stored_hashed_and_works_at_once(admin, admin_app, keys):
    keys(1, tag="tok")
    token = _create(admin)
    [row] = _rows(admin_app)
    assert row.token_hash == token_hash(token) and token not in (row.prefix, row.name)
    assert token.startswith(row.prefix)
    page = admin.text("/admin/tokens")
    assert token not in page and f"{row.prefix}…" in page and "chat app" in page
    proxied = admin_app.test_client().post("/v1/chat/completions", json=CHAT,
                                           headers={"Authorization": f"Bearer {token}"})
    assert proxied.status_code == 200


def _cookie_values(resp) -> list[str]:
    return [header.split(";", 1)[0].split("=", 1)[1] for header in resp.headers.getlist("Set-Cookie")]


def test_a_new_token_is_never_stored_in_the_session_cookie(admin, admin_app):
    serializer = admin_app.session_interface.get_signing_serializer(admin_app)
    resp = admin.post("/admin/tokens", {"name": "kept out of cookies"})
    sessions = [serializer.loads(value) for value in _cookie_values(resp) if value]
    page = resp
    if resp.status_code == 302:  # wherever the token is shown, follow the way there
        page = admin.get(resp.headers["Location"])
        sessions += [serializer.loads(value) for value in _cookie_values(page) if value]
    html = page.get_data(as_text=True)
    token = re.search(r'id="token-value" value="([^"]+)"', html).group(1)
    assert sessions, "the session cookie was not set"
    for data in sessions:
        assert token not in repr(data) and token[-24:] not in repr(data)
    assert resp.status_code == 200 and "Token “kept out of cookies” created." in html
    assert "it will not be shown again" not in admin.text("/admin/tokens")


def test_a_name_is_required(admin, admin_app):
    resp = admin.post("/admin/tokens", {"name": "  "})
    assert resp.status_code == 400 and "Give the token a name." in resp.get_data(as_text=True)
    too_long = admin.post("/admin/tokens", {"name": "x" * 129})
    assert too_long.status_code == 400
    assert _rows(admin_app) == []


def test_disable_enable_and_revoke_take_effect_on_the_proxy(admin, admin_app, keys):
    keys(1, tag="tok2")
    token = _create(admin)
    token_id = _rows(admin_app)[0].id
    proxy = admin_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    admin.post(f"/admin/tokens/{token_id}/action", {"action": "disable"})
    assert proxy.post("/v1/chat/completions", json=CHAT, headers=headers).status_code == 401
    assert "disabled" in admin.text("/admin/tokens")
    admin.post(f"/admin/tokens/{token_id}/action", {"action": "enable"})
    assert proxy.post("/v1/chat/completions", json=CHAT, headers=headers).status_code == 200
    ask = admin.post(f"/admin/tokens/{token_id}/action", {"action": "revoke"})
    assert ask.status_code == 200 and "This cannot be undone." in ask.get_data(as_text=True)
    assert len(_rows(admin_app)) == 1
    done = admin.post(f"/admin/tokens/{token_id}/action", {"action": "revoke", "confirmed": "yes"})
    assert done.status_code == 302
    assert _rows(admin_app) == []
    assert proxy.post("/v1/chat/completions", json=CHAT, headers=headers).status_code == 401


def test_rename(admin, admin_app):
    _create(admin, "old name")
    token_id = _rows(admin_app)[0].id
    assert admin.post(f"/admin/tokens/{token_id}/rename", {"name": "new name"}).status_code == 302
    assert _rows(admin_app)[0].name == "new name"
    admin.post(f"/admin/tokens/{token_id}/rename", {"name": ""})
    assert _rows(admin_app)[0].name == "new name"
    assert "A token needs a name" in admin.text("/admin/tokens")
    assert admin.post("/admin/tokens/99999/rename", {"name": "x"}).status_code == 404


def test_usage_per_token(admin, admin_app, rt, keys):
    keys(1, tag="use")
    token = _create(admin, "counted")
    proxy = admin_app.test_client()
    for _ in range(3):
        assert proxy.post("/v1/chat/completions", json=CHAT,
                          headers={"Authorization": f"Bearer {token}"}).status_code == 200
    rt.services.flush()
    html = admin.text("/admin/tokens")
    row = re.search(r'<tr data-token-id="\d+">.*?</tr>', html, re.S).group(0)
    cells = re.findall(r'<td class="text-end">([^<]*)</td>', row)
    assert cells[0] == "3" and cells[1] == "0"
    assert "never" not in row


def test_the_last_token_warns_what_the_proxy_does_without_one(make_app, keys):
    app = make_app(ADMIN_PASSWORD=PASSWORD, ALLOWED_TOKENS="")
    app.extensions["balancer"].services.bootstrap()
    admin = AdminClient(app.test_client())
    assert "serves only callers on this machine" in admin.text("/admin/tokens")
    html = admin.post("/admin/tokens", {"name": "only"}).get_data(as_text=True)
    assert "From now on the proxy accepts only requests with a client token." in html
    assert "serves only callers on this machine" not in html
    with app.app_context():
        token_id = db.session.scalar(sa.select(ClientToken.id))
    ask = admin.post(f"/admin/tokens/{token_id}/action", {"action": "disable"})
    text = ask.get_data(as_text=True)
    assert ask.status_code == 200 and "the proxy serves only callers on this machine" in text
    assert "accepts every caller" not in text
    with app.app_context():
        assert db.session.get(ClientToken, token_id).enabled is True
    admin.post(f"/admin/tokens/{token_id}/action", {"action": "disable", "confirmed": "yes"})
    assert "No client token is left" in admin.text("/admin/tokens")


def test_unknown_token_or_action(admin, admin_app):
    assert admin.post("/admin/tokens/12345/action", {"action": "disable"}).status_code == 404
    _create(admin)
    token_id = _rows(admin_app)[0].id
    assert admin.post(f"/admin/tokens/{token_id}/action", {"action": "nuke"}).status_code == 400


def test_other_workers_follow_token_changes_through_their_sync(admin, admin_app, make_app):
    token = _create(admin)
    other = make_app(ADMIN_PASSWORD="another worker password").extensions["balancer"]
    other.services.bootstrap()
    assert other.catalog.client_for(token) is not None
    token_id = _rows(admin_app)[0].id
    admin.post(f"/admin/tokens/{token_id}/action", {"action": "disable"})
    assert other.catalog.client_for(token) is not None
    other.services.sync()
    assert other.catalog.client_for(token) is None
