"""The statistics page: in the menu, labelled controls, the endpoints it reads, no key in it."""
from __future__ import annotations

import re

from tests.conftest import TOKEN
from tests.fake_upstream import make_key


def test_the_page_is_in_the_menu_with_its_controls_and_endpoints(admin):
    html = admin.text("/admin/statistics")
    assert re.search(r'href="/admin/statistics"[^>]*>.*Statistics', html)
    for control in ("stats-range", "stats-from", "stats-to", "stats-granularity", "stats-filter"):
        assert f'for="{control}"' in html and f'id="{control}"' in html
    for preset in ("1h", "6h", "24h", "7d", "30d", "custom"):
        assert f'value="{preset}"' in html
    for canvas in ("chart-requests", "chart-tokens", "chart-latency"):
        assert f'<canvas id="{canvas}"' in html
    for dimension in ("key", "model", "client", "pool"):
        assert f'id="breakdown-{dimension}"' in html
    assert 'data-requests-url="/admin/stats/requests"' in html
    assert 'data-breakdown-url="/admin/stats/breakdown/DIMENSION"' in html
    assert "statistics.js" in html and "chart.umd.min.js" in html and "<script>" not in html


def test_the_filter_offers_pools_masked_keys_clients_and_models_seen(admin, admin_app, rt, keys):
    made = keys(2, tag="spage")
    proxy = admin_app.test_client()
    assert proxy.post("/v1/chat/completions", headers={"Authorization": f"Bearer {TOKEN}"},
                      json={"model": "gemini-2.5-flash",
                            "messages": [{"role": "user", "content": "hi"}]}).status_code == 200
    rt.services.flush()
    html = admin.text("/admin/statistics")
    assert f"{made[0][:4]}…{made[0][-3:]}" in html and 'value="model:gemini-2.5-flash"' in html
    assert re.search(r'<optgroup label="Pools">', html)
    for key in made + [make_key("spage", 1)]:
        assert key not in html


def test_the_page_needs_a_signed_in_admin(anon):
    resp = anon.get("/admin/statistics")
    assert resp.status_code == 302 and "/admin/login" in resp.headers["Location"]
