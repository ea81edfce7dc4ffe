"""No admin page, JSON answer or export shows an upstream key, even after errors that echo it."""
from __future__ import annotations

from tests.conftest import TOKEN
from tests.fake_upstream import make_key

PAGES = ("/admin/", "/admin/keys", "/admin/keys?status=disabled", "/admin/pools", "/admin/tokens",
         "/admin/settings", "/admin/stats/summary", "/admin/keys/export")


def test_keys_never_appear_unmasked(admin, admin_app, rt, keys, upstream):
    made = keys(4, tag="leak", modes={make_key("leak", 0): "suspended", make_key("leak", 1): "invalid",
                                      make_key("leak", 2): "internal"})
    proxy = admin_app.test_client()
    for i in range(8):
        proxy.post("/v1/chat/completions", headers={"Authorization": f"Bearer {TOKEN}"},
                   json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": str(i)}]})
    rt.services.flush()
    seen = [admin.post("/admin/keys/action", {"action": "test", "ids": [str(i) for i in range(1, 100)]})
            .get_data(as_text=True)]
    ids = [r["id"] for r in admin.get("/admin/keys/export").get_json()["keys"]]
    seen.append(admin.post_json("/admin/keys/action", {"action": "test", "ids": ids}).get_data(as_text=True))
    for key_id in ids:
        seen.append(admin.text(f"/admin/keys/{key_id}/edit"))
    seen += [admin.get(url).get_data(as_text=True) for url in PAGES]
    assert any("CONSUMER_SUSPENDED" in text or "suspended" in text.lower() for text in seen)
    for key in made:
        for text in seen:
            assert key not in text
            assert key[:-3] not in text  # not even most of it
