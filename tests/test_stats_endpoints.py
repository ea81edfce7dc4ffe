"""The statistics endpoints: series by outcome, tokens, latency, breakdowns, bad input, no data.

Traffic is written the way the flusher writes it (``write_records``), at chosen
times, so that the minute, hour and day answers can be checked point by point.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ApiKey, Pool, UsageDay, UsageHour
from balancer.models.types import utcnow
from balancer.telemetry.flusher import write_records
from balancer.telemetry.record import RequestRecord
from tests.admin.conftest import PASSWORD, AdminClient
from tests.fake_upstream import make_key


@pytest.fixture
def app(make_app):
    app = make_app(ADMIN_PASSWORD=PASSWORD)
    app.extensions["balancer"].services.bootstrap()
    return app


@pytest.fixture
def admin(app):
    return AdminClient(app.test_client())


def record(at: datetime, **kw) -> RequestRecord:
    base = dict(at=at.timestamp(), api_format="openai", route="chat.completions",
                model="gemini-2.5-flash", status=200, attempts=1, latency_ms=300, tokens_in=10,
                tokens_out=20)
    base.update(kw)
    return RequestRecord(**base)


def write(app, records) -> None:
    with app.app_context():
        write_records(db.session, records, True)
        db.session.commit()


def key_ids(app) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(sa.select(ApiKey.id).order_by(ApiKey.id)))


def pool_id(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Pool.id))


DAY = datetime(2026, 2, 3, tzinfo=timezone.utc)
CUSTOM = {"from": "2026-02-03T00:00:00Z", "to": "2026-02-04T00:00:00Z"}


@pytest.fixture
def history(app, keys):
    """Twelve requests on 3 Feb 2026 at 10:05, 10:40 and 13:20 UTC, on two keys and two models."""
    keys(2, tag="hist")
    k1, k2 = key_ids(app)
    pid = pool_id(app)
    at1, at2, at3 = DAY + timedelta(hours=10, minutes=5), DAY + timedelta(hours=10, minutes=40), \
        DAY + timedelta(hours=13, minutes=20)
    recs = [record(at1, key_id=k1, pool_id=pid, latency_ms=120, ttfb_ms=40, stream=True),
            record(at1, key_id=k1, pool_id=pid, latency_ms=180),
            record(at1, key_id=k2, pool_id=pid, status=429, error_class="rate_limited",
                   tokens_in=0, tokens_out=0, latency_ms=900),
            record(at2, key_id=k2, pool_id=pid, model="gemini-2.5-pro", latency_ms=2200,
                   tokens_in=100, tokens_out=300),
            record(at2, key_id=k2, pool_id=pid, status=400, model="gemini-2.5-pro",
                   tokens_in=0, tokens_out=0, latency_ms=50),
            record(at3, key_id=k1, pool_id=pid, status=502, error_class="upstream_error",
                   tokens_in=0, tokens_out=0, latency_ms=5000, client_id=7),
            record(at3, status=503, error_class="no_key", tokens_in=0, tokens_out=0,
                   latency_ms=2, model=None)]
    recs += [record(at3, key_id=k1, pool_id=pid, latency_ms=250, client_id=7) for _ in range(5)]
    write(app, recs[:4])
    write(app, recs[4:])  # two flushes add up in the same buckets and rollups
    return k1, k2


@pytest.mark.parametrize("granularity, points", [("minute", 1440), ("hour", 24), ("day", 1)])
def test_requests_by_outcome_at_each_granularity(admin, history, granularity, points):
    data = admin.get("/admin/stats/requests", query_string={**CUSTOM, "granularity": granularity}).get_json()
    assert data["granularity"] == granularity and len(data["labels"]) == points
    assert data["from"] == "2026-02-03T00:00:00Z" and data["to"] == "2026-02-04T00:00:00Z"
    s = data["series"]
    assert sum(s["success"]) == 8 and sum(s["client_error"]) == 1 and sum(s["rate_limited"]) == 1
    assert sum(s["upstream_error"]) == 1 and sum(s["no_key"]) == 1 and sum(data["other"]) == 0
    assert data["totals"]["requests"] == 12 and data["totals"]["errors"] == 4
    if granularity == "hour":
        by_hour = {label[11:13]: sum(s[o][i] for o in s) for i, label in enumerate(data["labels"])}
        assert by_hour["10"] == 5 and by_hour["13"] == 7 and by_hour["11"] == 0
    if granularity == "minute":
        i = data["labels"].index("2026-02-03T10:05:00Z")
        assert (s["success"][i], s["rate_limited"][i]) == (2, 1)


def test_tokens_and_latency_series(admin, history):
    tokens = admin.get("/admin/stats/tokens", query_string={**CUSTOM, "granularity": "hour"}).get_json()
    assert sum(tokens["tokens_in"]) == 10 * 2 + 100 + 10 * 5 and sum(tokens["tokens_out"]) == 20 * 2 + 300 + 20 * 5
    lat = admin.get("/admin/stats/latency", query_string={**CUSTOM, "granularity": "hour"}).get_json()
    i = lat["labels"].index("2026-02-03T10:00:00Z")
    # 10:xx holds 120, 180, 900, 2200 and 50 ms: the median lies in the 100-200 ms bin.
    assert 100 <= lat["latency_p50_ms"][i] <= 200 and lat["latency_p95_ms"][i] >= 1500
    assert lat["latency_avg_ms"][i] == round((120 + 180 + 900 + 2200 + 50) / 5)
    assert lat["ttfb_p50_ms"][i] == pytest.approx(25, abs=25) and lat["latency_p50_ms"][0] is None
    assert lat["totals"]["ttfb_avg_ms"] == 40


def test_breakdowns_per_key_model_client_and_pool(admin, app, history):
    k1, k2 = history
    q = {**CUSTOM, "granularity": "hour"}
    keys = admin.get("/admin/stats/breakdown/key", query_string=q).get_json()
    rows = {r["value"]: r for r in keys["rows"]}
    assert rows[str(k1)]["requests"] == 8 and rows[str(k1)]["errors"] == 1
    assert rows[str(k2)]["requests"] == 3 and rows[str(k2)]["errors"] == 2
    assert rows["0"]["requests"] == 1 and rows["0"]["name"].startswith("no key")
    assert rows[str(k1)]["name"] == f"{make_key('hist', 0)[:4]}…{make_key('hist', 0)[-3:]}"
    assert keys["total"]["requests"] == 12 and keys["others"] is None
    models = {r["value"]: r["requests"] for r in
              admin.get("/admin/stats/breakdown/model", query_string=q).get_json()["rows"]}
    assert models == {"gemini-2.5-flash": 9, "gemini-2.5-pro": 2, "": 1}
    clients = {r["value"]: r["requests"] for r in
               admin.get("/admin/stats/breakdown/client", query_string=q).get_json()["rows"]}
    assert clients == {"0": 6, "7": 6}
    pools = admin.get("/admin/stats/breakdown/pool", query_string=q).get_json()["rows"]
    assert {r["value"]: r["requests"] for r in pools} == {str(pool_id(app)): 11, "0": 1}
    top = admin.get("/admin/stats/breakdown/key", query_string={**q, "limit": "1"}).get_json()
    assert [r["value"] for r in top["rows"]] == [str(k1)]
    assert top["others"]["requests"] == 4 and top["others_count"] == 2


def test_a_filter_narrows_series_and_breakdowns(admin, history):
    k1, _ = history
    data = admin.get("/admin/stats/requests", query_string={**CUSTOM, "granularity": "day",
                                                              "key": str(k1)}).get_json()
    assert data["totals"]["requests"] == 8 and data["filter"] == {"dimension": "key", "value": str(k1)}
    # Another dimension's breakdown under a filter comes from the minute buckets (a day at most).
    models = admin.get("/admin/stats/breakdown/model", query_string={**CUSTOM, "key": str(k1)}).get_json()
    assert {r["value"]: r["requests"] for r in models["rows"]} == {"gemini-2.5-flash": 8}
    long = admin.get("/admin/stats/breakdown/model", query_string={"range": "30d", "key": str(k1)})
    assert long.status_code == 400 and "24 hours at most" in long.get_json()["error"]["message"]


def test_a_breakdown_by_hour_reads_whole_days_from_the_day_rollups(admin, app, history):
    # Make the day rows disagree with the hour rows: only a read of the day rows sees it.
    with app.app_context():
        db.session.execute(sa.update(UsageDay).where(UsageDay.__table__.c.dimension == "model")
                           .values(count=UsageDay.__table__.c.count + 1000))
        db.session.commit()
    q = {"from": "2026-02-02T20:00:00Z", "to": "2026-02-05T03:00:00Z", "granularity": "hour"}
    rows = admin.get("/admin/stats/breakdown/model", query_string=q).get_json()["rows"]
    assert {r["value"]: r["requests"] for r in rows}["gemini-2.5-flash"] == 1009
    edge = {"from": "2026-02-03T09:00:00Z", "to": "2026-02-03T12:00:00Z", "granularity": "hour"}
    rows = admin.get("/admin/stats/breakdown/model", query_string=edge).get_json()["rows"]
    assert {r["value"]: r["requests"] for r in rows} == {"gemini-2.5-flash": 3, "gemini-2.5-pro": 2}


@pytest.mark.parametrize("url", ["/admin/stats/requests", "/admin/stats/tokens",
                                 "/admin/stats/latency", "/admin/stats/breakdown/key"])
@pytest.mark.parametrize("args, words", [
    ({"range": "forever"}, "range: expected one of"),
    ({"from": "2026-02-03", "to": "soon"}, "to: expected an ISO 8601"),
    ({"range": "30d", "granularity": "minute"}, "coarser granularity"),
    ({"pool": "-1"}, "pool: expected an id"),
])
def test_bad_input_gets_a_400_in_json_that_says_why(admin, url, args, words):
    resp = admin.get(url, query_string=args)
    assert resp.status_code == 400 and resp.is_json
    assert words in resp.get_json()["error"]["message"]


def test_unknown_breakdowns_and_limits_are_refused(admin):
    resp = admin.get("/admin/stats/breakdown/colour")
    assert resp.status_code == 400 and "breakdown: expected one of" in resp.get_json()["error"]["message"]
    assert admin.get("/admin/stats/breakdown/key?limit=0").status_code == 400
    assert admin.get("/admin/stats/breakdown/key?limit=ten").status_code == 400


@pytest.mark.parametrize("name", ["1h", "6h", "24h", "7d", "30d"])
def test_no_traffic_gives_zeros_and_empty_tables(admin, name):
    data = admin.get(f"/admin/stats/requests?range={name}").get_json()
    assert data["totals"]["requests"] == 0 and all(v == 0 for v in data["series"]["success"])
    assert len(data["labels"]) > 1
    lat = admin.get(f"/admin/stats/latency?range={name}").get_json()
    assert set(lat["latency_p95_ms"]) == {None} and lat["totals"]["latency_p50_ms"] is None
    table = admin.get(f"/admin/stats/breakdown/client?range={name}").get_json()
    assert table["rows"] == [] and table["total"]["requests"] == 0


def test_recent_traffic_shows_in_the_moving_ranges(admin, app, keys):
    keys(1, tag="now")
    [kid] = key_ids(app)
    write(app, [record(utcnow() - timedelta(minutes=2), key_id=kid) for _ in range(3)])
    for name in ("1h", "6h", "24h", "7d", "30d"):
        data = admin.get(f"/admin/stats/requests?range={name}").get_json()
        assert data["totals"]["requests"] == 3, name


def test_the_endpoints_need_a_signed_in_admin(app):
    resp = app.test_client().get("/admin/stats/requests", headers={"Accept": "application/json"})
    assert resp.status_code in (302, 401)


def test_rollups_hold_one_row_per_period_and_subject(app, history):
    with app.app_context():
        t = UsageHour.__table__
        rows = db.session.execute(sa.select(t.c.start, t.c.count).where(
            t.c.dimension == "all")).all()
        assert sorted((r.start.hour, r.count) for r in rows) == [(10, 5), (13, 7)]
