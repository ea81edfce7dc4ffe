"""The dashboard and its live JSON: key states, traffic, errors, latency, attention."""
from __future__ import annotations

import re

from balancer.services.statistics.queries import percentile
from tests.conftest import TOKEN
from tests.fake_upstream import make_key

CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hello there"}]}


def _traffic(admin_app, n: int, model: str = "gemini-2.5-flash") -> list[int]:
    proxy = admin_app.test_client()
    return [proxy.post("/v1/chat/completions", json={**CHAT, "model": model},
                       headers={"Authorization": f"Bearer {TOKEN}"}).status_code for _ in range(n)]


def test_summary_counts_keys_traffic_and_errors(admin, admin_app, rt, keys):
    keys(3, tag="dash", modes={make_key("dash", 2): "invalid"})
    assert _traffic(admin_app, 6) == [200] * 6
    # A request the upstream refuses (unknown model): a client error, relayed.
    statuses = _traffic(admin_app, 1, model="no-such-model")
    rt.services.flush()
    data = admin.get("/admin/stats/summary").get_json()
    assert data["keys"]["total"] == 3 and data["keys"]["disabled"] == 1 and data["keys"]["active"] == 2
    assert data["hour"]["requests"] == 7 == data["day"]["requests"]
    errors = 0 if statuses == [200] else 1
    assert data["hour"]["errors"] == errors
    assert data["tokens_today"] > 0
    assert data["latency"]["p50_ms"] is not None and data["latency"]["p95_ms"] >= data["latency"]["p50_ms"]
    assert sum(data["per_minute"]["success"]) + sum(data["per_minute"]["errors"]) == 7
    assert len(data["per_minute"]["labels"]) == 60
    [dead] = [a for a in data["attention"] if a["problem"] == "dead"]
    assert dead["key"] == f"{make_key('dash', 2)[:4]}…{make_key('dash', 2)[-3:]}"
    assert "API_KEY_INVALID" in dead["detail"]
    body = admin.get("/admin/stats/summary").get_data(as_text=True)
    for i in range(3):
        assert make_key("dash", i) not in body


def test_the_page_shows_the_numbers_without_javascript(admin, admin_app, rt, keys):
    keys(2, tag="dpage", modes={make_key("dpage", 1): "invalid"})
    _traffic(admin_app, 4)
    rt.services.flush()
    html = admin.text("/admin/")
    assert re.search(r'data-stat="keys.disabled">1<', html)
    assert re.search(r'data-stat="hour.requests">4<', html)
    assert "dead" in html and "API_KEY_INVALID" in html
    assert 'id="requests-chart"' in html and "dashboard.js" in html


def test_latest_errors_list_failed_requests(admin, admin_app, rt, keys):
    keys(1, tag="derr", modes={make_key("derr", 0): "internal"})
    statuses = _traffic(admin_app, 1)
    assert statuses[0] >= 500
    rt.services.flush()
    data = admin.get("/admin/stats/summary").get_json()
    assert data["hour"]["errors"] == 1 and data["hour"]["error_rate"] == 1.0
    [error] = data["latest_errors"]
    assert error["status"] == statuses[0] and error["model"] == "gemini-2.5-flash"
    html = admin.text("/admin/")
    assert "upstream_error" in html or error["error_class"] in html
    assert any(a["problem"] in ("failing", "ejected") for a in data["attention"])


def test_an_empty_dashboard(admin):
    data = admin.get("/admin/stats/summary").get_json()
    assert data["hour"] == {"requests": 0, "errors": 0, "error_rate": 0.0, "by_class": {},
                            "tokens_in": 0, "tokens_out": 0, "latency_avg_ms": None}
    assert data["latency"]["p50_ms"] is None and data["latest_errors"] == [] and data["attention"] == []
    html = admin.text("/admin/")
    assert "None: every key is healthy." in html and "No error in the last 24 hours." in html


def test_percentile():
    assert percentile([], 0.5) is None
    assert percentile([7], 0.95) == 7
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50 and percentile(values, 0.95) == 95
