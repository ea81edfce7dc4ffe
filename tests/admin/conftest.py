"""Fixtures for the admin UI: an app with ADMIN_PASSWORD, a signed-in client, CSRF helpers."""
from __future__ import annotations

import re

import pytest

PASSWORD = "correct horse battery staple"
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@pytest.fixture
def app(make_app):
    """An app with an admin password and a loaded key pool (no background threads).

    It replaces the plain ``app`` here, so ``rt``, ``client`` and ``keys`` use it.
    """
    app = make_app(ADMIN_PASSWORD=PASSWORD)
    app.extensions["balancer"].services.bootstrap()
    return app


@pytest.fixture
def admin_app(app):
    """The app the admin UI runs in."""
    return app


@pytest.fixture
def anon(admin_app):
    """A client that has not signed in."""
    return admin_app.test_client()


def csrf_token(client, page: str = "/admin/login") -> str:
    """The CSRF token of the client's session, read from a page's meta tag as a browser would."""
    html = client.get(page).get_data(as_text=True)
    found = _META.search(html)
    assert found, f"no csrf meta tag on {page}"
    return found.group(1)


def sign_in(client, password: str = PASSWORD, next_: str = ""):
    """Post the login form; returns the response."""
    token = csrf_token(client)
    return client.post("/admin/login", data={"password": password, "next": next_,
                                             "csrf_token": token})


class AdminClient:
    """A signed-in test client whose posts carry the session's CSRF token."""

    def __init__(self, client):
        self.client = client
        assert sign_in(client).status_code == 302
        self.token = csrf_token(client, "/admin/")

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post(self, url, data=None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token)
        return self.client.post(url, data=data, **kw)

    def post_json(self, url, body=None):
        return self.client.post(url, json=body or {}, headers={"X-CSRFToken": self.token})

    def text(self, url) -> str:
        resp = self.get(url)
        assert resp.status_code == 200, (url, resp.status_code)
        return resp.get_data(as_text=True)


@pytest.fixture
def admin(admin_app):
    """A signed-in admin client."""
    return AdminClient(admin_app.test_client())
