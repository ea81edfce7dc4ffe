"""The admin audit trail: every kind of admin action leaves one entry, from the web (with the
admin's address) and from the CLI, and no entry holds a secret."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ApiKey, AuditEvent, RequestLog
from balancer.services import client_tokens as token_service
from balancer.services import key_ops
from balancer.services import pools as pool_service
from tests.admin.conftest import PASSWORD, AdminClient, csrf_token
from tests.fake_upstream import make_key

ADDRESS = {"REMOTE_ADDR": "198.51.100.7"}


@pytest.fixture
def app(make_app):
    """An app with an admin password (as in tests/admin)."""
    app = make_app(ADMIN_PASSWORD=PASSWORD)
    app.extensions["balancer"].services.bootstrap()
    return app


def _trail(app, since_id: int = 0) -> list[tuple]:
    """(actor, address, action, target, detail) of every entry after ``since_id``, oldest first."""
    with app.app_context():
        return [(e.actor, e.address, e.action, e.target, e.detail) for e in db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.id > since_id).order_by(AuditEvent.id))]


def _key_ids(app) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(sa.select(ApiKey.id).order_by(ApiKey.id)))


def _last_id(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.max(AuditEvent.id))) or 0


@pytest.fixture
def web(app):
    """A signed-in admin whose requests come from ADDRESS."""
    client = app.test_client()
    client.environ_base.update(ADDRESS)
    return AdminClient(client)


def test_sign_ins_failed_and_good_and_sign_outs_are_recorded_with_the_address(app):
    client = app.test_client()
    client.environ_base.update(ADDRESS)
    token = csrf_token(client)
    assert client.post("/admin/login", data={"password": "guess", "csrf_token": token}).status_code == 401
    assert client.post("/admin/login", data={"password": PASSWORD, "csrf_token": token}).status_code == 302
    assert client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")}).status_code == 302
    assert _trail(app) == [
        ("admin", "198.51.100.7", "sign_in_failed", None, "wrong password"),
        ("admin", "198.51.100.7", "sign_in", None, None),
        ("admin", "198.51.100.7", "sign_out", None, None),
    ]
    trail = AdminClient(app.test_client()).text("/admin/logs/audit?action=sign_in_failed")
    assert "198.51.100.7" in trail and "wrong password" in trail


def test_key_actions_on_the_web_are_recorded(app, web, rt, keys, upstream):
    made = keys(3, tag="aud")
    one, two, three = _key_ids(app)
    start = _last_id(app)
    with app.app_context():
        pool = pool_service.ensure_default_pool()
        pool_id, pool_name = pool.id, pool.name
    web.post("/admin/keys/add", {"add-text": make_key("aud", 9), "add-pool": pool_id})
    [four] = _key_ids(app)[3:]
    for action in (f"disable:{one}", f"enable:{one}", f"reset:{two}", f"test:{three}"):
        assert web.post("/admin/keys/action", {"action": action}).status_code in (200, 302)
    web.post_json("/admin/keys/action", {"action": "delete", "ids": [two], "confirmed": True})
    with app.app_context():
        key_ops.edit_key(rt, one, label="blue", group=None, tags=["a"], rpm_limit=5,
                         rpd_limit=None)
    trail = _trail(app, start)
    assert [(t[0], t[2], t[3]) for t in trail] == [
        ("admin", "key_add", f"key {four}"), ("admin", "key_disable", f"key {one}"),
        ("admin", "key_enable", f"key {one}"), ("admin", "key_reset", f"key {two}"),
        ("admin", "key_test", f"key {three}"), ("admin", "key_delete", f"key {two}"),
        ("system", "key_edit", f"key {one}"),
    ]
    assert trail[0][1] == "198.51.100.7" and trail[0][4] == f"pool {pool_name}"
    assert trail[4][4] == "works"
    assert "label='blue'" in trail[-1][4] and "rpm_limit=5" in trail[-1][4]
    for row in trail:
        assert not any(k in str(row) for k in made + [make_key("aud", 9)])


def test_a_key_test_records_its_result_without_the_upstream_message(app, web, keys, upstream):
    made = keys(2, tag="audt")
    upstream.set_key(made[1], "invalid")
    good, dead = _key_ids(app)
    start = _last_id(app)
    for key_id in (good, dead):
        assert web.post("/admin/keys/action", {"action": f"test:{key_id}"}).status_code in (200, 302)
    assert [(t[2], t[3], t[4]) for t in _trail(app, start)] == [
        ("key_test", f"key {good}", "works"),
        ("key_test", f"key {dead}", "failed (API_KEY_INVALID, HTTP 400); disabled"),
    ]
    page = web.get("/admin/logs/audit?action=key_test").get_data(as_text=True)
    assert "failed (API_KEY_INVALID, HTTP 400); disabled" in page and made[1] not in page


def test_settings_changes_record_old_and_new_values(app, web, rt):
    from tests.admin.test_settings_page import _form
    start = _last_id(app)
    assert web.post("/admin/settings", _form(rt, max_failures=7, log_requests=False)).status_code == 302
    assert sorted(_trail(app, start)) == [
        ("admin", "198.51.100.7", "setting_change", "log_requests", "True → False"),
        ("admin", "198.51.100.7", "setting_change", "max_failures", "3 → 7"),
    ]


def test_pool_and_token_changes_on_the_web_are_recorded(app, web):
    from tests.admin.test_pools_page import GROQ
    start = _last_id(app)
    web.post("/admin/pools/new", {**GROQ, "proxy_url": "http://user:hunter2@10.0.0.1:3128"})
    with app.app_context():
        pool_id = pool_service.get_pool("groq").id
    web.post(f"/admin/pools/{pool_id}/edit", {**GROQ, "name": "groq2",
                                              "proxy_url": "http://user:s3cret@10.0.0.1:3128"})
    web.post(f"/admin/pools/{pool_id}/delete", {"confirmed": "yes"})
    web.post("/admin/tokens", {"name": "team-a"})
    with app.app_context():
        token_id = token_service.list_tokens()[0].id
    web.post(f"/admin/tokens/{token_id}/rename", {"name": "team-b"})
    web.post(f"/admin/tokens/{token_id}/action", {"action": "disable", "confirmed": "yes"})
    web.post(f"/admin/tokens/{token_id}/action", {"action": "enable"})
    web.post(f"/admin/tokens/{token_id}/action", {"action": "revoke", "confirmed": "yes"})
    trail = _trail(app, start)
    assert [(t[2], t[3]) for t in trail] == [
        ("pool_create", "pool groq"), ("pool_edit", "pool groq"), ("pool_delete", "pool groq2"),
        ("token_create", f"token {token_id}"), ("token_rename", f"token {token_id}"),
        ("token_disable", f"token {token_id}"), ("token_enable", f"token {token_id}"),
        ("token_revoke", f"token {token_id}"),
    ]
    assert {t[0] for t in trail} == {"admin"}
    assert "name='groq2'" in trail[1][4] and "proxy_url" in trail[1][4]
    assert "hunter2" not in str(trail) and "s3cret" not in str(trail)
    assert trail[4][4] == "to 'team-b'"


def test_cli_commands_are_recorded_as_the_cli(app, rt):
    runner = app.test_cli_runner()
    start = _last_id(app)

    def run(*args):
        result = runner.invoke(args=list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    run("settings", "set", "max_retries=5")
    run("keys", "add", make_key("cli", 1))
    [key_id] = _key_ids(app)
    run("keys", "disable", str(key_id))
    run("pools", "add", "cli-pool", "--kind", "openai", "--base-url", "https://example.test/v1")
    out = run("tokens", "add", "ci", "--rpm", "60")
    run("logs", "purge", "--kind", "request_logs")
    trail = _trail(app, start)
    token_id = out.split()[1]
    assert [(t[0], t[1], t[2], t[3]) for t in trail] == [
        ("cli", None, "setting_change", "max_retries"), ("cli", None, "key_add", f"key {key_id}"),
        ("cli", None, "key_disable", f"key {key_id}"), ("cli", None, "pool_create", "pool cli-pool"),
        ("cli", None, "token_create", f"token {token_id}"),
        ("cli", None, "token_limits", f"token {token_id}"),
        ("cli", None, "logs_clean_up", "request_logs"),
    ]
    assert trail[0][4] == "3 → 5" and "rpm=60" in trail[5][4]
    assert trail[-1][4] == "by retention: request_logs: 0 deleted"
    assert make_key("cli", 1) not in str(trail)


def test_the_web_clean_up_is_recorded(app, web):
    with app.app_context():
        db.session.add(RequestLog(created_at=datetime.now(timezone.utc) - timedelta(days=9),
                                  api_format="openai", route="chat", status=200))
        db.session.commit()
    start = _last_id(app)
    web.post("/admin/logs/clean-up", {"kind": "request_logs", "days": "7", "confirm": "y"})
    assert _trail(app, start) == [("admin", "198.51.100.7", "logs_clean_up", "request_logs",
                                   "older than 7 days: 1 deleted")]


def test_audit_entries_have_their_own_retention(app, rt):
    from balancer.services import retention
    from balancer.services import settings as settings_service
    with app.app_context():
        db.session.add_all([AuditEvent(created_at=datetime.now(timezone.utc) - timedelta(days=d),
                                       actor="cli", action="key_add") for d in (1, 50, 400)])
        db.session.commit()
        settings_service.update(rt, {"audit_retention_days": 30, "request_log_retention_days": 1})
        purged = retention.purge(rt.settings.current)
        assert purged.counts["audit"] == 2
        ages = [datetime.now(timezone.utc) - e.created_at for e in db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "key_add"))]
        assert len(ages) == 1 and ages[0] < timedelta(days=2)


def test_every_export_with_the_keys_themselves_is_recorded_web_and_cli(app, web, keys):
    made = keys(2, tag="exp")
    start = _last_id(app)
    assert web.get("/admin/keys/export").status_code == 200  # masked: nothing secret leaves
    assert _trail(app, start) == []
    resp = web.post("/admin/keys/export", {})
    assert resp.status_code == 200 and made[0] in resp.get_data(as_text=True)
    result = app.test_cli_runner().invoke(args=["keys", "export", "--reveal"],
                                          catch_exceptions=False)
    assert result.exit_code == 0 and made[1] in result.output
    app.test_cli_runner().invoke(args=["keys", "export"], catch_exceptions=False)
    assert _trail(app, start) == [
        ("admin", "198.51.100.7", "keys_export", "2 keys", "with the keys themselves"),
        ("cli", None, "keys_export", "2 keys", "with the keys themselves"),
    ]
    trail = web.text("/admin/logs/audit?action=keys_export")
    assert "with the keys themselves" in trail and made[0] not in trail
