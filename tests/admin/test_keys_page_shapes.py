"""The keys page takes the keys that exist today: auth keys, unknown shapes, every provider's."""
from __future__ import annotations

import io
import json

import sqlalchemy as sa

from balancer.extensions import db
from balancer.keypool.outcome import Outcome, Verdict
from balancer.models import ApiKey
from balancer.services import keys as key_service
from balancer.services import pools as pool_service
from balancer.services.pools import ensure_default_pool
from tests.fake_upstream import make_key

AQ = [make_key("page", i, kind="auth") for i in range(3)]
ODD = "gk1.Zq8Vn2Lw5Xr7Kp3Ty9Bm4Hc6"
WARNING = ("1 of an unknown shape (does not look like a standard (AIza…) or auth (AQ.…) Gemini "
           "key; added anyway, check it)")


def _masked(key: str) -> str:
    return f"{key[:4]}…{key[-3:]}"


def _default_pool(admin_app) -> int:
    with admin_app.app_context():
        return ensure_default_pool().id


def _stored(admin_app) -> list[str]:
    """The keys as stored, decrypted, in order."""
    rt = admin_app.extensions["balancer"]
    with admin_app.app_context():
        rows = db.session.scalars(sa.select(ApiKey).order_by(ApiKey.id))
        return [rt.box.decrypt(row.secret_encrypted) for row in rows]


def _upload(admin, admin_app, content: str, name: str):
    return admin.post("/admin/keys/import",
                      {"import-file": (io.BytesIO(content.encode()), name),
                       "import-pool": str(_default_pool(admin_app))},
                      content_type="multipart/form-data")


def test_a_pasted_auth_key_is_stored_once_and_shown_masked(admin, admin_app, rt):
    text = f'"{AQ[0]}",\n   {AQ[0]}   \nmy new key: {AQ[1]}\n'
    resp = admin.post("/admin/keys/add", {"add-text": text, "add-pool": _default_pool(admin_app)})
    assert resp.status_code == 302
    page = admin.text("/admin/keys")
    assert "2 added, 1 already present, 0 malformed" in page
    assert _stored(admin_app) == AQ[:2]
    for key in AQ[:2]:
        assert _masked(key) in page and key not in page and key[:-3] not in page
    assert _masked(AQ[0]).startswith("AQ.") and len(_masked(AQ[0])) == 8
    # The key pool serves them at once.
    lease = rt.keypool.acquire(_default_pool(admin_app), "gemini-2.5-flash")
    assert lease.secret in AQ[:2]
    rt.keypool.release(lease, Verdict(Outcome.SUCCESS, status=200))
    again = admin.post("/admin/keys/add", {"add-text": f"'{AQ[1]}'", "add-pool": _default_pool(admin_app)})
    assert again.status_code == 302
    assert "0 added, 1 already present, 0 malformed" in admin.text("/admin/keys")


def test_a_pasted_key_of_an_unknown_shape_is_added_with_a_warning(admin, admin_app):
    resp = admin.post("/admin/keys/add", {"add-text": f"{ODD}\n", "add-pool": _default_pool(admin_app)})
    assert resp.status_code == 302
    page = admin.text("/admin/keys")
    assert f"1 added, 0 already present, 0 malformed, {WARNING}." in page
    assert 'alert-warning' in page
    assert _stored(admin_app) == [ODD] and ODD not in page


def test_a_cut_auth_key_is_malformed_and_not_added(admin, admin_app):
    resp = admin.post("/admin/keys/add", {"add-text": "AQ.Ab8RN6Lm", "add-pool": _default_pool(admin_app)})
    assert resp.status_code == 400
    assert "No gemini key found in the text (1 malformed)." in resp.get_data(as_text=True)
    assert _stored(admin_app) == []


def test_a_text_file_of_auth_keys_is_imported(admin, admin_app):
    content = f"# keys from AI Studio\nGEMINI_API_KEYS={AQ[0]},{AQ[1]}\n{AQ[2]}\n{AQ[0]}\n"
    resp = _upload(admin, admin_app, content, "keys.env")
    assert resp.status_code == 302
    page = admin.text("/admin/keys")
    assert "3 added, 1 already present, 0 malformed" in page
    assert _stored(admin_app) == AQ
    assert all(key not in page for key in AQ)


def test_our_json_export_of_auth_keys_round_trips(admin, admin_app):
    admin.post("/admin/keys/add", {"add-text": "\n".join(AQ[:2]), "add-pool": _default_pool(admin_app)})
    masked = admin.get("/admin/keys/export").get_data(as_text=True)
    assert all(key not in masked for key in AQ)
    assert [k["key"] for k in json.loads(masked)["keys"]] == [_masked(k) for k in AQ[:2]]
    doc = json.loads(admin.post("/admin/keys/export", {}).get_data(as_text=True))
    assert [k["key"] for k in doc["keys"]] == AQ[:2]
    rt = admin_app.extensions["balancer"]
    with admin_app.app_context():
        for key_id in list(db.session.scalars(sa.select(ApiKey.id))):
            key_service.delete(rt, key_id)
    doc["keys"][1]["label"] = "restored"
    resp = _upload(admin, admin_app, json.dumps(doc), "balancer-keys.json")
    assert resp.status_code == 302
    page = admin.text("/admin/keys")
    assert "2 added, 0 already present, 0 malformed" in page and "restored" in page
    assert _stored(admin_app) == AQ[:2]
    # A masked export holds no key: nothing to import, and the page says so.
    resp = _upload(admin, admin_app, masked, "masked.json")
    assert resp.status_code == 400 and "No key found in the file" in resp.get_data(as_text=True)


def test_an_openai_pool_takes_every_providers_keys(admin, admin_app, rt, upstream):
    with admin_app.app_context():
        pool_id = pool_service.create_pool(rt, "mixed", "openai", f"{upstream.url}/openai/v1").id
    kinds = ("openai", "project", "openrouter", "anthropic", "xai", "groq", "cerebras",
             "mistral", "together")
    made = [make_key("mix", 0, kind=kind) for kind in kinds]
    text = "\n".join(made) + "\nhello https://api.mistral.ai/v1 sk-short\n"
    resp = admin.post("/admin/keys/add", {"add-text": text, "add-pool": pool_id})
    assert resp.status_code == 302
    page = admin.text("/admin/keys")
    assert "9 added, 0 already present, 3 malformed" in page
    assert _stored(admin_app) == made
    for key in made:
        assert key not in page and _masked(key) in page


def test_an_auth_key_on_an_openai_pool_comes_with_a_caution(admin, admin_app, rt, upstream):
    with admin_app.app_context():
        pool_id = pool_service.create_pool(rt, "compat", "openai", f"{upstream.url}/v1beta/openai").id
    resp = admin.post("/admin/keys/add", {"add-text": AQ[0], "add-pool": pool_id})
    assert resp.status_code == 302
    page = admin.text("/admin/keys")
    assert "1 added, 0 already present, 0 malformed; Google" in page
    assert "refuse auth keys (AQ.…); a gemini pool takes them" in page
