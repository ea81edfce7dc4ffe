"""Sign-in limits shared by every worker, trusted proxies, sign-out that ends the session,
the session cookie over HTTPS."""
from __future__ import annotations

import pytest

from balancer.admin.throttle import ThrottlePolicy, retry_after
from tests.admin.conftest import PASSWORD, csrf_token, sign_in

PUBLIC_PEER = {"REMOTE_ADDR": "203.0.113.50"}


def _post_login(client, password: str, headers=None, environ=None, base_url=None):
    token = csrf_token(client)
    kw = {"base_url": base_url} if base_url else {}
    return client.post("/admin/login", data={"password": password, "csrf_token": token},
                       headers=headers or {}, environ_base=environ or {}, **kw)


# -- the throttle's policy ---------------------------------------------------------------

def test_an_address_waits_until_its_oldest_counted_failure_leaves_the_window():
    policy = ThrottlePolicy(per_address=3, window=60, total=100)
    mine = [0.0, 10.0, 20.0]
    assert retry_after(policy, 20.0, mine[:2], mine[:2]) == 0
    assert retry_after(policy, 20.0, mine, mine) == pytest.approx(40)
    assert retry_after(policy, 61.0, mine, mine) == 0  # the failure at 0 no longer counts
    assert retry_after(policy, 20.0, [], mine) == 0  # another address is not held up


def test_beyond_the_total_every_address_backs_off_longer_with_each_failure():
    policy = ThrottlePolicy(per_address=100, total=4, total_window=3600, backoff_base=5,
                            backoff_cap=60)
    everyone = [1.0, 2.0, 3.0]
    assert retry_after(policy, 3.0, [], everyone) == 0
    everyone.append(4.0)
    assert retry_after(policy, 4.0, [], everyone) == pytest.approx(5)
    everyone.append(9.0)
    assert retry_after(policy, 9.0, [], everyone) == pytest.approx(10)
    everyone += [19.0, 39.0, 79.0]
    assert retry_after(policy, 79.0, [], everyone) == pytest.approx(60)  # capped
    assert retry_after(policy, 3700.0, [], everyone) == 0  # the hour has passed


# -- shared through the database ---------------------------------------------------------

def test_failures_counted_by_one_worker_lock_the_address_out_of_another(make_app):
    first = make_app(ADMIN_PASSWORD=PASSWORD)
    second = make_app(ADMIN_PASSWORD=PASSWORD)
    for _ in range(3):
        assert _post_login(first.test_client(), "guess", environ=PUBLIC_PEER).status_code == 401
    for _ in range(2):
        assert _post_login(second.test_client(), "guess", environ=PUBLIC_PEER).status_code == 401
    resp = _post_login(first.test_client(), PASSWORD, environ=PUBLIC_PEER)
    assert resp.status_code == 429
    resp = _post_login(second.test_client(), PASSWORD, environ=PUBLIC_PEER)
    assert resp.status_code == 429
    html = resp.get_data(as_text=True)
    assert "Too many failed sign-ins" in html and "even with the right password" in html
    assert "Try again in 5 minutes (at " in html and " UTC)" in html
    assert 290 <= int(resp.headers["Retry-After"]) <= 300
    # The right password was refused: no session came of it.
    client = second.test_client()
    _post_login(client, PASSWORD, environ=PUBLIC_PEER)
    assert client.get("/admin/").status_code == 302


def test_guessing_from_many_addresses_backs_off_for_everyone(make_app):
    app = make_app(ADMIN_PASSWORD=PASSWORD)
    app.extensions["signin_policy"] = ThrottlePolicy(total=4, backoff_base=30)
    for i in range(4):
        assert _post_login(app.test_client(), "guess",
                           environ={"REMOTE_ADDR": f"198.51.100.{i}"}).status_code == 401
    resp = _post_login(app.test_client(), PASSWORD, environ={"REMOTE_ADDR": "192.0.2.77"})
    assert resp.status_code == 429 and "Try again in 30 seconds" in resp.get_data(as_text=True)


def test_a_good_sign_in_clears_only_its_own_address(make_app):
    app = make_app(ADMIN_PASSWORD=PASSWORD)
    for _ in range(4):
        assert _post_login(app.test_client(), "guess", environ=PUBLIC_PEER).status_code == 401
        assert _post_login(app.test_client(), "guess").status_code == 401
    assert _post_login(app.test_client(), PASSWORD).status_code == 302
    assert _post_login(app.test_client(), "guess").status_code == 401  # counted afresh
    assert _post_login(app.test_client(), "guess", environ=PUBLIC_PEER).status_code == 401
    assert _post_login(app.test_client(), PASSWORD, environ=PUBLIC_PEER).status_code == 429


# -- who may say who the client is ---------------------------------------------------------

def test_a_direct_caller_cannot_forge_its_address_even_with_proxy_hops(make_app):
    app = make_app(ADMIN_PASSWORD=PASSWORD, PROXY_HOPS="1")
    for i in range(5):
        forged = {"X-Forwarded-For": f"192.0.2.{i}"}
        resp = _post_login(app.test_client(), "guess", headers=forged, environ=PUBLIC_PEER)
        assert resp.status_code == 401
    resp = _post_login(app.test_client(), PASSWORD, headers={"X-Forwarded-For": "192.0.2.99"},
                       environ=PUBLIC_PEER)
    assert resp.status_code == 429


def test_proxy_addresses_say_which_peers_are_proxies(make_app):
    app = make_app(ADMIN_PASSWORD=PASSWORD, PROXY_HOPS="1", PROXY_ADDRESSES="203.0.113.0/24")
    for _ in range(5):
        resp = _post_login(app.test_client(), "guess", headers={"X-Forwarded-For": "192.0.2.1"},
                           environ=PUBLIC_PEER)
        assert resp.status_code == 401
    # Each client behind the proxy counts on its own; a private peer is no proxy now.
    resp = _post_login(app.test_client(), PASSWORD, headers={"X-Forwarded-For": "192.0.2.2"},
                       environ=PUBLIC_PEER)
    assert resp.status_code == 302
    for _ in range(5):
        resp = _post_login(app.test_client(), "guess", headers={"X-Forwarded-For": "192.0.2.3"},
                           environ={"REMOTE_ADDR": "10.0.0.1"})
        assert resp.status_code == 401
    resp = _post_login(app.test_client(), PASSWORD, headers={"X-Forwarded-For": "192.0.2.4"},
                       environ={"REMOTE_ADDR": "10.0.0.1"})
    assert resp.status_code == 429


# -- sign-out and the session cookie -------------------------------------------------------

def _session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_a_copied_session_cookie_stops_working_at_sign_out(admin_app):
    client = admin_app.test_client()
    assert sign_in(client).status_code == 302
    copy = admin_app.test_client()
    copy.set_cookie("session", _session_cookie(client))
    assert copy.get("/admin/").status_code == 200  # the copy works while the session lives
    out = client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert out.status_code == 302
    resp = copy.get("/admin/")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/admin/login")
    # Signing in again works, with a new session.
    assert sign_in(client).status_code == 302
    assert client.get("/admin/").status_code == 200
    assert copy.get("/admin/").status_code == 302


def test_the_session_cookie_is_secure_over_https(anon):
    resp = _post_login(anon, PASSWORD, base_url="https://localhost",
                       headers={"Referer": "https://localhost/admin/login"})
    assert resp.status_code == 302
    assert "Secure" in resp.headers["Set-Cookie"]


def test_the_session_cookie_is_secure_behind_a_tls_proxy_but_not_for_a_forger(make_app):
    app = make_app(ADMIN_PASSWORD=PASSWORD, PROXY_HOPS="1")
    https = {"X-Forwarded-For": "192.0.2.8", "X-Forwarded-Proto": "https",
             "Referer": "https://localhost/admin/login"}
    resp = _post_login(app.test_client(), PASSWORD, headers=https,
                       environ={"REMOTE_ADDR": "10.0.0.1"})
    assert resp.status_code == 302 and "Secure" in resp.headers["Set-Cookie"]
    resp = _post_login(app.test_client(), PASSWORD, headers=https, environ=PUBLIC_PEER)
    assert resp.status_code == 302 and "Secure" not in resp.headers["Set-Cookie"]


def test_the_failure_that_pauses_sign_in_is_audited_and_refusals_write_nothing(make_app):
    import sqlalchemy as sa

    from balancer.extensions import db
    from balancer.models import AuditEvent
    app = make_app(ADMIN_PASSWORD=PASSWORD)
    for _ in range(5):
        assert _post_login(app.test_client(), "guess", environ=PUBLIC_PEER).status_code == 401
    for _ in range(3):
        assert _post_login(app.test_client(), "guess", environ=PUBLIC_PEER).status_code == 429
    with app.app_context():
        details = list(db.session.scalars(sa.select(AuditEvent.detail).order_by(AuditEvent.id)))
    assert details[:4] == ["wrong password"] * 4 and len(details) == 5
    assert details[4].startswith("wrong password; sign-in paused for 3")
