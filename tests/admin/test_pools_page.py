"""The pools page: create, edit, delete pools and refresh their model lists."""
from __future__ import annotations

import re
from html import unescape

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ApiKey, Pool
from balancer.services import keys as key_service
from tests.fake_upstream import make_key

GROQ = {"name": "groq", "kind": "openai", "base_url": "https://api.groq.com/openai/v1",
        "proxy_url": "", "proxies": "", "enabled": "y", "strategy": "least_busy",
        "overrides": "max_failures=5", "aliases": "fast=llama-3.1-8b-instant"}


def _pool(admin_app, name: str) -> Pool | None:
    with admin_app.app_context():
        pool = db.session.scalar(sa.select(Pool).where(Pool.name == name))
        if pool is not None:
            db.session.expunge(pool)
        return pool


def test_the_page_lists_the_default_pool(admin):
    html = admin.text("/admin/pools")
    assert 'data-pool="gemini"' in html and "default" in html


def test_create_a_pool_in_force_at_once(admin, admin_app, rt):
    resp = admin.post("/admin/pools/new", GROQ)
    assert resp.status_code == 302
    pool = _pool(admin_app, "groq")
    assert pool.kind == "openai" and pool.overrides == {"max_failures": 5, "strategy": "least_busy"}
    assert pool.aliases == {"fast": "llama-3.1-8b-instant"}
    assert rt.policy_for(pool.id).strategy.value == "least_busy"
    assert rt.policy_for(pool.id).max_failures == 5
    html = unescape(admin.text("/admin/pools"))
    assert "Pool groq created." in html and "fast" in html and "max_failures=5" in html


def test_create_errors_appear_next_to_their_field(admin, admin_app):
    cases = [({"name": "Bad/Name"}, "pool name"), ({"base_url": ""}, "needs a base URL"),
             ({"base_url": "ftp://x"}, "base URL"), ({"proxy_url": "gopher://p"}, "proxy URL"),
             ({"overrides": "max_failures=0"}, "must be at least 1"),
             ({"overrides": "sync_interval_seconds=1"}, "applies to the whole process"),
             ({"overrides": "no equals sign"}, "expected NAME=VALUE"),
             ({"aliases": "bad/alias=x"}, "alias"), ({"name": ""}, "Give the pool a name.")]
    for change, words in cases:
        resp = admin.post("/admin/pools/new", {**GROQ, **change})
        html = unescape(resp.get_data(as_text=True))
        assert resp.status_code == 400, change
        assert "Nothing was saved" in html and words in html, (change, words)
        assert re.search(r'class="invalid-feedback[^"]*">[^<]*' + re.escape(words.split()[0]), html), change
    assert _pool(admin_app, "groq") is None


def test_a_name_is_taken_once(admin):
    admin.post("/admin/pools/new", GROQ)
    resp = admin.post("/admin/pools/new", GROQ)
    assert resp.status_code == 400 and "already exists" in resp.get_data(as_text=True)


def test_edit_a_pool(admin, admin_app, rt):
    admin.post("/admin/pools/new", GROQ)
    pool = _pool(admin_app, "groq")
    form = admin.text(f"/admin/pools/{pool.id}/edit")
    assert 'value="groq"' in form and "max_failures=5" in form
    resp = admin.post(f"/admin/pools/{pool.id}/edit", {**GROQ, "name": "groq2", "strategy": "",
                                                       "overrides": "", "enabled": ""})
    assert resp.status_code == 302
    edited = _pool(admin_app, "groq2")
    assert edited.overrides == {} and edited.enabled is False
    assert rt.catalog.pools[pool.id].name == "groq2"
    assert rt.policy_for(pool.id).strategy.value == rt.settings.current.strategy


def test_a_proxy_password_is_never_shown_and_kept_when_unchanged(admin, admin_app):
    admin.post("/admin/pools/new", {**GROQ, "proxy_url": "http://user:s3cret@proxy.local:3128"})
    pool = _pool(admin_app, "groq")
    form = admin.text(f"/admin/pools/{pool.id}/edit")
    assert "s3cret" not in form and "user:***@proxy.local" in form
    assert "s3cret" not in admin.text("/admin/pools")
    masked = re.search(r'id="proxy_url"[^>]*value="([^"]+)"', form).group(1)
    admin.post(f"/admin/pools/{pool.id}/edit", {**GROQ, "proxy_url": masked})
    assert _pool(admin_app, "groq").proxy_url == "http://user:s3cret@proxy.local:3128"


def test_the_default_pool_keeps_its_kind(admin, admin_app):
    pool = _pool(admin_app, "gemini")
    resp = admin.post(f"/admin/pools/{pool.id}/edit", {"name": "gemini", "kind": "openai",
                                                       "base_url": "", "enabled": "y", "strategy": ""})
    assert resp.status_code == 302
    # As a browser sends it: the disabled kind field is left out.
    resp = admin.post(f"/admin/pools/{pool.id}/edit", {"name": "gemini", "base_url": "",
                                                       "enabled": "y", "strategy": ""})
    assert resp.status_code == 302
    assert _pool(admin_app, "gemini").kind == "gemini"


def test_delete_asks_with_the_number_of_keys_then_deletes(admin, admin_app, rt):
    admin.post("/admin/pools/new", GROQ)
    pool = _pool(admin_app, "groq")
    with admin_app.app_context():
        key_service.add_keys(rt, [make_key("g", 0, openai=True)], db.session.get(Pool, pool.id))
    ask = admin.post(f"/admin/pools/{pool.id}/delete", {})
    assert ask.status_code == 200 and "1 key</strong> is deleted with it" in ask.get_data(as_text=True)
    assert _pool(admin_app, "groq") is not None
    done = admin.post(f"/admin/pools/{pool.id}/delete", {"confirmed": "yes"})
    assert done.status_code == 302
    assert _pool(admin_app, "groq") is None
    assert pool.id not in rt.catalog.pools
    with admin_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(ApiKey.id))) == 0
    assert "Pool groq deleted with its 1 key." in admin.text("/admin/pools")


def test_the_default_pool_cannot_be_deleted(admin, admin_app):
    pool = _pool(admin_app, "gemini")
    admin.post(f"/admin/pools/{pool.id}/delete", {"confirmed": "yes"})
    assert _pool(admin_app, "gemini") is not None
    assert "cannot be deleted" in admin.text("/admin/pools")


def test_refresh_the_model_list(admin, admin_app, keys):
    keys(1, tag="models")
    resp = admin.post("/admin/pools/refresh", {"pool": "gemini"})
    assert resp.status_code == 302
    html = admin.text("/admin/pools")
    count = int(re.search(r"Model list of gemini: (\d+) models.", html).group(1))
    assert count > 0
    pool = _pool(admin_app, "gemini")
    models = admin.text(f"/admin/pools/{pool.id}/models")
    assert "gemini/gemini-2.5-flash" in models


def test_refresh_failure_is_shown(admin):
    admin.post("/admin/pools/new", {**GROQ, "base_url": "http://127.0.0.1:9/v1"})
    admin.post("/admin/pools/refresh", {"pool": "groq"})
    assert "Model list of groq not refreshed" in admin.text("/admin/pools")


def test_unknown_pool(admin):
    assert admin.get("/admin/pools/9999/edit").status_code == 404
    assert admin.post("/admin/pools/refresh", {"pool": "nope"}).status_code == 404


def test_a_gemini_pool_says_and_sets_how_openai_clients_reach_it(admin, admin_app, rt):
    default = _pool(admin_app, "gemini")
    html = unescape(admin.text("/admin/pools"))
    assert "native (from Settings): Gemini's own API" in html
    form = admin.text(f"/admin/pools/{default.id}/edit")
    assert 'name="openai_api"' in form
    resp = admin.post(f"/admin/pools/{default.id}/edit", {
        "name": "gemini", "base_url": "", "proxy_url": "", "proxies": "", "enabled": "y",
        "strategy": "", "openai_api": "compat", "overrides": "", "aliases": ""})
    assert resp.status_code == 302
    assert _pool(admin_app, "gemini").overrides == {"openai_api": "compat"}
    assert rt.pool_settings(rt.catalog.pools[default.id]).values.openai_api == "compat"
    assert "compat: Google's OpenAI layer" in unescape(admin.text("/admin/pools"))
    form = admin.text(f"/admin/pools/{default.id}/edit")
    assert re.search(r'<option (?:selected value="compat"|value="compat" selected)', form)


def test_an_image_host_token_is_stored_encrypted_never_shown_and_kept(admin, admin_app, rt):
    token = "imgbed-secret-code-5f4e3d2c1b"
    host = {"image_host": "imgbed", "image_host_url": "https://img.example.com",
            "image_host_token": token}
    resp = admin.post("/admin/pools/new", {**GROQ, **host})
    assert resp.status_code == 302
    pool = _pool(admin_app, "groq")
    assert token not in str(pool.image_host) and rt.box.decrypt(pool.image_host["token"]) == token
    form = admin.text(f"/admin/pools/{pool.id}/edit")
    assert token not in form and "A token is stored." in form
    assert 'value="https://img.example.com"' in form
    listing = admin.text("/admin/pools")
    assert token not in listing and "(token set)" in listing
    # Saved again as the browser sends it (the token field empty): the token stays.
    resp = admin.post(f"/admin/pools/{pool.id}/edit", {**GROQ, **host, "image_host_token": ""})
    assert resp.status_code == 302
    assert rt.catalog.pools[pool.id].image_host.token == token
    # A refused form does not echo a token typed into it.
    resp = admin.post(f"/admin/pools/{pool.id}/edit",
                      {**GROQ, **host, "image_host_url": "ftp://img.example.com"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "image host URL" in html and token not in html


def test_create_a_vertex_express_pool(admin, admin_app, rt):
    assert 'value="vertex_express"' in admin.text("/admin/pools/new")
    resp = admin.post("/admin/pools/new", {**GROQ, "name": "vertex", "kind": "vertex_express",
                                           "base_url": "", "overrides": "", "aliases": ""})
    assert resp.status_code == 302
    pool = _pool(admin_app, "vertex")
    assert pool.kind == "vertex_express"
    info = next(p for p in rt.catalog.pools.values() if p.name == "vertex")
    assert info.base_url == "https://aiplatform.googleapis.com" and "gemini-2.5-flash" in info.models
    assert "Gemini's own API on Vertex AI express mode" in unescape(admin.text("/admin/pools"))


def test_fake_streams_are_chosen_on_the_pool_form(admin, admin_app, rt):
    resp = admin.post("/admin/pools/new", {**GROQ, "fake_stream": "true"})
    assert resp.status_code == 302
    pool = _pool(admin_app, "groq")
    assert pool.overrides["fake_stream"] is True
    assert rt.pool_settings(rt.catalog.pools[pool.id]).values.fake_stream is True
    form = admin.text(f"/admin/pools/{pool.id}/edit")
    assert re.search(r'<option[^>]*selected[^>]*value="true"|<option[^>]*value="true"[^>]*selected',
                     form)
    admin.post(f"/admin/pools/{pool.id}/edit", {**GROQ, "fake_stream": ""})
    assert "fake_stream" not in _pool(admin_app, "groq").overrides
