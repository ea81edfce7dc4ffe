"""Recovery probes, /healthz and /readyz."""
from __future__ import annotations

from balancer.keypool.records import KeyStatus
from balancer.services import settings as settings_service

MODEL = "gemini-2.5-flash"


def chat(client, auth):
    return client.post("/v1/chat/completions", headers=auth,
                       json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]})


def test_a_disabled_key_that_works_again_is_restored_by_a_probe(app, client, auth, keys, upstream, rt):
    (key,) = keys(1)
    upstream.set_key(key, "invalid")
    assert chat(client, auth).status_code == 503
    key_id = next(iter(rt.keypool.key_ids()))
    assert rt.keypool.snapshot(key_id)[0].status is KeyStatus.DISABLED
    rt.services.probe()
    assert rt.keypool.snapshot(key_id)[0].status is KeyStatus.DISABLED  # still invalid
    upstream.set_key(key, "good")
    rt.services.probe()
    assert rt.keypool.snapshot(key_id)[0].status is KeyStatus.ACTIVE
    assert chat(client, auth).status_code == 200
    probes = [r for r in upstream.requests if r["flavour"] == "native"]
    assert probes and all(r["headers"].get("x-goog-api-key") for r in probes)


def test_an_ejected_key_comes_back_early_after_a_good_probe(app, client, auth, keys, upstream, rt):
    (key,) = keys(1)
    with app.app_context():
        settings_service.update(rt, {"max_failures": 1, "max_retries": 0})
    upstream.set_key(key, "internal")
    assert chat(client, auth).status_code == 500
    assert chat(client, auth).status_code == 503  # ejected now
    upstream.set_key(key, "good")
    rt.services.probe()
    assert chat(client, auth).status_code == 200


def test_a_failed_probe_never_lengthens_the_penalty(app, client, auth, keys, upstream, rt):
    (key,) = keys(1)
    with app.app_context():
        settings_service.update(rt, {"max_failures": 1, "max_retries": 0})
    upstream.set_key(key, "internal")
    chat(client, auth)
    key_id = next(iter(rt.keypool.key_ids()))
    before = rt.keypool.snapshot(key_id)[1][0]
    rt.services.probe()
    after = rt.keypool.snapshot(key_id)[1][0]
    assert (after.cooldown_until, after.ejections) == (before.cooldown_until, before.ejections)


def test_healthz_is_always_ok(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_is_503_until_the_pool_is_loaded(make_app):
    app = make_app()
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503 and resp.get_json()["checks"]["key_pool"] == "not loaded"
    app.extensions["balancer"].services.bootstrap()
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 200 and resp.get_json()["checks"]["database"] == "ok"


def test_readyz_reports_a_database_that_does_not_answer_but_stays_in_rotation(make_app, tmp_path):
    make_app()
    broken = make_app(DATABASE_URL=f"sqlite:///{tmp_path}/missing-dir/x.db")
    broken.extensions["balancer"].loaded = True
    resp = broken.test_client().get("/readyz")
    # Proxying goes on from memory: a load balancer must not take the process out.
    assert resp.status_code == 200 and resp.get_json()["status"] == "degraded"
    assert resp.get_json()["checks"]["database"].startswith("unavailable")


def test_readyz_tells_strangers_only_whether_it_is_ready(make_app):
    app = make_app(METRICS_TOKEN="scrape-token-123456")
    app.extensions["balancer"].services.bootstrap()
    stranger = {"REMOTE_ADDR": "203.0.113.9"}
    resp = app.test_client().get("/readyz", environ_base=stranger)
    assert resp.status_code == 200 and resp.get_json() == {"status": "ready"}
    wrong = app.test_client().get("/readyz", environ_base=stranger,
                                  headers={"Authorization": "Bearer wrong"})
    assert wrong.get_json() == {"status": "ready"}
    scraper = app.test_client().get("/readyz", environ_base=stranger,
                                    headers={"Authorization": "Bearer scrape-token-123456"})
    body = scraper.get_json()
    assert body["status"] == "ready" and "pid" in body and "keys" in body and "checks" in body
    local = app.test_client().get("/readyz")  # METRICS_ALLOW: this host by default
    assert "pid" in local.get_json()


def test_readyz_not_ready_says_so_to_strangers(make_app):
    app = make_app()
    resp = app.test_client().get("/readyz", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert resp.status_code == 503 and resp.get_json() == {"status": "not ready"}


def test_readyz_gives_a_signed_in_admin_the_details(make_app):
    from tests.admin.conftest import PASSWORD, AdminClient
    app = make_app(ADMIN_PASSWORD=PASSWORD)
    app.extensions["balancer"].services.bootstrap()
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": "203.0.113.9"})
    assert client.get("/readyz").get_json() == {"status": "ready"}
    admin = AdminClient(client)
    body = admin.get("/readyz").get_json()
    assert body["status"] == "ready" and "pid" in body and body["checks"]["database"] == "ok"
