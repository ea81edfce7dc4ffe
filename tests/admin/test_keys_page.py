"""The keys page: table, search, filters, sort, pages, paste, import, export and actions."""
from __future__ import annotations

import io
import json
import re
import time

import sqlalchemy as sa

from balancer.extensions import db
from balancer.keypool.outcome import Outcome, Verdict
from balancer.keypool.records import KeyStatus
from balancer.models import ApiKey, KeyModelState
from balancer.services import keys as key_service
from tests.fake_upstream import make_key


def _ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-key-id="(\d+)"', html)]


def _row(html: str, key_id: int) -> str:
    found = re.search(rf'<tr data-key-id="{key_id}".*?</tr>', html, re.S)
    assert found, f"key {key_id} not in the table"
    return found.group(0)


def _key_ids(admin_app) -> list[int]:
    with admin_app.app_context():
        return list(db.session.scalars(sa.select(ApiKey.id).order_by(ApiKey.id)))


def test_pasting_text_adds_keys_masked_and_de_duplicated(admin, admin_app):
    made = [make_key("paste", i) for i in range(3)]
    text = f"first {made[0]}\nGEMINI_API_KEYS={made[1]},{made[2]}\nagain {made[0]} and AIzaShort"
    resp = admin.post("/admin/keys/add", {"add-text": text, "add-pool": _default_pool(admin_app),
                                          "add-label": "team", "add-group": "proj-1"})
    assert resp.status_code == 302
    page = admin.text("/admin/keys")
    assert "3 added, 1 already present, 1 malformed" in page
    for key in made:
        assert key not in page
        assert f"{key[:4]}…{key[-3:]}" in page
    assert "team" in page and "proj-1" in page
    again = admin.post("/admin/keys/add", {"add-text": made[0], "add-pool": _default_pool(admin_app)})
    assert again.status_code == 302
    assert "0 added, 1 already present, 0 malformed" in admin.text("/admin/keys")


def test_paste_without_keys_says_so_next_to_the_field(admin, admin_app):
    resp = admin.post("/admin/keys/add", {"add-text": "nothing here", "add-pool": _default_pool(admin_app)})
    assert resp.status_code == 400
    assert "No gemini key found in the text" in resp.get_data(as_text=True)
    empty = admin.post("/admin/keys/add", {"add-text": "", "add-pool": _default_pool(admin_app)})
    assert empty.status_code == 400 and "Paste some text with keys in it." in empty.get_data(as_text=True)


def test_paste_needs_the_csrf_token(admin, admin_app):
    resp = admin.client.post("/admin/keys/add", data={"add-text": make_key("x", 0),
                                                      "add-pool": _default_pool(admin_app)})
    assert resp.status_code == 400
    assert _key_ids(admin_app) == []


def _default_pool(admin_app) -> int:
    from balancer.services.pools import ensure_default_pool
    with admin_app.app_context():
        return ensure_default_pool().id


def test_import_and_export(admin, admin_app, keys):
    keys(2, tag="exp")
    masked = admin.get("/admin/keys/export")
    assert masked.status_code == 200
    assert "attachment" in masked.headers["Content-Disposition"]
    doc = masked.get_json()
    assert len(doc["keys"]) == 2 and all("…" in k["key"] for k in doc["keys"])
    revealed = admin.post("/admin/keys/export", {})
    secret_doc = json.loads(revealed.get_data(as_text=True))
    assert {k["key"] for k in secret_doc["keys"]} == {make_key("exp", 0), make_key("exp", 1)}
    # Import the export into an empty database: the keys come back with their labels.
    with admin_app.app_context():
        for key_id in _key_ids(admin_app):
            key_service.delete(admin_app.extensions["balancer"], key_id)
    secret_doc["keys"][0]["label"] = "restored"
    upload = {"import-file": (io.BytesIO(json.dumps(secret_doc).encode()), "keys.json"),
              "import-pool": str(_default_pool(admin_app))}
    resp = admin.post("/admin/keys/import", upload, content_type="multipart/form-data")
    assert resp.status_code == 302
    page = admin.text("/admin/keys")
    assert "2 added, 0 already present, 0 malformed" in page and "restored" in page


def test_import_of_a_masked_export_finds_nothing(admin, admin_app, keys):
    keys(1, tag="mask")
    masked = admin.get("/admin/keys/export").get_data()
    upload = {"import-file": (io.BytesIO(masked), "masked.json"), "import-pool": str(_default_pool(admin_app))}
    resp = admin.post("/admin/keys/import", upload, content_type="multipart/form-data")
    assert resp.status_code == 400
    assert "No key found in the file" in resp.get_data(as_text=True)


def test_import_without_a_file_is_refused(admin, admin_app):
    resp = admin.post("/admin/keys/import", {"import-pool": str(_default_pool(admin_app))},
                      content_type="multipart/form-data")
    assert resp.status_code == 400 and "Choose a file." in resp.get_data(as_text=True)


def test_reveal_needs_the_login_on(make_app):
    app = make_app(REQUIRE_ADMIN_LOGIN="false")
    app.extensions["balancer"].services.bootstrap()
    client = app.test_client()
    html = client.get("/admin/keys").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    resp = client.post("/admin/keys/export", data={"csrf_token": token})
    assert resp.status_code == 302
    assert "needs the admin login on" in client.get("/admin/keys").get_data(as_text=True)


def test_search_filter_sort_and_pages(admin, admin_app, rt, keys):
    made = keys(30, tag="tbl")
    ids = _key_ids(admin_app)
    with admin_app.app_context():
        for key_id in ids[:3]:
            row = db.session.get(ApiKey, key_id)
            row.label = f"special-{key_id}"
            row.request_count = 1000 + key_id
        db.session.commit()
    page1 = admin.text("/admin/keys?per_page=25")
    assert _ids(page1) == ids[:25] and "30 found" in page1
    page2 = admin.text("/admin/keys?per_page=25&page=2")
    assert _ids(page2) == ids[25:]
    found = admin.text("/admin/keys?q=special")
    assert _ids(found) == ids[:3]
    by_id = admin.text(f"/admin/keys?q=%23{ids[7]}")
    assert _ids(by_id) == [ids[7]]
    by_requests = admin.text("/admin/keys?sort=requests&dir=desc&per_page=25")
    assert _ids(by_requests)[:3] == [ids[2], ids[1], ids[0]]
    # A percent sign is searched for, not a wildcard.
    assert _ids(admin.text("/admin/keys?q=%25")) == []
    for key in made:
        assert key not in page1


def test_status_filter_and_what_the_row_says(admin, admin_app, rt, keys):
    keys(4, tag="st")
    ids = _key_ids(admin_app)
    lease = rt.keypool.acquire(_default_pool(admin_app), "gemini-2.5-flash", exclude=ids[1:])
    rt.push(rt.keypool.release(lease, Verdict(Outcome.RATE_LIMITED, reason="per_minute_quota",
                                              status=429, cooldown=120)))
    lease = rt.keypool.acquire(_default_pool(admin_app), "gemini-2.5-flash",
                               exclude=[ids[0], ids[2], ids[3]])
    rt.push(rt.keypool.release(lease, Verdict(Outcome.KEY_INVALID, reason="API_KEY_INVALID",
                                              status=400, message="API key not valid.")))
    rt.services.flush()
    with admin_app.app_context():
        key_service.set_enabled(rt, ids[2], False)
    cooling = admin.text("/admin/keys?status=cooling")
    assert _ids(cooling) == [ids[0]]
    row = _row(cooling, ids[0])
    assert "cooling down" in row and "gemini-2.5-flash: per_minute_quota" in row
    assert re.search(r"\d+ min( \d+ s)? left", row) or "s left" in row
    dead = admin.text("/admin/keys?status=disabled")
    assert _ids(dead) == [ids[1]]
    assert "dead" in _row(dead, ids[1]) and "API_KEY_INVALID" in _row(dead, ids[1])
    assert _ids(admin.text("/admin/keys?status=switched_off")) == [ids[2]]
    assert _ids(admin.text("/admin/keys?status=active")) == [ids[3]]


def test_disable_and_enable_reach_the_key_pool_and_the_database(admin, admin_app, rt, keys):
    keys(2, tag="sw")
    ids = _key_ids(admin_app)
    resp = admin.post("/admin/keys/action", {"action": f"disable:{ids[0]}", "back": "/admin/keys?page=1"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/keys?page=1"
    assert rt.keypool.snapshot(ids[0])[0].enabled is False
    with admin_app.app_context():
        assert db.session.get(ApiKey, ids[0]).enabled is False
    pool_id = _default_pool(admin_app)
    for _ in range(4):  # the disabled key is never handed out
        lease = rt.keypool.acquire(pool_id, "m")
        assert lease.key_id == ids[1]
        rt.keypool.release(lease, Verdict(Outcome.SUCCESS, status=200))
    assert "1 key disabled." in admin.text("/admin/keys")
    admin.post("/admin/keys/action", {"action": "enable", "ids": [str(i) for i in ids]})
    assert rt.keypool.snapshot(ids[0])[0].enabled is True
    assert "2 keys enabled." in admin.text("/admin/keys")


def test_bulk_action_without_a_selection(admin):
    resp = admin.post("/admin/keys/action", {"action": "disable"})
    assert resp.status_code == 302
    assert "Select at least one key first." in admin.text("/admin/keys")


def test_unknown_action_is_refused(admin, keys):
    assert admin.post("/admin/keys/action", {"action": "explode", "ids": ["1"]}).status_code == 400


def test_delete_asks_first_then_deletes(admin, admin_app, rt, keys):
    keys(3, tag="del")
    ids = _key_ids(admin_app)
    ask = admin.post("/admin/keys/action", {"action": "delete", "ids": [str(ids[0]), str(ids[1])]})
    assert ask.status_code == 200
    assert "Delete 2 keys for good?" in ask.get_data(as_text=True)
    assert _key_ids(admin_app) == ids
    done = admin.post("/admin/keys/action", {"action": "delete", "confirmed": "yes",
                                             "ids": [str(ids[0]), str(ids[1])]})
    assert done.status_code == 302
    assert _key_ids(admin_app) == [ids[2]]
    assert rt.keypool.key_ids() == {ids[2]}
    assert "2 keys deleted." in admin.text("/admin/keys")


def test_reset_failures(admin, admin_app, rt, keys):
    keys(1, tag="rf")
    key_id = _key_ids(admin_app)[0]
    pool_id = _default_pool(admin_app)
    for _ in range(2):
        lease = rt.keypool.acquire(pool_id, "gemini-2.5-flash")
        rt.push(rt.keypool.release(lease, Verdict(Outcome.TRANSIENT, reason="server_error", status=500)))
    rt.services.flush()
    with admin_app.app_context():
        db.session.execute(sa.update(ApiKey).values(failure_count=2, last_error="server_error"))
        db.session.commit()
    before = admin.text("/admin/keys")
    assert "2 failures in a row" in _row(before, key_id)
    admin.post("/admin/keys/action", {"action": f"reset:{key_id}"})
    assert all(st.consecutive_failures == 0 for st in rt.keypool.snapshot(key_id)[1])
    with admin_app.app_context():
        assert db.session.scalar(sa.select(KeyModelState.consecutive_failures)) == 0
        assert db.session.get(ApiKey, key_id).failure_count == 0
    after = admin.text("/admin/keys")
    assert "failures in a row" not in _row(after, key_id)
    assert "Failures reset on 1 key." in after


def test_test_now_reports_and_disables_a_dead_key(admin, admin_app, rt, keys, upstream):
    good, bad = keys(2, tag="tst", modes={make_key("tst", 1): "invalid"})
    ids = _key_ids(admin_app)
    resp = admin.post("/admin/keys/action", {"action": "test", "ids": [str(i) for i in ids]})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "works" in _row_of(html, ids[0])
    assert "failed" in _row_of(html, ids[1]) and "The key is dead" in _row_of(html, ids[1])
    assert good not in html and bad not in html
    assert rt.keypool.snapshot(ids[1])[0].status is KeyStatus.DISABLED
    # Fixed upstream: a new test brings it back.
    upstream.set_key(bad, "good")
    again = admin.post("/admin/keys/action", {"action": f"test:{ids[1]}"}).get_data(as_text=True)
    assert "works again" in again
    assert rt.keypool.snapshot(ids[1])[0].status is KeyStatus.ACTIVE


def _row_of(html: str, key_id: int) -> str:
    return re.search(rf'<tr data-key-id="{key_id}">.*?</tr>', html, re.S).group(0)


def test_edit_label_group_tags_and_limits(admin, admin_app, rt, keys):
    keys(1, tag="ed")
    key_id = _key_ids(admin_app)[0]
    form = admin.text(f"/admin/keys/{key_id}/edit")
    assert 'name="label"' in form
    resp = admin.post(f"/admin/keys/{key_id}/edit", {"label": "main", "group": "project-a",
                                                     "tags": "paid, fast fast", "rpm_limit": "60",
                                                     "rpd_limit": ""})
    assert resp.status_code == 302
    with admin_app.app_context():
        row = db.session.get(ApiKey, key_id)
        assert (row.label, row.group_name, row.tags, row.rpm_limit, row.rpd_limit) == \
            ("main", "project-a", ["paid", "fast"], 60, None)
    assert rt.keypool.snapshot(key_id)[0].group == "project-a"
    page = admin.text("/admin/keys")
    assert "Key AIza" in page and "saved." in page


def test_edit_validation_errors_are_shown_next_to_the_field(admin, admin_app, keys):
    keys(1, tag="edv")
    key_id = _key_ids(admin_app)[0]
    resp = admin.post(f"/admin/keys/{key_id}/edit", {"rpm_limit": "0", "label": "x" * 200,
                                                     "tags": "y" * 70})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "Number must be between 1 and 10000000." in html
    assert "Field cannot be longer than 128 characters." in html
    with admin_app.app_context():
        assert db.session.get(ApiKey, key_id).rpm_limit is None
    bad_tag = admin.post(f"/admin/keys/{key_id}/edit", {"tags": "y" * 70})
    assert bad_tag.status_code == 400 and "at most 64 characters" in bad_tag.get_data(as_text=True)


def test_edit_of_a_missing_key_is_404(admin):
    assert admin.get("/admin/keys/999999/edit").status_code == 404


def test_edit_back_link_cannot_leave_the_site(admin, admin_app, keys):
    keys(1, tag="bk")
    key_id = _key_ids(admin_app)[0]
    html = admin.text(f"/admin/keys/{key_id}/edit?back=javascript:alert(1)")
    assert "javascript:" not in html


def test_the_keys_page_stays_fast_with_5000_keys(admin, admin_app, rt):
    from balancer.crypto import fingerprint
    from balancer.services.pools import ensure_default_pool
    with admin_app.app_context():
        pool = ensure_default_pool()
        token = rt.box.encrypt(make_key("bulk", 0))  # one ciphertext: encryption is not under test
        db.session.execute(sa.insert(ApiKey), [
            {"pool_id": pool.id, "secret_encrypted": token, "fingerprint": fingerprint(f"k{i}"),
             "display": "AIza…" + f"{i:03d}"[-3:], "label": f"label-{i}", "tags": ["t"],
             "enabled": i % 50 != 0, "status": "disabled" if i % 97 == 0 else "active",
             "request_count": i, "failure_count": i % 7} for i in range(5000)])
        db.session.commit()
        rt.services.syncer.load_all(db.session)
    urls = ["/admin/keys", "/admin/keys?page=80", "/admin/keys?sort=requests&dir=desc",
            "/admin/keys?q=label-49", "/admin/keys?status=active&sort=failures",
            "/admin/keys?status=cooling", "/admin/keys?per_page=200&page=20"]
    admin.get(urls[0])
    timings = {}
    for url in urls:
        started = time.perf_counter()
        resp = admin.get(url)
        timings[url] = time.perf_counter() - started
        assert resp.status_code == 200
    print("keys page with 5000 keys:", {u: f"{t * 1000:.0f} ms" for u, t in timings.items()})
    assert "5,000 found" in admin.text("/admin/keys")
    assert max(timings.values()) < 1.5, timings


def test_json_actions_need_the_csrf_header(admin, admin_app, rt, keys):
    keys(1, tag="js")
    key_id = _key_ids(admin_app)[0]
    refused = admin.client.post("/admin/keys/action", json={"action": "disable", "ids": [key_id]})
    assert refused.status_code == 400 and "CSRF" in refused.get_json()["error"]
    assert rt.keypool.snapshot(key_id)[0].enabled is True
    done = admin.post_json("/admin/keys/action", {"action": "disable", "ids": [key_id]})
    assert done.get_json()["message"] == "1 key disabled."
    assert rt.keypool.snapshot(key_id)[0].enabled is False


def test_json_test_and_delete(admin, admin_app, rt, keys, upstream):
    keys(1, tag="jt", modes={make_key("jt", 0): "invalid"})
    key_id = _key_ids(admin_app)[0]
    body = admin.post_json("/admin/keys/action", {"action": "test", "ids": [key_id]}).get_json()
    [result] = body["results"]
    assert result["ok"] is False and result["effect"] == "disabled" and result["status"] == 400
    assert make_key("jt", 0) not in json.dumps(body)
    ask = admin.post_json("/admin/keys/action", {"action": "delete", "ids": [key_id]})
    assert ask.status_code == 400 and "confirmed" in ask.get_json()["error"]
    assert _key_ids(admin_app) == [key_id]
    admin.post_json("/admin/keys/action", {"action": "delete", "ids": [key_id], "confirmed": True})
    assert _key_ids(admin_app) == []
    assert admin.post_json("/admin/keys/action", {"action": "test", "ids": "1"}).status_code == 400


def test_other_workers_follow_the_actions_through_their_sync(admin, admin_app, rt, keys, make_app):
    keys(3, tag="sync")
    ids = _key_ids(admin_app)
    other = make_app(ADMIN_PASSWORD="another worker password").extensions["balancer"]
    other.services.bootstrap()
    admin.post("/admin/keys/action", {"action": f"disable:{ids[0]}"})
    admin.post(f"/admin/keys/{ids[1]}/edit", {"group": "project-b"})
    admin.post("/admin/keys/action", {"action": "delete", "confirmed": "yes", "ids": [str(ids[2])]})
    other.services.sync()
    assert other.keypool.snapshot(ids[0])[0].enabled is False
    assert other.keypool.snapshot(ids[1])[0].group == "project-b"
    assert other.keypool.snapshot(ids[2]) is None


def test_without_keys_the_add_panel_is_open_and_follows_the_pool_filter(admin, admin_app):
    html = admin.text("/admin/keys")
    assert 'class="collapse show mb-3" id="add-keys"' in html
    assert "No keys yet" in html and "No keys yet" in admin.text("/admin/")
    pool_id = _default_pool(admin_app)
    filtered = admin.text(f"/admin/keys?pool={pool_id}&status=active")
    assert 'class="collapse mb-3" id="add-keys"' in filtered
    assert re.search(rf'<option selected value="{pool_id}">', filtered)


def test_edit_a_selection_changes_only_the_fields_switched_on(admin, admin_app, rt, keys):
    keys(3, tag="bulk")
    ids = _key_ids(admin_app)
    with admin_app.app_context():
        db.session.get(ApiKey, ids[0]).label = "keep me"
        db.session.commit()
    form = admin.post("/admin/keys/action", {"action": "edit", "ids": [str(i) for i in ids[:2]]})
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and "Edit 2 keys" in html and "Change the quota group" in html
    done = admin.post("/admin/keys/bulk-edit", {"ids": [str(i) for i in ids[:2]], "set_group": "y",
                                                "group": "project-z", "label": "ignored",
                                                "set_tags": "y", "tags": "a b"})
    assert done.status_code == 302
    with admin_app.app_context():
        rows = {r.id: r for r in db.session.scalars(sa.select(ApiKey))}
        assert [rows[i].group_name for i in ids] == ["project-z", "project-z", None]
        assert rows[ids[0]].label == "keep me" and rows[ids[0]].tags == ["a", "b"]
    assert rt.keypool.snapshot(ids[1])[0].group == "project-z"
    assert "Group, tags set on 2 keys." in admin.text("/admin/keys")


def test_edit_a_selection_validates_and_can_clear(admin, admin_app, keys):
    keys(2, tag="bulk2")
    ids = [str(i) for i in _key_ids(admin_app)]
    bad = admin.post("/admin/keys/bulk-edit", {"ids": ids, "set_rpm_limit": "y", "rpm_limit": "0"})
    assert bad.status_code == 400 and "Number must be between" in bad.get_data(as_text=True)
    admin.post("/admin/keys/bulk-edit", {"ids": ids, "set_rpm_limit": "y", "rpm_limit": "30"})
    admin.post("/admin/keys/bulk-edit", {"ids": ids, "set_rpm_limit": "y", "rpm_limit": ""})
    with admin_app.app_context():
        assert set(db.session.scalars(sa.select(ApiKey.rpm_limit))) == {None}
    nothing = admin.post("/admin/keys/bulk-edit", {"ids": ids, "label": "x"})
    assert nothing.status_code == 302 and "Nothing changed" in admin.text("/admin/keys")


def test_search_takes_wildcards_and_the_escape_character_literally(admin, admin_app, keys):
    keys(3, tag="lit")
    ids = _key_ids(admin_app)
    with admin_app.app_context():
        for key_id, label in zip(ids, ["a_b", "axb", "50%!"]):
            db.session.get(ApiKey, key_id).label = label
        db.session.commit()
    assert _ids(admin.text("/admin/keys?q=a_b")) == [ids[0]]
    assert _ids(admin.text("/admin/keys?q=50%25!")) == [ids[2]]
    assert _ids(admin.text("/admin/keys?q=!")) == [ids[2]]


def test_a_limit_set_in_the_edit_form_is_kept_by_the_proxy_and_shown(admin, admin_app, rt, keys):
    keys(2, tag="lim")
    first, second = _key_ids(admin_app)
    for key_id in (first, second):
        resp = admin.post(f"/admin/keys/{key_id}/edit", {"label": "", "group": "", "tags": "",
                                                         "rpm_limit": "1", "rpd_limit": "5"})
        assert resp.status_code == 302
    from tests.conftest import TOKEN
    client, auth = admin_app.test_client(), {"Authorization": f"Bearer {TOKEN}"}
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
    answers = [client.post("/v1/chat/completions", headers=auth, json=body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "own request limit" in answers[2].get_json()["error"]["message"]
    rt.services.flush()
    page = admin.text("/admin/keys")
    for key_id in (first, second):
        row = _row(page, key_id)
        assert re.search(r"at its own request limit, (\d+ s|1 min) left", row), row
        assert "1<span" in row.replace(" ", "") and "/ 5" in row  # today's use against the day's limit



def test_last_used_is_set_for_a_key_whose_every_attempt_failed(admin, admin_app, rt, keys):
    from tests.conftest import TOKEN
    dead = make_key("dead", 0)
    keys(1, tag="dead", modes={dead: "invalid"})
    resp = admin_app.test_client().post(
        "/v1/chat/completions", headers={"Authorization": f"Bearer {TOKEN}"},
        json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code >= 400
    rt.services.flush()
    row = _row(admin.text("/admin/keys"), _key_ids(admin_app)[0])
    assert "never" not in row and "just now" in row
