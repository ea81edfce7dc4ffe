"""A load run through a live Balancer: every statistics endpoint adds up to the request log.

Balancer (gunicorn, two gevent workers) takes a load run of plain and streamed OpenAI
and Gemini requests from two client tokens and the environment's token, on two
models and four keys; then every key rate-limits (clients get 429s), then every
key fails with 500s (clients get 5xx, then 503s once the keys are ejected), and
some requests name a model the upstream refuses (400s). After a graceful stop
(everything flushed), the requests, tokens, latency and per key, model, client,
pool and API answers at minute, hour and day granularity are compared with
``SELECT count/sum ... FROM request_logs`` over the same window.
"""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import RequestLog
from balancer.models.rollup import BOUNDS_MS, bin_of
from balancer.models.types import utcnow
from balancer.services import client_tokens
from balancer.telemetry.record import CLIENT_ERROR, SUCCESS
from tests.admin.conftest import PASSWORD, AdminClient
from tests.conftest import TOKEN
from tests.fake_upstream import make_key
from tests.load import run_load

pytestmark = pytest.mark.e2e

KINDS = ["chat", "chat_stream", "native", "native_stream"]


def _chat(base: str, token: str, model: str, stream: bool = False) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "statistics"}], "stream": stream}
    with requests.post(f"{base}/v1/chat/completions", json=body, stream=stream, timeout=30,
                       headers={"Authorization": f"Bearer {token}"}) as resp:
        _ = resp.content
        return resp.status_code


def _outcome_class():
    """The status class of a request-log row, in SQL, as the usage buckets count it."""
    return sa.case((RequestLog.error_class.is_not(None), RequestLog.error_class),
                   ((RequestLog.status >= 200) & (RequestLog.status < 400), SUCCESS),
                   else_=CLIENT_ERROR)


def _expected(window: dict, column, extra=()):
    """{group: (requests, errors, tokens in, tokens out, latency sum)} from the request log."""
    start, end = window["from"].replace("Z", "+00:00"), window["to"].replace("Z", "+00:00")
    from datetime import datetime
    errors = sa.func.sum(sa.case((_outcome_class().in_((SUCCESS, "client_gone")), 0), else_=1))
    rows = db.session.execute(
        sa.select(column, sa.func.count(), errors, sa.func.sum(RequestLog.tokens_in),
                  sa.func.sum(RequestLog.tokens_out), sa.func.sum(RequestLog.latency_ms))
        .where(RequestLog.created_at >= datetime.fromisoformat(start),
               RequestLog.created_at < datetime.fromisoformat(end), *extra)
        .group_by(column))
    return {g: tuple(int(v or 0) for v in rest) for g, *rest in rows}


def test_statistics_add_up_to_the_request_log_after_a_load_run(start, make_app, upstream, database_url):
    setup = make_app(ADMIN_PASSWORD=PASSWORD)
    rt = setup.extensions["balancer"]
    with setup.app_context():
        (alpha, alpha_secret), (beta, beta_secret) = (client_tokens.create_token(rt, n) for n in ("alpha", "beta"))
        alpha_id, beta_id = alpha.id, beta.id
    keys = [make_key("statload", i) for i in range(4)]
    began = utcnow()
    live = start(keys, ADMIN_PASSWORD=PASSWORD)
    # Successes, plain and streamed, both API formats, two tokens and two models.
    for token in (alpha_secret, beta_secret):
        out = run_load({"base": live.url, "token": token, "total": 120, "concurrency": 12,
                        "kinds": KINDS}, timeout=120)
        assert all(r["status"] == 200 for r in out["results"]), out["results"][:3]
    assert {_chat(live.url, TOKEN, "gemini-2.5-pro", stream=s) for s in (False, True)} == {200}
    # Client errors: a malformed model name is refused with a 400.
    assert {_chat(live.url, alpha_secret, "bad model") for _ in range(3)} == {400}
    # Every key rate-limited: clients get 429s.
    for key in keys:
        upstream.set_key(key, "rate_minute", retry_delay="1s", times=2)
    statuses = [_chat(live.url, beta_secret, "gemini-2.5-flash", stream=i % 2 == 1) for i in range(6)]
    assert 429 in statuses
    time.sleep(2.5)  # the cooldowns end
    # Every key failing: 5xx after the retries, then 503s once the keys are ejected.
    for key in keys:
        upstream.set_key(key, "internal")
    statuses = [_chat(live.url, TOKEN, "gemini-2.5-flash") for _ in range(6)]
    assert all(s >= 500 for s in statuses)
    assert live.stop() == 0  # a graceful stop flushes every record
    ended = utcnow()

    admin = AdminClient(setup.test_client())
    window = {"from": (began - timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
              "to": (ended + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")}
    with setup.app_context():
        classes = _classes(None, None)
        assert {"success", "client_error", "rate_limited", "upstream_error"} <= set(classes), classes
        assert sum(classes.values()) == 120 * 2 + 2 + 3 + 6 + 6
        for granularity in ("minute", "hour", "day"):
            q = {**window, "granularity": granularity}
            data = admin.get("/admin/stats/requests", query_string=q).get_json()
            assert data["granularity"] == granularity
            by_class = _classes(_at(data["from"]), _at(data["to"]))
            got = {o: sum(v) for o, v in data["series"].items() if sum(v)}
            assert got == by_class, (granularity, got, by_class)
            # Point by point: each bucket holds the requests of its own minute, hour or day.
            step = {"minute": 60, "hour": 3600, "day": 86400}[granularity]
            per_point: dict[str, int] = {}
            for (created,) in db.session.execute(sa.select(RequestLog.created_at)):
                ts = created.timestamp()
                label = _iso(ts - ts % step)
                per_point[label] = per_point.get(label, 0) + 1
            totals = [sum(v[i] for v in data["series"].values()) for i in range(len(data["labels"]))]
            assert {label: n for label, n in zip(data["labels"], totals) if n} == per_point

            [everything] = _expected(data, sa.literal("all")).values()
            tokens = admin.get("/admin/stats/tokens", query_string=q).get_json()
            assert (sum(tokens["tokens_in"]), sum(tokens["tokens_out"])) == everything[2:4]
            assert everything[2] > 0 and everything[3] > 0
            latency = admin.get("/admin/stats/latency", query_string=q).get_json()["totals"]
            assert latency["latency_ms_sum"] == everything[4] and latency["requests"] == everything[0]
            exact = sorted(db.session.scalars(sa.select(RequestLog.latency_ms)))
            true_p50 = exact[(len(exact) + 1) // 2 - 1]
            low = BOUNDS_MS[bin_of(true_p50) - 1] if bin_of(true_p50) else 0
            assert low <= latency["latency_p50_ms"] <= BOUNDS_MS[min(bin_of(true_p50), len(BOUNDS_MS) - 1)]
            ttfb = [v for v in db.session.scalars(sa.select(RequestLog.ttfb_ms)) if v is not None]
            assert latency["ttfb_avg_ms"] == round(sum(ttfb) / len(ttfb))

            for dimension, column in (("key", RequestLog.key_id), ("model", RequestLog.model),
                                      ("client", RequestLog.client_id), ("pool", RequestLog.pool_id),
                                      ("api", RequestLog.api_format)):
                table = admin.get(f"/admin/stats/breakdown/{dimension}", query_string=q).get_json()
                assert table["others"] is None
                got = {r["value"]: (r["requests"], r["errors"], r["tokens_in"], r["tokens_out"],
                                    r["latency_avg_ms"]) for r in table["rows"]}
                want = {("" if g is None else str(g)) if dimension in ("model", "api")
                        else str(g or 0):
                        (n, e, tin, tout, round(lat / n)) for g, (n, e, tin, tout, lat)
                        in _expected(data, column).items()}
                assert got == want, (granularity, dimension, got, want)
                if dimension == "client":
                    assert {str(alpha_id), str(beta_id), "0"} <= set(got)
                if dimension == "api":
                    assert {"openai", "gemini"} <= set(got)
                if dimension == "key":
                    assert len([k for k in got if k != "0"]) == 4
                    names = " ".join(r["name"] for r in table["rows"])
                    assert all(k not in names for k in keys)


def _classes(start, end) -> dict[str, int]:
    """Requests per status class in the request log (between two times, when given)."""
    query = sa.select(_outcome_class())
    if start is not None:
        query = query.where(RequestLog.created_at >= start, RequestLog.created_at < end)
    out: dict[str, int] = {}
    for (cls,) in db.session.execute(query):
        out[cls] = out.get(cls, 0) + 1
    return out


def _at(iso: str):
    from datetime import datetime
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _iso(ts: float) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")
