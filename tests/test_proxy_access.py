"""Who may use the keys: loopback without a token, OPEN_ACCESS, JSON bodies only, trusted
Host names, the loopback rule for REQUIRE_ADMIN_LOGIN=false, failed token checks limited."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from balancer.config import Config, ConfigError
from balancer.extensions import db
from balancer.models import RequestLog
from balancer.services import client_tokens as token_service
from balancer.trusted_hosts import is_trusted
from tests.conftest import TOKEN
from tests.test_metrics import scrape, value

ROOT = Path(__file__).resolve().parent.parent
MODEL = "gemini-2.5-flash"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}]}
GEMINI = {"contents": [{"parts": [{"text": "hello"}]}]}
ELSEWHERE = {"REMOTE_ADDR": "203.0.113.9"}


def started(make_app, **env):
    """An app of its own, loaded, with one key of the fake upstream in its pool."""
    from balancer.services import keys as key_service
    from tests.fake_upstream import make_key
    app = make_app(**env)
    rt = app.extensions["balancer"]
    rt.services.bootstrap()
    with app.app_context():
        key_service.add_keys(rt, [make_key("access", 0)])
    return app


# --- make run binds loopback; the Procfile every address ---------------------------------


def test_gunicorn_binds_loopback_unless_host_says_otherwise(tmp_path):
    # A copy, away from any .env of the checkout (gunicorn.conf.py reads the one beside it).
    (tmp_path / "gunicorn.conf.py").write_text((ROOT / "gunicorn.conf.py").read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT")}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    code = "import runpy; print(runpy.run_path('gunicorn.conf.py')['bind'])"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "127.0.0.1:8000"
    env["HOST"] = "0.0.0.0"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "0.0.0.0:8000"
    web = [line for line in (ROOT / "Procfile").read_text().splitlines()
           if line.startswith("web:")][0]
    assert "HOST=${HOST:-0.0.0.0}" in web


# --- no client token: loopback only -------------------------------------------------------


def test_without_a_token_only_loopback_callers_are_served(make_app, keys):
    app = started(make_app, ALLOWED_TOKENS="")
    client = app.test_client()
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    refused = client.post("/v1/chat/completions", json=CHAT, environ_base=ELSEWHERE)
    assert refused.status_code == 401
    error = refused.get_json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "no_client_token"
    assert "flask tokens add" in error["message"] and "Client tokens" in error["message"]
    assert "ALLOWED_TOKENS" in error["message"] and "OPEN_ACCESS" in error["message"]
    gemini = client.post(f"/v1beta/models/{MODEL}:generateContent", json=GEMINI,
                         environ_base=ELSEWHERE)
    assert gemini.status_code == 401
    assert gemini.get_json()["error"]["status"] == "UNAUTHENTICATED"
    assert "flask tokens add" in gemini.get_json()["error"]["message"]


def test_a_reverse_proxy_on_this_machine_does_not_make_its_clients_local(make_app):
    app = started(make_app, ALLOWED_TOKENS="")
    client = app.test_client()
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        value = "for=203.0.113.9" if header == "Forwarded" else "203.0.113.9"
        resp = client.post("/v1/chat/completions", json=CHAT, headers={header: value})
        assert resp.status_code == 401, header
    # Told that one proxy is in front (PROXY_HOPS), the client's own address decides.
    hops = started(make_app, ALLOWED_TOKENS="", PROXY_HOPS="1").test_client()
    assert hops.post("/v1/chat/completions", json=CHAT,
                     headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 401
    assert hops.post("/v1/chat/completions", json=CHAT,
                     headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


def test_ipv6_and_mapped_loopback_callers_are_loopback(make_app, keys):
    app = started(make_app, ALLOWED_TOKENS="")
    client = app.test_client()
    for address in ("::1", "::ffff:127.0.0.1"):
        resp = client.post("/v1/chat/completions", json=CHAT, environ_base={"REMOTE_ADDR": address})
        assert resp.status_code == 200, address


def test_open_access_serves_every_caller_and_says_so(make_app, keys, caplog):
    with caplog.at_level("WARNING", logger="balancer"):
        app = started(make_app, ALLOWED_TOKENS="", OPEN_ACCESS="true", REQUIRE_ADMIN_LOGIN="false")
    assert any("OPEN_ACCESS=true" in r.getMessage() for r in caplog.records)
    client = app.test_client()
    assert client.post("/v1/chat/completions", json=CHAT, environ_base=ELSEWHERE).status_code == 200
    page = client.get("/admin/").get_data(as_text=True)
    assert 'id="open-access-banner"' in page and "OPEN_ACCESS=true" in page
    assert "The proxy accepts every caller" in client.get("/admin/tokens").get_data(as_text=True)


def test_open_access_does_not_let_anyone_past_an_existing_token(make_app, keys):
    app = started(make_app, OPEN_ACCESS="true")
    client = app.test_client()
    assert client.post("/v1/chat/completions", json=CHAT, environ_base=ELSEWHERE).status_code == 401
    assert 'id="open-access-banner"' not in client.get("/admin/login").get_data(as_text=True)


@pytest.mark.parametrize("how", ["revoke", "disable"])
def test_switching_off_the_last_token_never_opens_the_proxy(make_app, keys, how):
    app = started(make_app, ALLOWED_TOKENS="")
    rt = app.extensions["balancer"]
    with app.app_context():
        row, plain = token_service.create_token(rt, "only")
        token_id = row.id
    client = app.test_client()
    mine = {"Authorization": f"Bearer {plain}"}
    assert client.post("/v1/chat/completions", json=CHAT, headers=mine,
                       environ_base=ELSEWHERE).status_code == 200
    with app.app_context():
        if how == "revoke":
            token_service.revoke(rt, token_id)
        else:
            token_service.set_enabled(rt, token_id, False)
    assert client.post("/v1/chat/completions", json=CHAT, environ_base=ELSEWHERE).status_code == 401
    assert client.post("/v1/chat/completions", json=CHAT, headers=mine,
                       environ_base=ELSEWHERE).status_code == 401
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200  # this machine


def test_the_cli_says_what_revoking_the_last_token_does(make_app):
    app = started(make_app, ALLOWED_TOKENS="")
    with app.app_context():
        row, _plain = token_service.create_token(app.extensions["balancer"], "only")
    result = app.test_cli_runner().invoke(args=["tokens", "revoke", str(row.id)], input="y\n")
    assert result.exit_code == 0, result.output
    assert "last token" in result.output  # the question says it before
    assert "get 401" in result.output
    assert "No client token is left" in result.output and "loopback" in result.output


# --- JSON bodies only ---------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_a_body_that_is_not_json_is_a_415_in_the_callers_format(client, keys, auth, upstream,
                                                                  content_type):
    keys(1)
    import json
    body = json.dumps(CHAT)
    resp = client.post("/v1/chat/completions", data=body, headers={**auth,
                       "Content-Type": content_type})
    assert resp.status_code == 415
    error = resp.get_json()["error"]
    assert error["type"] == "invalid_request_error" and "application/json" in error["message"]
    resp = client.post(f"/v1beta/models/{MODEL}:generateContent", data=json.dumps(GEMINI),
                       headers={"x-goog-api-key": TOKEN, "Content-Type": content_type})
    assert resp.status_code == 415 and resp.get_json()["error"]["code"] == 415
    assert resp.get_json()["error"]["status"] == "INVALID_ARGUMENT"
    assert not upstream.requests


def test_json_with_a_charset_and_bodiless_calls_pass(client, keys, auth):
    keys(1)
    import json
    resp = client.post("/v1/chat/completions", data=json.dumps(CHAT),
                       headers={**auth, "Content-Type": "application/json; charset=utf-8"})
    assert resp.status_code == 200
    assert client.get("/v1/models", headers=auth).status_code == 200


def test_upload_chunks_keep_their_own_types_but_the_start_is_json(client, keys):
    keys(1)
    chunk = client.post("/upload/v1beta/files?upload_id=forged&upload_protocol=resumable",
                        data=b"\x89PNG...", headers={"Content-Type": "image/png",
                                                     "X-Goog-Upload-Command": "upload, finalize"})
    assert chunk.status_code == 404  # the signed URL is what is checked, not the type
    start = client.post("/upload/v1beta/files", data='{"file": {}}',
                        headers={"x-goog-api-key": TOKEN, "Content-Type": "text/plain",
                                 "X-Goog-Upload-Protocol": "resumable",
                                 "X-Goog-Upload-Command": "start"})
    assert start.status_code == 415 and start.get_json()["error"]["status"] == "INVALID_ARGUMENT"


# --- trusted Host names -------------------------------------------------------------------


def test_trusted_host_matching_ignores_ports_and_case():
    trusted = frozenset({"localhost", "127.0.0.1", "::1", "api.example.com", ".example.org"})
    for header in ("localhost", "LOCALHOST:8000", "127.0.0.1:5000", "[::1]:8000", "[::1]",
                   "api.example.com:443", "example.org", "a.b.example.org"):
        assert is_trusted(header, trusted), header
    for header in ("evil.com", "api.example.com.evil.com", "notexample.org", "[::2]:80",
                   "127.0.0.2"):
        assert not is_trusted(header, trusted), header
    assert is_trusted("anything.at.all", None)


def test_another_host_name_is_a_400_that_names_trusted_hosts(client, auth, keys, caplog):
    keys(1)
    with caplog.at_level("WARNING", logger="balancer"):
        resp = client.post("/v1/chat/completions", json=CHAT, headers={**auth, "Host": "rebind.evil"})
    assert resp.status_code == 400
    assert "TRUSTED_HOSTS" in resp.get_json()["error"]["message"]
    assert any("TRUSTED_HOSTS" in r.getMessage() and "public host name" in r.getMessage()
               for r in caplog.records)
    gemini = client.post(f"/v1beta/models/{MODEL}:generateContent", json=GEMINI,
                         headers={"x-goog-api-key": TOKEN, "Host": "rebind.evil:8000"})
    assert gemini.status_code == 400 and gemini.get_json()["error"]["status"] == "INVALID_ARGUMENT"
    assert client.get("/admin/login", headers={"Host": "rebind.evil"}).status_code == 400
    for host in ("localhost:8000", "127.0.0.1:1234", "[::1]:8000"):
        assert client.post("/v1/chat/completions", json=CHAT,
                           headers={**auth, "Host": host}).status_code == 200, host


def test_trusted_hosts_adds_names_and_star_allows_any(make_app, keys, auth):
    app = started(make_app, TRUSTED_HOSTS="myapp.example.com, .corp.example")
    client = app.test_client()
    for host, status in (("myapp.example.com", 200), ("gw.corp.example:8443", 200),
                         ("other.example.com", 400), ("localhost", 200)):
        assert client.post("/v1/chat/completions", json=CHAT,
                           headers={**auth, "Host": host}).status_code == status, host
    open_app = make_app(TRUSTED_HOSTS="*")
    assert open_app.test_client().get("/healthz", headers={"Host": "any.where"}).status_code == 200


def test_behind_proxy_hops_the_forwarded_host_is_checked(make_app):
    app = make_app(PROXY_HOPS="1", TRUSTED_HOSTS="public.example.com")
    client = app.test_client()
    ok = client.get("/healthz", headers={"X-Forwarded-Host": "public.example.com",
                                         "X-Forwarded-For": "198.51.100.1"})
    assert ok.status_code == 200
    bad = client.get("/healthz", headers={"X-Forwarded-Host": "rebind.evil",
                                          "X-Forwarded-For": "198.51.100.1"})
    assert bad.status_code == 400


def test_a_platform_bind_without_trusted_hosts_is_warned_about(make_app, caplog):
    with caplog.at_level("WARNING", logger="balancer"):
        started(make_app, HOST="0.0.0.0")
    assert any("TRUSTED_HOSTS" in r.getMessage() and "public host name" in r.getMessage()
               for r in caplog.records)


def test_this_machines_own_names_are_trusted_by_default(tmp_path):
    import socket
    cfg = Config({"BALANCER_INSTANCE_PATH": str(tmp_path)})
    assert socket.gethostname().lower() in cfg.BALANCER_TRUSTED_HOSTS
    assert {"localhost", "127.0.0.1", "::1"} <= cfg.BALANCER_TRUSTED_HOSTS
    bound = Config({"BALANCER_INSTANCE_PATH": str(tmp_path), "HOST": "192.0.2.10"})
    assert "192.0.2.10" in bound.BALANCER_TRUSTED_HOSTS
    with pytest.raises(ConfigError, match="TRUSTED_HOSTS"):
        Config({"BALANCER_INSTANCE_PATH": str(tmp_path), "TRUSTED_HOSTS": "bad/name"})


# --- REQUIRE_ADMIN_LOGIN=false on loopback only --------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_admin_login_off_is_refused_unless_bound_to_loopback(tmp_path, host):
    with pytest.raises(ConfigError) as err:
        Config({"BALANCER_INSTANCE_PATH": str(tmp_path), "REQUIRE_ADMIN_LOGIN": "false",
                "HOST": host})
    assert err.value.name == "REQUIRE_ADMIN_LOGIN" and "loopback" in str(err.value)
    assert host in str(err.value)


@pytest.mark.parametrize("host", [None, "127.0.0.1", "::1", "[::1]", "localhost"])
def test_admin_login_off_is_allowed_on_loopback(tmp_path, host):
    env = {"BALANCER_INSTANCE_PATH": str(tmp_path), "REQUIRE_ADMIN_LOGIN": "false"}
    if host:
        env["HOST"] = host
    assert Config(env).REQUIRE_ADMIN_LOGIN is False


# --- failed token checks ------------------------------------------------------------------


def test_failed_token_checks_are_limited_per_address_and_counted_not_logged(client, rt, app, keys):
    keys(1)
    before = scrape(client)
    wrong = {"Authorization": "Bearer guess"}
    for _ in range(20):
        resp = client.post("/v1/chat/completions", json=CHAT, headers=wrong, environ_base=ELSEWHERE)
        assert resp.status_code == 401
    limited = client.post("/v1/chat/completions", json=CHAT, headers=wrong, environ_base=ELSEWHERE)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.get_json()["error"]["type"] == "rate_limit_error"
    # A right token does not get through meanwhile, and Gemini callers hear it Google's way.
    right = client.post("/v1/chat/completions", json=CHAT,
                        headers={"Authorization": f"Bearer {TOKEN}"}, environ_base=ELSEWHERE)
    assert right.status_code == 429
    gemini = client.post(f"/v1beta/models/{MODEL}:generateContent", json=GEMINI,
                         headers={"x-goog-api-key": "guess"}, environ_base=ELSEWHERE)
    assert gemini.status_code == 429 and gemini.get_json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    # Other addresses are not held back.
    other = {"REMOTE_ADDR": "198.51.100.7"}
    assert client.post("/v1/chat/completions", json=CHAT, headers=wrong,
                       environ_base=other).status_code == 401
    assert client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {TOKEN}"},
                       environ_base=other).status_code == 200
    # A minute later the address may try again.
    now = rt.clock()
    rt.auth_failures.clock = lambda: now + 61
    assert client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {TOKEN}"},
                       environ_base=ELSEWHERE).status_code == 200
    after = scrape(client)
    name = "balancer_client_auth_failures_total"
    assert value(after, name, reason="invalid") - value(before, name, reason="invalid") == 21
    assert value(after, name, reason="limited") - value(before, name, reason="limited") == 3
    rt.services.flush()
    with app.app_context():
        statuses = list(db.session.scalars(sa.select(RequestLog.status)))
    assert sorted(statuses) == [200, 200]  # the refused checks wrote no row


def test_the_failure_table_is_bounded():
    from balancer.proxy.auth_failures import FailureLimiter
    limiter = FailureLimiter(lambda: 0.0, limit=2, max_addresses=3)
    for i in range(10):
        limiter.failed(f"192.0.2.{i}")
    assert len(limiter._failures) == 3
    limiter.failed("192.0.2.9")
    assert limiter.blocked("192.0.2.9") == 60.0 and limiter.blocked("192.0.2.1") is None
