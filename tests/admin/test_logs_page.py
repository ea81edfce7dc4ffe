"""The logs pages: the request log (filters, search, keyset pages, one request's error),
key events, the audit trail, the manual clean-up and request logging switched off."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest
import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import ApiKey, AuditEvent, KeyEvent, Pool, RequestLog
from balancer.services import client_tokens as token_service
from balancer.services import request_log
from balancer.services import settings as settings_service
from tests.conftest import TOKEN

CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hello there"}]}
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
_ROW_ID = re.compile(r'data-log-id="(\d+)"')


def _chat(admin_app, model: str = "gemini-2.5-flash"):
    return admin_app.test_client().post("/v1/chat/completions", json={**CHAT, "model": model},
                                        headers={"Authorization": f"Bearer {TOKEN}"})


def _insert(app, rows: list[dict]) -> list[int]:
    """Request-log rows as the flusher writes them (defaults for what a row leaves out)."""
    base = {"created_at": T0, "api_format": "openai", "route": "chat.completions",
            "stream": False, "status": 200, "attempts": 1, "latency_ms": 10, "tokens_in": 1,
            "tokens_out": 1}
    with app.app_context():
        made = [RequestLog(**{**base, **row}) for row in rows]
        db.session.add_all(made)
        db.session.commit()
        return [r.id for r in made]


def _ids(html: str) -> list[int]:
    return [int(i) for i in _ROW_ID.findall(html)]


def _link(html: str, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', html)
    return unescape(found.group(1)) if found else None


# --- the check: a failed request found by its error text ---------------------------


def test_a_failed_request_is_found_by_its_error_text_and_shows_no_key(admin, admin_app, rt,
                                                                      keys, upstream):
    made = keys(2, tag="logsrch")
    assert [_chat(admin_app).status_code for _ in range(4)] == [200] * 4
    # Every key is now suspended; Google's answer echoes the key itself.
    for key in made:
        upstream.set_key(key, "suspended")
    failed = _chat(admin_app)
    assert failed.status_code >= 400
    rt.services.flush()

    html = admin.text("/admin/logs?q=SUSPENDED")
    [log_id] = _ids(html)
    with admin_app.app_context():
        row = db.session.get(RequestLog, log_id)
        assert row.status == failed.status_code and "suspended" in row.error_message
        ok_ids = list(db.session.scalars(sa.select(RequestLog.id).where(RequestLog.status == 200)))
    assert len(ok_ids) == 4 and not set(ok_ids) & set(_ids(html))
    assert "newest 50,000 requests" in html  # a search without a start time says its bound
    everything = admin.text("/admin/logs")
    assert set(_ids(everything)) == {log_id, *ok_ids}

    detail = admin.text(f"/admin/logs/requests/{log_id}")
    assert f'id="status">{failed.status_code}<' in detail
    message = unescape(re.search(r'id="error-message">([^<]*)<', detail).group(1))
    assert "has been suspended" in message
    for page in (html, everything, detail):
        for key in made:
            assert key not in page
    assert f"{made[0][:4]}…{made[0][-3:]}" in everything + detail


def test_the_error_view_of_an_unknown_request_is_a_404(admin):
    assert admin.get("/admin/logs/requests/987654").status_code == 404


# --- filters -------------------------------------------------------------------------------


@pytest.fixture
def sample(admin_app, keys):
    """Seven rows that differ in one filter each from a plain successful row."""
    keys(2, tag="flt")
    with admin_app.app_context():
        pool_id = db.session.scalar(sa.select(Pool.id))
        k1, k2 = db.session.scalars(sa.select(ApiKey.id).order_by(ApiKey.id))
        other = Pool(name="other", kind="openai", base_url="http://127.0.0.1:9/v1", enabled=True,
                     is_default=False, overrides={}, aliases={}, models=[], request_defaults={})
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    with admin_app.app_context():
        token, _ = token_service.create_token(admin_app.extensions["balancer"], "team-a")
        token_id = token.id
    names = ["plain", "old", "rate", "key2", "flash", "client", "other_pool", "stream", "error"]
    ids = _insert(admin_app, [
        {"pool_id": pool_id, "key_id": k1, "model": "gemini-2.5-pro"},
        {"pool_id": pool_id, "key_id": k1, "model": "gemini-2.5-pro",
         "created_at": T0 - timedelta(days=3)},
        {"pool_id": pool_id, "key_id": k1, "model": "gemini-2.5-pro", "status": 429,
         "error_class": "rate_limited", "error_message": "Every key is cooling down"},
        {"pool_id": pool_id, "key_id": k2, "model": "gemini-2.5-pro"},
        {"pool_id": pool_id, "key_id": k1, "model": "gemini-2.5-flash"},
        {"pool_id": pool_id, "key_id": k1, "model": "gemini-2.5-pro", "client_id": token_id,
         "client_name": "team-a"},
        {"pool_id": other_id, "key_id": k1, "model": "gemini-2.5-pro"},
        {"pool_id": pool_id, "key_id": k1, "model": "gemini-2.5-pro", "stream": True},
        {"pool_id": pool_id, "key_id": k1, "model": "gemini-2.5-pro", "status": 502,
         "error_class": "upstream_error", "error_message": "Upstream said: Internal error X-77"},
    ])
    return dict(zip(names, ids)), {"pool": pool_id, "other": other_id, "token": token_id,
                                   "k1": k1, "k2": k2}


FILTERS = [
    ("since=2026-11-19T00:00", lambda n: set(n) - {"old"}),
    ("until=2026-11-19T00:00", lambda n: {"old"}),
    ("outcome=rate_limited", lambda n: {"rate"}),
    ("outcome=upstream_error", lambda n: {"error"}),
    ("outcome=success", lambda n: set(n) - {"rate", "error"}),
    ("key={k2}", lambda n: {"key2"}),
    ("model=gemini-2.5-flash", lambda n: {"flash"}),
    ("client={token}", lambda n: {"client"}),
    ("pool={other}", lambda n: {"other_pool"}),
    ("stream=yes", lambda n: {"stream"}),
    ("stream=no", lambda n: set(n) - {"stream"}),
    ("status=429", lambda n: {"rate"}),
    ("q=internal+error+x-77", lambda n: {"error"}),
    ("q=cooling", lambda n: {"rate"}),
    ("q=100%25", lambda n: set()),  # LIKE wildcards are searched as text
    ("status=502&q=internal", lambda n: {"error"}),
    ("key={k1}&model=gemini-2.5-pro&stream=no&outcome=success&since=2026-11-19T00:00",
     lambda n: {"plain", "client", "other_pool"}),
]


@pytest.mark.parametrize("query, expected", FILTERS, ids=[q for q, _ in FILTERS])
def test_each_filter_of_the_request_log(admin, sample, query, expected):
    names, ids = sample
    html = admin.text("/admin/logs?" + query.format(**ids))
    by_id = {v: k for k, v in names.items()}
    assert {by_id[i] for i in _ids(html)} == expected(names)


def test_bad_filters_are_shown_and_nothing_listed(admin, sample):
    resp = admin.get("/admin/logs?status=abc&since=yesterday")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "Some filters are not valid" in html
    assert _ids(html) == []


def test_a_filtered_view_is_a_link_and_the_form_shows_its_values(admin, sample):
    html = admin.text("/admin/logs?model=gemini-2.5-flash&outcome=success")
    assert 'value="gemini-2.5-flash"' in html
    assert re.search(r'<option selected value="success">|<option value="success" selected', html)


def test_the_key_column_links_to_the_keys_page_filtered_to_that_key(admin, sample):
    k1, k2 = sample[1]["k1"], sample[1]["k2"]
    html = admin.text(f"/admin/logs?key={k2}")
    assert f'href="/admin/keys?q=%23{k2}"' in html
    keys_page = admin.text(f"/admin/keys?q=%23{k2}")
    assert f'data-key-id="{k2}"' in keys_page and f'data-key-id="{k1}"' not in keys_page


def test_a_search_without_a_start_looks_at_the_newest_rows_only(admin, admin_app, monkeypatch):
    ids = _insert(admin_app, [{"created_at": T0 + timedelta(seconds=i), "status": 500,
                               "error_class": "upstream_error",
                               "error_message": "needle" if i == 0 else "hay"} for i in range(30)])
    monkeypatch.setattr(request_log, "SEARCH_ROWS", 10)
    html = admin.text("/admin/logs?q=needle")
    assert _ids(html) == [] and "newest 10 requests" in html
    assert "No request matches" in html
    html = admin.text("/admin/logs?q=needle&since=2026-11-20T00:00")
    assert _ids(html) == [ids[0]] and "newest 10 requests" not in html


# --- keyset pages --------------------------------------------------------------------------


def test_paging_walks_every_row_once_both_ways(admin, admin_app):
    # 130 rows, many sharing a timestamp: the id breaks the ties.
    ids = _insert(admin_app, [{"created_at": T0 + timedelta(seconds=i // 4)} for i in range(130)])
    second = {log_id: n // 4 for n, log_id in enumerate(ids)}
    expected = sorted(ids, key=lambda i: (second[i], i), reverse=True)
    seen, url, pages = [], "/admin/logs?per_page=25", []
    while url:
        html = admin.text(url)
        pages.append(_ids(html))
        seen += pages[-1]
        url = _link(html, "next")
        assert "offset" not in (url or "")
    assert seen == expected and len(pages) == 6 and [len(p) for p in pages] == [25] * 5 + [5]
    assert _link(admin.text("/admin/logs?per_page=25"), "prev") is None
    # Back up through "newer": the same pages, full ones, in reverse.
    back = []
    url = _link(admin.text(f"/admin/logs?per_page=25&before={_cursor(admin_app, pages[4][-1])}"),
                "prev")
    while url:
        html = admin.text(url)
        back.append(_ids(html))
        url = _link(html, "prev")
    assert back == pages[:5][::-1]


def _cursor(app, log_id: int) -> str:
    with app.app_context():
        return request_log.Cursor.of(db.session.get(RequestLog, log_id)).encode()


def test_rows_flushed_while_paging_appear_on_the_newest_page_not_twice(admin, admin_app):
    ids = _insert(admin_app, [{"created_at": T0 + timedelta(seconds=i)} for i in range(60)])
    first = admin.text("/admin/logs?per_page=25")
    older = admin.text(_link(first, "next"))
    [new] = _insert(admin_app, [{"created_at": T0 + timedelta(hours=1)}])
    assert _ids(older) == ids[::-1][25:50]  # the cursor holds its place
    newer = admin.text(_link(older, "prev"))
    assert _ids(newer) == ids[::-1][:25] and new not in _ids(newer)
    assert _ids(admin.text("/admin/logs?per_page=25"))[0] == new


@pytest.mark.parametrize("cursor", ["abc", "12-", "-5-3", "1'--", "1" * 40 + "-1", "5-1" + "0" * 20])
def test_a_damaged_cursor_is_a_clear_400(admin, admin_app, cursor):
    _insert(admin_app, [{}])
    for name in ("before", "after"):
        for page in ("/admin/logs", "/admin/logs/events", "/admin/logs/audit"):
            resp = admin.get(page, query_string={name: cursor})
            assert resp.status_code == 400, (page, name)
            assert "page link is damaged" in resp.get_data(as_text=True)


def test_a_well_formed_cursor_of_no_row_is_just_a_place_in_time(admin, admin_app):
    ids = _insert(admin_app, [{"created_at": T0 + timedelta(seconds=i)} for i in range(3)])
    at = int((T0 + timedelta(seconds=1, microseconds=500)).timestamp() * 1_000_000)
    assert _ids(admin.text(f"/admin/logs?before={at}-999999")) == [ids[1], ids[0]]
    assert _ids(admin.text("/admin/logs?before=0-0")) == []
    # The far future (year 5138) is a place too: everything is older.
    assert _ids(admin.text("/admin/logs?before=99999999999999999-1")) == ids[::-1]


# --- request logging off -------------------------------------------------------------------


def test_with_request_logging_off_the_page_says_so_and_statistics_go_on(admin, admin_app, rt,
                                                                        keys):
    keys(1, tag="nolog")
    assert "Request logging is off" not in admin.text("/admin/logs")
    with admin_app.app_context():
        settings_service.update(rt, {"log_requests": False})
    assert _chat(admin_app).status_code == 200
    rt.services.flush()
    html = admin.text("/admin/logs")
    assert "Request logging is off" in html and _ids(html) == []
    assert admin.get("/admin/stats/summary").get_json()["hour"]["requests"] == 1


# --- key events, the audit trail -----------------------------------------------------------


def test_key_events_filter_by_key_kind_and_time_and_page(admin, admin_app, keys):
    made = keys(2, tag="kev")
    with admin_app.app_context():
        k1, k2 = db.session.scalars(sa.select(ApiKey.id).order_by(ApiKey.id))
        db.session.add_all([KeyEvent(created_at=T0 + timedelta(minutes=i), key_id=(k1, k2)[i % 2],
                                     event="cooldown" if i % 3 else "eject", model="gemini-2.5-pro",
                                     reason=f"reason {i}") for i in range(40)])
        db.session.commit()
    html = admin.text(f"/admin/logs/events?key={k2}&event=eject&until=2026-11-20T12:20")
    reasons = re.findall(r"reason (\d+)", html)
    assert reasons == [str(i) for i in range(19, -1, -1) if i % 2 and i % 3 == 0]
    assert f"{made[1][:4]}…{made[1][-3:]}" in html and made[1] not in html
    seen, url = [], f"/admin/logs/events?key={k1}&per_page=25"
    while url:
        page = admin.text(url)
        seen += re.findall(r'data-event-id="(\d+)"', page)
        url = _link(page, "next")
    assert len(seen) == len(set(seen)) == 21  # 20 cooldowns/ejects + the "add" of key 1


def test_the_audit_trail_filters_by_action_and_time(admin, admin_app):
    with admin_app.app_context():
        db.session.add_all([AuditEvent(created_at=T0 + timedelta(hours=i), actor="cli",
                                       action="setting_change" if i % 2 else "key_add",
                                       target=f"target-{i}") for i in range(6)])
        db.session.commit()
    html = admin.text("/admin/logs/audit?action=setting_change&until=2026-11-20T15:30")
    assert re.findall(r"target-(\d)", html) == ["3", "1"]
    assert "sign in" in admin.text("/admin/logs/audit?action=sign_in")  # the fixture's sign-in


# --- manual clean-up -----------------------------------------------------------------------


def test_the_clean_up_deletes_older_rows_reports_the_count_and_is_audited(admin, admin_app):
    now = datetime.now(timezone.utc)
    old = _insert(admin_app, [{"created_at": now - timedelta(days=40)} for _ in range(3)])
    new = _insert(admin_app, [{"created_at": now - timedelta(days=1)}])
    resp = admin.post("/admin/logs/clean-up", {"kind": "request_logs", "days": "30"})
    assert resp.status_code == 302
    html = admin.text("/admin/logs")
    assert "Nothing deleted: Tick the box to confirm." in html and len(_ids(html)) == 4

    resp = admin.post("/admin/logs/clean-up", {"kind": "request_logs", "days": "30",
                                               "confirm": "y"}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "Request log: 3 rows older than 30 days deleted." in html
    assert _ids(html) == new and not set(old) & set(_ids(html))
    audit = admin.text("/admin/logs/audit?action=logs_clean_up")
    assert "request_logs" in audit and "older than 30 days: 3 deleted" in audit


def test_the_clean_up_runs_in_bounded_batches_and_says_when_some_are_left(admin, admin_app,
                                                                          monkeypatch):
    from balancer.services import retention
    monkeypatch.setattr(retention, "BATCH", 2)
    now = datetime.now(timezone.utc)
    _insert(admin_app, [{"created_at": now - timedelta(days=5)} for _ in range(50)])
    resp = admin.post("/admin/logs/clean-up", {"kind": "request_logs", "days": "1",
                                               "confirm": "y"}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "40 rows older than 1 days deleted. More are left: run it again." in html
    assert len(_ids(admin.text("/admin/logs?per_page=200"))) == 10


def test_the_clean_up_refuses_bad_input(admin, admin_app):
    _insert(admin_app, [{"created_at": T0}])
    for data in ({"kind": "everything", "days": "1", "confirm": "y"},
                 {"kind": "request_logs", "days": "-1", "confirm": "y"},
                 {"kind": "request_logs", "days": "", "confirm": "y"}):
        html = unescape(admin.post("/admin/logs/clean-up", data, follow_redirects=True)
                        .get_data(as_text=True))
        assert "Nothing deleted" in html and len(_ids(html)) == 1


def test_each_request_shows_its_dialect_by_name(admin, admin_app):
    ids = _insert(admin_app, [{"api_format": "anthropic", "route": "messages"},
                              {"api_format": "responses", "route": "responses"},
                              {"api_format": "gemini", "route": "gemini.generateContent"}])
    html = admin.text("/admin/logs")
    for name in ("Anthropic Messages", "OpenAI Responses", "Gemini"):
        assert f'<span class="small">{name}</span>' in html
    detail = admin.text(f"/admin/logs/requests/{ids[0]}")
    assert "Anthropic Messages, messages" in detail
