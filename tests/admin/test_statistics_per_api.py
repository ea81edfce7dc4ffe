"""Requests per API dialect: each route's traffic counts under its dialect, in every range.

Requests go through the real routes (OpenAI chat, Gemini, Anthropic Messages,
OpenAI Responses) against the fake upstream and are flushed as in production;
the numbers are then read back from the stats JSON the Statistics page reads,
over a minute-bucket range and over ranges read from the hour and day rollups.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import RequestLog, UsageDay, UsageHour
from balancer.models.types import utcnow
from balancer.telemetry.flusher import write_records
from balancer.telemetry.record import RequestRecord
from tests.conftest import TOKEN

MODEL = "gemini-2.5-flash"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def traffic(admin_app, rt, keys):
    """Two OpenAI chat requests (one refused), one Gemini, one Messages, one Responses."""
    keys(2, tag="perapi")
    proxy = admin_app.test_client()
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    assert proxy.post("/v1/chat/completions", headers=BEARER, json=chat).status_code == 200
    # No messages: refused with a 400 before any key is picked, and counted as such.
    assert proxy.post("/v1/chat/completions", headers=BEARER,
                      json={"model": MODEL}).status_code == 400
    assert proxy.post(f"/v1beta/models/{MODEL}:generateContent",
                      headers={"x-goog-api-key": TOKEN},
                      json={"contents": [{"parts": [{"text": "hi"}]}]}).status_code == 200
    assert proxy.post("/v1/messages", headers={"x-api-key": TOKEN,
                                               "anthropic-version": "2023-06-01"},
                      json={"model": MODEL, "max_tokens": 64,
                            "messages": [{"role": "user", "content": "hi"}]}).status_code == 200
    assert proxy.post("/v1/responses", headers=BEARER,
                      json={"model": MODEL, "input": "hi"}).status_code == 200
    rt.services.flush()
    assert rt.services.last_flush_error is None, rt.services.last_flush_error
    with admin_app.app_context():
        logged = {fmt: n for fmt, n in db.session.execute(
            sa.select(RequestLog.api_format, sa.func.count()).group_by(RequestLog.api_format))}
    assert logged == {"openai": 2, "gemini": 1, "anthropic": 1, "responses": 1}


def by_api(admin, **args) -> dict:
    resp = admin.get("/admin/stats/breakdown/api", query_string=args)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data = resp.get_json()
    return {row["value"]: row for row in data["rows"]} | {"_total": data["total"]}


@pytest.mark.parametrize("args, granularity", [
    ({"range": "1h"}, "minute"),     # the minute buckets
    ({"range": "24h"}, "hour"),      # the hour rollups
    ({"range": "7d"}, "hour"),       # whole days from the day rollups, the edges from hours
    ({"range": "30d"}, "day"),       # the day rollups
])
def test_each_dialect_has_its_row_in_short_and_long_ranges(admin, traffic, args, granularity):
    rows = by_api(admin, **args)
    assert admin.get("/admin/stats/requests", query_string=args).get_json()["granularity"] \
        == granularity
    assert {v: rows[v]["requests"] for v in ("openai", "gemini", "anthropic", "responses")} \
        == {"openai": 2, "gemini": 1, "anthropic": 1, "responses": 1}
    assert {v: rows[v]["name"] for v in ("openai", "gemini", "anthropic", "responses")} == {
        "openai": "OpenAI chat", "gemini": "Gemini", "anthropic": "Anthropic Messages",
        "responses": "OpenAI Responses"}
    openai = rows["openai"]
    assert openai["errors"] == 1 and openai["error_rate"] == 0.5
    assert rows["gemini"]["errors"] == 0 and rows["gemini"]["tokens_in"] > 0
    for v in ("gemini", "anthropic", "responses"):
        assert rows[v]["tokens_out"] > 0 and rows[v]["latency_avg_ms"] is not None
        assert rows[v]["latency_p95_ms"] is not None
    assert rows["_total"]["requests"] == 5
    # The table adds up to the whole traffic of the range, as every breakdown does.
    assert sum(rows[v]["requests"] for v in rows if v != "_total") == 5


def test_a_custom_range_and_the_api_filter(admin, admin_app, traffic):
    with admin_app.app_context():
        day = db.session.scalar(sa.select(sa.func.max(UsageDay.start)))
    custom = {"from": day.isoformat(), "to": (day.replace(hour=23, minute=59)).isoformat()}
    assert by_api(admin, **custom)["anthropic"]["requests"] == 1
    for args in ({"range": "1h"}, {"range": "30d"}):
        only = admin.get("/admin/stats/requests", query_string={**args, "api": "responses"})
        assert only.get_json()["totals"]["requests"] == 1
        rows = by_api(admin, **args, api="gemini")
        assert set(rows) == {"gemini", "_total"} and rows["gemini"]["requests"] == 1


def test_the_rollups_keep_one_row_per_dialect(admin_app, traffic):
    with admin_app.app_context():
        for model in (UsageHour, UsageDay):
            t = model.__table__
            got = dict(db.session.execute(
                sa.select(t.c.subject, sa.func.sum(t.c.count))
                .where(t.c.dimension == "api").group_by(t.c.subject)).all())
            assert got == {"openai": 2, "gemini": 1, "anthropic": 1, "responses": 1}


def test_the_page_has_the_by_api_table_and_filter(admin, traffic):
    html = admin.text("/admin/statistics")
    assert 'id="breakdown-api" data-dimension="api"' in html and ">By API<" in html
    assert '<optgroup label="APIs">' in html
    assert '<option value="api:anthropic">Anthropic Messages</option>' in html


def test_traffic_counted_without_a_dialect_shows_as_unknown(admin, admin_app):
    with admin_app.app_context():
        write_records(db.session, [RequestRecord(
            at=utcnow().timestamp(), api_format="", route="chat.completions", model=MODEL,
            status=200, attempts=1, latency_ms=100, tokens_in=1, tokens_out=2)], True)
        db.session.commit()
    for args in ({"range": "1h"}, {"range": "30d"}):
        assert by_api(admin, **args)[""]["name"] == "unknown (counted before per-API statistics)"
