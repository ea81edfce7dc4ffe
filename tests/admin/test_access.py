"""Login, the guard on every admin endpoint, CSRF, redirects and security headers."""
from __future__ import annotations

import re

import pytest

from balancer.admin import access
from tests.admin.conftest import PASSWORD, csrf_token, sign_in

#: Endpoints any visitor may reach: the proxy's APIs (token-guarded), ops, assets, login.
_PUBLIC = ("openai", "gemini", "anthropic", "ops.", "static", "vendor.", "root", "admin.login")


def _admin_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(_PUBLIC):
            continue
        yield rule


def _concrete(rule) -> str:
    # Any value for each URL variable: the guard must answer before the view looks.
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", "1", rule.rule)


def test_every_admin_page_and_json_endpoint_needs_a_login(admin_app, anon):
    rules = list(_admin_rules(admin_app))
    assert {r.endpoint for r in rules} >= {"admin.dashboard", "stats.summary", "admin.logout"}
    for rule in rules:
        assert rule.rule.startswith("/admin"), f"{rule.endpoint} is outside /admin"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = anon.open(_concrete(rule), method=method)
            if rule.endpoint.startswith("stats."):
                assert resp.status_code == 401, (rule.rule, method)
                assert resp.get_json() == {"error": "login required"}
            elif method == "GET":
                assert resp.status_code == 302, (rule.rule, method, resp.status_code)
                assert resp.headers["Location"].startswith("/admin/login?next=")
            else:
                # A POST without a session: refused (the CSRF check or the guard), never run.
                assert resp.status_code in (302, 400, 401), (rule.rule, method, resp.status_code)


def test_a_post_without_a_session_is_sent_to_the_login_even_with_a_csrf_token(anon):
    token = csrf_token(anon)
    resp = anon.post("/admin/keys/action", data={"csrf_token": token, "action": "delete",
                                                 "confirmed": "yes", "ids": ["1"]})
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/login"


def test_json_asked_without_login_gets_401_not_a_redirect(anon):
    resp = anon.get("/admin/", headers={"Accept": "application/json"})
    assert resp.status_code == 401


def test_sign_in_then_the_dashboard_then_sign_out(anon):
    resp = sign_in(anon, next_="/admin/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/"
    page = anon.get("/admin/")
    assert page.status_code == 200 and "Dashboard" in page.get_data(as_text=True)
    token = csrf_token(anon, "/admin/")
    out = anon.post("/admin/logout", data={"csrf_token": token})
    assert out.status_code == 302
    assert anon.get("/admin/").status_code == 302


def test_wrong_password_is_refused_and_says_so(anon):
    resp = sign_in(anon, password="guess")
    assert resp.status_code == 401
    assert "Wrong password." in resp.get_data(as_text=True)
    assert anon.get("/admin/").status_code == 302


def test_failed_logins_are_limited_per_address(anon):
    for _ in range(5):
        assert sign_in(anon, password="guess").status_code == 401
    resp = sign_in(anon)  # even the right password waits now
    assert resp.status_code == 429
    assert "Too many failed sign-ins" in resp.get_data(as_text=True)
    other = anon.application.test_client()
    token = csrf_token(other)
    ok = other.post("/admin/login", data={"password": PASSWORD, "csrf_token": token},
                    environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert ok.status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                    "javascript:alert(1)", "http:/x", "/%0d%0aSet-Cookie:x"])
def test_next_must_be_a_path_on_this_site(anon, target):
    resp = sign_in(anon, next_=target)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location == "/admin/" or (location.startswith("/") and not location.startswith("//"))
    assert "evil" not in location


def test_next_keeps_a_local_path(anon):
    assert sign_in(anon, next_="/admin/?x=1").headers["Location"] == "/admin/?x=1"


def test_safe_next():
    assert access.safe_next("/admin/keys?page=2") == "/admin/keys?page=2"
    for bad in (None, "", "admin", "//x", "/\\x", "https://x/", "/a\nb"):
        assert access.safe_next(bad) is None


def test_login_form_without_csrf_token_is_refused(anon):
    resp = anon.post("/admin/login", data={"password": PASSWORD})
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/login"
    assert anon.get("/admin/").status_code == 302


def test_a_new_session_at_login(anon):
    before = csrf_token(anon)
    sign_in(anon)
    assert csrf_token(anon, "/admin/") != before


def test_session_cookie_flags(anon):
    resp = sign_in(anon)
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_secure_cookie_by_setting(make_app):
    app = make_app(ADMIN_PASSWORD=PASSWORD, SESSION_COOKIE_SECURE="true")
    client = app.test_client()
    resp = sign_in(client)
    assert "Secure" in resp.headers["Set-Cookie"]


def test_security_headers_on_admin_pages(anon):
    for url in ("/admin/login", "/admin/"):
        resp = anon.get(url)
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "same-origin"


def test_no_inline_script_in_admin_pages(admin):
    html = admin.text("/admin/")
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag, tag
    assert " onclick=" not in html and " style=" not in html


def test_a_new_password_ends_old_sessions(admin_app, admin):
    assert admin.get("/admin/").status_code == 200
    admin_app.config["ADMIN_PASSWORD"] = "another password"
    assert admin.get("/admin/").status_code == 302


def test_without_a_password_the_login_page_says_how_to_set_it(make_app):
    app = make_app()
    client = app.test_client()
    assert client.get("/admin/").status_code == 302
    resp = client.get("/admin/login")
    assert resp.status_code == 503
    html = resp.get_data(as_text=True)
    assert "The admin password is not set" in html and "ADMIN_PASSWORD=" in html


def test_login_switched_off_shows_a_warning_everywhere(make_app):
    app = make_app(REQUIRE_ADMIN_LOGIN="false")
    client = app.test_client()
    resp = client.get("/admin/")
    assert resp.status_code == 200
    assert "Admin login is switched off" in resp.get_data(as_text=True)
    assert client.get("/admin/stats/summary").status_code == 200
    assert client.get("/admin/login").status_code == 302


def test_assets_are_served_by_balancer(anon):
    css = anon.get("/static/vendor/bootstrap/css/bootstrap.min.css")
    assert css.status_code == 200 and b"Bootstrap" in css.data[:200]
    assert anon.get("/static/vendor/chart.js/chart.umd.min.js").status_code == 200
    assert anon.get("/static/vendor/bootstrap-icons/bootstrap-icons.min.css").status_code == 200
    assert anon.get("/static/vendor/bootstrap/../package.json").status_code == 404
    assert anon.get("/static/vendor/popper/x.js").status_code == 404


def test_root_goes_to_the_admin_ui(anon):
    assert anon.get("/").headers["Location"] == "/admin/"


def test_admin_errors_are_pages_for_people_and_json_for_scripts(admin):
    page = admin.get("/admin/keys/424242/edit")
    assert page.status_code == 404 and "There is nothing here" in page.get_data(as_text=True)
    assert page.headers["Content-Type"].startswith("text/html")
    bad = admin.post("/admin/keys/action", {"action": "explode"})
    assert bad.status_code == 400 and "unknown action" in bad.get_data(as_text=True)
    as_json = admin.post_json("/admin/keys/action", {"action": "explode"})
    assert as_json.status_code == 400 and as_json.get_json() == {"error": "unknown action"}


def _attempts(client, forwarded_for: str, password: str):
    token = csrf_token(client)
    return client.post("/admin/login", data={"password": password, "csrf_token": token},
                       headers={"X-Forwarded-For": forwarded_for},
                       environ_base={"REMOTE_ADDR": "10.0.0.1"})  # the reverse proxy


def test_behind_a_reverse_proxy_the_throttle_counts_each_client_address(make_app):
    app = make_app(ADMIN_PASSWORD=PASSWORD, PROXY_HOPS="1")
    for _ in range(5):
        assert _attempts(app.test_client(), "203.0.113.7", "guess").status_code == 401
    assert _attempts(app.test_client(), "203.0.113.7", PASSWORD).status_code == 429
    # Another client behind the same proxy is not locked out by the first one's guesses.
    assert _attempts(app.test_client(), "198.51.100.2", PASSWORD).status_code == 302


def test_without_proxy_hops_a_forwarded_address_is_not_believed(make_app):
    app = make_app(ADMIN_PASSWORD=PASSWORD)
    for i in range(5):  # a guesser cannot dodge the throttle by inventing addresses
        assert _attempts(app.test_client(), f"192.0.2.{i}", "guess").status_code == 401
    assert _attempts(app.test_client(), "192.0.2.99", PASSWORD).status_code == 429
