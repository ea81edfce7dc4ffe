"""Every route of the app against four callers: nobody, a wrong credential, a client token
and an admin session. Only the right one gets through."""
from __future__ import annotations

import re

import pytest

from tests.admin.conftest import AdminClient
from tests.conftest import TOKEN

PROXY = ("openai", "gemini", "gemini_files", "gemini_caches", "gemini_upload", "anthropic",
         "anthropic_models")
PUBLIC = {"ops.healthz", "ops.readyz", "static", "root", "admin.login"}
REMOTE = {"REMOTE_ADDR": "203.0.113.9"}  # not in METRICS_ALLOW


def kind(endpoint: str) -> str:
    blueprint = endpoint.split(".", 1)[0].rstrip("0123456789")
    if endpoint in PUBLIC or blueprint == "vendor":
        return "public"
    if blueprint in PROXY:
        return "proxy"
    if endpoint == "ops.prometheus_metrics":
        return "metrics"
    return "admin"


def concrete(rule) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", "1", rule.rule)


def calls(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield kind(rule.endpoint), rule, method


def login_wall(resp) -> bool:
    """The admin guard's answer: a redirect to the login page, or 401 for JSON."""
    return (resp.status_code == 302 and resp.headers["Location"].startswith("/admin/login")) \
        or resp.status_code in (400, 401)  # 400: a POST stopped by CSRF before the guard


@pytest.fixture
def callers(admin_app):
    signed_in = AdminClient(admin_app.test_client())
    return {"none": (admin_app.test_client(), {}),
            "wrong": (admin_app.test_client(), {"Authorization": "Bearer not-a-token",
                                                "x-goog-api-key": "not-a-token"}),
            "client": (admin_app.test_client(), {"Authorization": f"Bearer {TOKEN}"}),
            "admin": (signed_in.client, {"X-CSRFToken": signed_in.token})}


def test_the_whole_url_map(admin_app, callers, keys):
    keys(1)
    # The walk fails hundreds of token checks from one address: past the per-address
    # limit those would be 429s (tests/test_proxy_access.py covers that), not 401s.
    admin_app.extensions["balancer"].auth_failures.limit = 100_000
    seen = set()
    for what, rule, method in calls(admin_app):
        seen.add(what)
        url = concrete(rule)
        for who, (client, headers) in callers.items():
            if who == "admin" and rule.endpoint == "admin.logout":
                continue  # it would end the session the rest of the walk uses; see below
            resp = client.open(url, method=method, headers=headers, environ_base=REMOTE,
                               json={} if method in ("POST", "PATCH") else None)
            where = (who, method, rule.rule, resp.status_code)
            if what == "public":
                assert resp.status_code != 401, where
            elif what == "proxy":
                if who == "client":
                    assert resp.status_code not in (401, 403), where
                else:  # an admin session is no client token
                    assert resp.status_code == 401, where
            elif what == "metrics":
                assert resp.status_code in (401, 403), where  # only METRICS_TOKEN, or an address
            elif who == "admin":
                assert not login_wall(resp) or resp.status_code == 400, where
                assert resp.status_code != 401, where
            else:
                assert login_wall(resp), where
    assert seen == {"public", "proxy", "metrics", "admin"}
    client, headers = callers["admin"]
    assert client.post("/admin/logout", headers=headers, environ_base=REMOTE).status_code == 302
    assert login_wall(client.get("/admin/", environ_base=REMOTE))  # the session is over
