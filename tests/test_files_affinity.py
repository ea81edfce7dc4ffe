"""The Files API and cached contents through Balancer, and key affinity.

The fake upstream keeps each file and cache in the project of the key that
made it and refuses every other key with Google's 403, so a call that reached
the wrong key would fail here as it would against Google.
"""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from tests.conftest import TOKEN

MODEL = "gemini-2.5-flash"
AUTH = {"x-goog-api-key": TOKEN}


def start_upload(client, size=11, mime="text/plain", prefix="/upload/v1beta", headers=None):
    return client.post(f"{prefix}/files", json={"file": {"displayName": "notes"}}, headers={
        **AUTH, "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(size),
        "X-Goog-Upload-Header-Content-Type": mime, **(headers or {})})


def send_chunk(client, url, data, offset=0, command="upload, finalize"):
    parts = urlsplit(url)
    # The SDK sends chunks without its key: the upload URL is the credential.
    return client.post(f"{parts.path}?{parts.query}", data=data, headers={
        "X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset)})


def upload(client, data=b"hello files"):
    started = start_upload(client, size=len(data))
    assert started.status_code == 200, started.get_data(as_text=True)
    done = send_chunk(client, started.headers["X-Goog-Upload-URL"], data)
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.headers["X-Goog-Upload-Status"] == "final"
    return done.get_json()["file"]


def generate_with(client, file, text="describe it", extra=None):
    body = {"contents": [{"role": "user", "parts": [
        {"fileData": {"mimeType": file["mimeType"], "fileUri": file["uri"]}}, {"text": text}]}],
        **(extra or {})}
    return client.post(f"/v1beta/models/{MODEL}:generateContent", json=body, headers=AUTH)


@pytest.fixture
def owner_key(app, rt):
    """The upstream key Balancer recorded as the owner of a file or cache."""
    from balancer.extensions import db
    from balancer.models import ApiKey, ResourceOwner

    def find(_upstream, name):
        with app.app_context():
            row = ResourceOwner.query.filter_by(name=name).one()
            return rt.box.decrypt(db.session.get(ApiKey, row.key_id).secret_encrypted)
    return find


class TestUpload:
    def test_resumable_upload_hands_out_balancers_url_and_records_the_owner(
            self, client, keys, upstream, rt, app):
        made = keys(3)
        started = start_upload(client)
        assert started.status_code == 200
        url = started.headers["X-Goog-Upload-URL"]
        assert url.startswith("http://localhost/upload/v1beta/files?upload_id=")
        assert upstream.url not in url and not any(k in url for k in made)
        assert started.headers["X-Goog-Upload-Status"] == "active"
        start_key = upstream.requests[-1]["key"]

        middle = send_chunk(client, url, b"hello ", command="upload")
        assert middle.status_code == 200 and middle.headers["X-Goog-Upload-Status"] == "active"
        done = send_chunk(client, url, b"files", offset=6)
        assert done.status_code == 200 and done.headers["X-Goog-Upload-Status"] == "final"
        file = done.get_json()["file"]
        assert file["name"].startswith("files/") and file["sizeBytes"] == "11"
        chunk_calls = [r for r in upstream.requests if "upload_id" in r["query"]]
        assert {r["key"] for r in chunk_calls} == {start_key}  # every chunk on the opening key
        assert TOKEN not in json.dumps([r["headers"] for r in upstream.requests])

        from balancer.models import ResourceOwner
        from balancer.services import keys as key_service
        with app.app_context():
            row = ResourceOwner.query.filter_by(name=file["name"]).one()
            owner = key_service.get_key(row.key_id)
            assert rt.box.decrypt(owner.secret_encrypted) == start_key
            assert row.expires_at - row.created_at > timedelta(hours=47)

    def test_the_upload_path_under_gemini_prefix_and_v1_works_too(self, client, keys):
        keys(1)
        for prefix in ("/gemini/upload/v1beta", "/upload/v1"):
            started = start_upload(client, prefix=prefix)
            assert started.status_code == 200
            assert urlsplit(started.headers["X-Goog-Upload-URL"]).path == f"{prefix}/files"

    def test_a_forged_or_tampered_upload_url_is_refused(self, client, keys, upstream):
        keys(1)
        url = start_upload(client).headers["X-Goog-Upload-URL"]
        token = url.split("upload_id=")[1].split("&")[0]
        for bad in ("not-a-token", token[:-3] + "abc"):
            resp = client.post(f"/upload/v1beta/files?upload_id={bad}", data=b"x",
                               headers={"X-Goog-Upload-Command": "upload, finalize",
                                        "X-Goog-Upload-Offset": "0"})
            assert resp.status_code == 404
            assert resp.get_json()["error"]["status"] == "NOT_FOUND"
            assert "start the upload again" in resp.get_json()["error"]["message"]

    @pytest.mark.parametrize("headers, message", [
        ({"X-Goog-Upload-Protocol": "multipart"}, "resumable"),
        ({"X-Goog-Upload-Command": "upload"}, "start"),
        ({"X-Goog-Upload-Header-Content-Length": "eleven"}, "size in bytes"),
        ({"X-Goog-Upload-Header-Content-Type": "text/plain; x=\"../../etc\""}, "MIME"),
    ])
    def test_bad_upload_starts_get_a_google_400(self, client, keys, upstream, headers, message):
        keys(1)
        resp = start_upload(client, headers=headers)
        assert resp.status_code == 400
        error = resp.get_json()["error"]
        assert error["status"] == "INVALID_ARGUMENT" and message in error["message"]
        assert not upstream.requests

    def test_bad_chunk_headers_and_offsets(self, client, keys, upstream):
        keys(1)
        url = start_upload(client).headers["X-Goog-Upload-URL"]
        parts = urlsplit(url)
        resp = client.post(f"{parts.path}?{parts.query}", data=b"x",
                           headers={"X-Goog-Upload-Command": "delete everything",
                                    "X-Goog-Upload-Offset": "0"})
        assert resp.status_code == 400 and "X-Goog-Upload-Command" in resp.get_json()["error"]["message"]
        wrong = send_chunk(client, url, b"hello files", offset=5)
        assert wrong.status_code == 400  # the upstream's own refusal, passed on
        assert wrong.get_json()["error"]["status"] == "INVALID_ARGUMENT"

    def test_a_start_without_a_client_token_is_refused(self, client, keys, upstream):
        keys(1)
        resp = client.post("/upload/v1beta/files", headers={
            "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": "1"})
        assert resp.status_code == 401 and not upstream.requests


class TestAffinity:
    def test_a_file_is_used_by_the_key_that_uploaded_it_whatever_the_rotation(
            self, client, keys, upstream, owner_key):
        keys(3)
        file = upload(client)
        owner = owner_key(upstream, file["name"])
        served = []
        for i in range(5):
            resp = generate_with(client, file, f"q{i}")
            assert resp.status_code == 200, resp.get_data(as_text=True)
            served.append(upstream.requests[-1]["key"])
        assert set(served) == {owner}
        # Requests that use no file still rotate over every key.
        rotated = set()
        for i in range(6):
            client.post(f"/v1beta/models/{MODEL}:generateContent", headers=AUTH,
                        json={"contents": [{"parts": [{"text": f"plain {i}"}]}]})
            rotated.add(upstream.requests[-1]["key"])
        assert len(rotated) == 3

    def test_streams_and_count_tokens_follow_the_file_too(self, client, keys, upstream, owner_key):
        keys(2)
        file = upload(client)
        owner = owner_key(upstream, file["name"])
        body = {"contents": [{"parts": [{"file_data": {"file_uri": file["name"]}}, {"text": "s"}]}]}
        for action, query in (("streamGenerateContent", "?alt=sse"), ("countTokens", ""),
                              ("streamGenerateContent", "")):
            resp = client.post(f"/v1beta/models/{MODEL}:{action}{query}", json=body, headers=AUTH)
            assert resp.status_code == 200, resp.get_data(as_text=True)
            assert upstream.requests[-1]["key"] == owner

    def test_another_worker_finds_the_owner_in_the_database(self, make_app, app, client, keys,
                                                           upstream, owner_key):
        keys(3)
        file = upload(client)
        owner = owner_key(upstream, file["name"])
        other = make_app()
        other.extensions["balancer"].services.bootstrap()
        resp = generate_with(other.test_client(), file)
        assert resp.status_code == 200 and upstream.requests[-1]["key"] == owner

    def test_a_rate_limited_owner_gives_a_429_that_says_why(self, client, keys, upstream, owner_key):
        keys(2)
        file = upload(client)
        owner = owner_key(upstream, file["name"])
        upstream.set_key(owner, "rate_minute", retry_delay="40s")
        resp = generate_with(client, file)
        assert resp.status_code == 429
        error = resp.get_json()["error"]
        assert error["status"] == "RESOURCE_EXHAUSTED"
        assert file["name"] in error["message"] and "no other key can use it" in error["message"]
        assert "rate-limited" in error["message"]
        assert int(resp.headers["Retry-After"]) >= 30
        calls = [r for r in upstream.requests if r.get("action") == "generateContent"]
        assert {r["key"] for r in calls} == {owner}  # never another key's 403

    def test_a_dead_owner_gives_a_503_that_says_why(self, client, keys, upstream, owner_key):
        keys(2)
        file = upload(client)
        owner = owner_key(upstream, file["name"])
        upstream.set_key(owner, "invalid")
        resp = generate_with(client, file)
        assert resp.status_code == 503
        error = resp.get_json()["error"]
        assert file["name"] in error["message"] and "disabled" in error["message"]
        again = generate_with(client, file)
        assert again.status_code == 503 and "disabled" in again.get_json()["error"]["message"]

    def test_a_switched_off_owner_says_so(self, client, keys, upstream, rt, app):
        keys(2)
        file = upload(client)
        from balancer.models import ResourceOwner
        from balancer.services import keys as key_service
        with app.app_context():
            key_id = ResourceOwner.query.filter_by(name=file["name"]).one().key_id
            key_service.set_enabled(rt, key_id, False)
        resp = generate_with(client, file)
        assert resp.status_code == 503 and "switched off" in resp.get_json()["error"]["message"]

    def test_files_of_two_projects_in_one_request_are_refused(self, client, keys, upstream, owner_key):
        keys(2)
        first = upload(client)
        second = upload(client)
        if owner_key(upstream, second["name"]) == owner_key(upstream, first["name"]):
            second = upload(client)
        body = {"contents": [{"parts": [{"fileData": {"fileUri": first["uri"]}},
                                        {"fileData": {"fileUri": second["uri"]}}]}]}
        resp = client.post(f"/v1beta/models/{MODEL}:generateContent", json=body, headers=AUTH)
        assert resp.status_code == 400 and "different keys" in resp.get_json()["error"]["message"]

    def test_a_file_balancer_did_not_make_goes_upstream_without_charging_the_key(
            self, client, keys, upstream, rt):
        made = keys(1)
        file = {"mimeType": "text/plain",
                "uri": "https://generativelanguage.googleapis.com/v1beta/files/elsewhere1"}
        resp = generate_with(client, file)
        assert resp.status_code == 403
        assert resp.get_json()["error"]["status"] == "PERMISSION_DENIED"
        # The request named another project's file; the key stays usable.
        ok = client.post(f"/v1beta/models/{MODEL}:generateContent", headers=AUTH,
                         json={"contents": [{"parts": [{"text": "still fine"}]}]})
        assert ok.status_code == 200 and upstream.requests[-1]["key"] == made[0]


class TestFiles:
    def test_get_list_and_delete(self, client, keys, upstream, owner_key):
        keys(3)
        files = [upload(client, f"file {i}".encode()) for i in range(3)]
        for file in files:
            resp = client.get(f"/v1beta/{file['name']}", headers=AUTH)
            assert resp.status_code == 200 and resp.get_json()["name"] == file["name"]
            assert upstream.requests[-1]["key"] == owner_key(upstream, file["name"])
        page = client.get("/v1beta/files?pageSize=2", headers=AUTH).get_json()
        assert [f["name"] for f in page["files"]] == [files[2]["name"], files[1]["name"]]
        rest = client.get(f"/v1beta/files?pageSize=2&pageToken={page['nextPageToken']}",
                          headers=AUTH).get_json()
        assert [f["name"] for f in rest["files"]] == [files[0]["name"]] and "nextPageToken" not in rest

        gone = client.delete(f"/v1beta/{files[0]['name']}", headers=AUTH)
        assert gone.status_code == 200
        after = client.get(f"/v1beta/{files[0]['name']}", headers=AUTH)
        assert after.status_code == 404 and after.get_json()["error"]["status"] == "NOT_FOUND"
        listed = client.get("/v1beta/files", headers=AUTH).get_json()["files"]
        assert files[0]["name"] not in [f["name"] for f in listed]

    @pytest.mark.parametrize("path, status", [
        ("/v1beta/files/UPPER_case", 400),
        ("/v1beta/files/unknown123", 404),
        ("/v1beta/files?pageSize=0", 400),
        ("/v1beta/files?pageSize=101", 400),
        ("/v1beta/files?pageToken=abc", 400),
    ])
    def test_bad_names_and_pages(self, client, keys, upstream, path, status):
        keys(1)
        resp = client.get(path, headers=AUTH)
        assert resp.status_code == status
        assert resp.get_json()["error"]["code"] == status
        assert not upstream.requests

    def test_file_routes_require_a_client_token(self, client, keys, upstream):
        keys(1)
        for method, path in (("GET", "/v1beta/files"), ("GET", "/v1beta/files/abc"),
                             ("DELETE", "/v1beta/files/abc"), ("GET", "/v1beta/cachedContents"),
                             ("POST", "/v1beta/cachedContents")):
            resp = client.open(path, method=method)
            assert resp.status_code == 401, (method, path)
            assert resp.get_json()["error"]["status"] == "UNAUTHENTICATED"


class TestCachedContents:
    def test_a_cache_of_a_file_is_made_and_used_by_the_files_key(self, client, keys, upstream, owner_key):
        keys(3)
        file = upload(client)
        owner = owner_key(upstream, file["name"])
        resp = client.post("/v1beta/cachedContents", headers=AUTH, json={
            "model": f"models/{MODEL}", "ttl": "600s",
            "contents": [{"role": "user", "parts": [{"fileData": {"fileUri": file["uri"]}}]}]})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        cache = resp.get_json()
        assert cache["name"].startswith("cachedContents/")
        assert upstream.requests[-1]["key"] == owner
        for i in range(3):
            used = client.post(f"/v1beta/models/{MODEL}:generateContent", headers=AUTH, json={
                "cachedContent": cache["name"], "contents": [{"parts": [{"text": f"q{i}"}]}]})
            assert used.status_code == 200 and upstream.requests[-1]["key"] == owner
        patched = client.patch(f"/v1beta/{cache['name']}?updateMask=ttl", headers=AUTH,
                               json={"ttl": "7200s"})
        assert patched.status_code == 200 and patched.get_json()["expireTime"] > cache["expireTime"]
        listed = client.get("/v1beta/cachedContents", headers=AUTH).get_json()
        assert [c["name"] for c in listed["cachedContents"]] == [cache["name"]]
        assert client.delete(f"/v1beta/{cache['name']}", headers=AUTH).status_code == 200
        assert client.get(f"/v1beta/{cache['name']}", headers=AUTH).status_code == 404

    def test_a_cache_without_files_goes_to_the_rotations_key_and_stays_there(
            self, client, keys, upstream):
        keys(3)
        resp = client.post("/v1beta/cachedContents", headers=AUTH, json={
            "model": MODEL, "contents": [{"role": "user", "parts": [{"text": "long context"}]}]})
        assert resp.status_code == 200
        maker = upstream.requests[-1]["key"]
        assert upstream.requests[-1]["body"]["model"] == f"models/{MODEL}"
        name = resp.get_json()["name"]
        for _ in range(3):
            got = client.get(f"/v1beta/{name}", headers=AUTH)
            assert got.status_code == 200 and upstream.requests[-1]["key"] == maker

    @pytest.mark.parametrize("method, path, body, status", [
        ("POST", "/v1beta/cachedContents", "not json", 400),
        ("POST", "/v1beta/cachedContents", {"contents": []}, 400),
        ("POST", "/v1beta/cachedContents", {"model": "../etc"}, 400),
        ("PATCH", "/v1beta/cachedContents/abc", "[]", 400),
        ("PATCH", "/v1beta/cachedContents/abc?updateMask=ttl;drop", {"ttl": "1s"}, 400),
        ("GET", "/v1beta/cachedContents/bad%20name", None, 400),
        ("GET", "/v1beta/cachedContents/unknown", None, 404),
    ])
    def test_bad_input(self, client, keys, upstream, method, path, body, status):
        keys(1)
        kwargs = {"json": body} if isinstance(body, (dict, list)) else {
            "data": body, "content_type": "application/json"}
        resp = client.open(path, method=method, headers=AUTH, **kwargs)
        assert resp.status_code == status, resp.get_data(as_text=True)
        assert resp.get_json()["error"]["code"] == status
        assert not upstream.requests


class TestExpiry:
    def test_owner_rows_expire_with_the_resource_and_are_purged(self, app, client, keys, upstream, rt):
        keys(1)
        file = upload(client)
        from balancer.extensions import db
        from balancer.models import ResourceOwner
        from balancer.models.types import utcnow
        from balancer.services import owners
        with app.app_context():
            row = ResourceOwner.query.filter_by(name=file["name"]).one()
            row.expires_at = utcnow() - timedelta(seconds=1)
            db.session.commit()
            assert owners.purge_expired() == 1
            assert ResourceOwner.query.count() == 0

    def test_expiry_is_read_from_google_times(self):
        from balancer.services.owners import expiry_of
        at = expiry_of("files/a", {"expirationTime": "2026-11-24T06:08:05.597016123Z"})
        assert (at.year, at.month, at.day, at.hour, at.microsecond) == (2026, 11, 24, 6, 597016)
        at = expiry_of("cachedContents/a", {"expireTime": "2026-11-24T06:08:05+01:00"})
        assert at.hour == 5 and at.utcoffset() == timedelta(0)


@pytest.fixture
def other_token(app, rt):
    """A managed client token, another client than ``TOKEN``: (its id, its headers)."""
    from balancer.services import client_tokens

    def make(name="other", **limits):
        with app.app_context():
            row, plain = client_tokens.create_token(rt, name)
            if limits:
                client_tokens.set_limits(rt, row.id, **limits)
            return row.id, {"x-goog-api-key": plain}
    return make


def unknown_answer(client, headers, name):
    """What a client is told about ``name`` when it does not exist."""
    resp = client.get(f"/v1beta/{name}", headers=headers)
    assert resp.status_code == 404
    return resp.get_json()


def renamed(answer, old, new):
    return json.loads(json.dumps(answer).replace(old, new))


class TestClientsOwnTheirFiles:
    def test_another_client_cannot_list_read_use_extend_or_delete_them(
            self, client, keys, upstream, other_token):
        keys(2)
        file = upload(client)
        cache = client.post("/v1beta/cachedContents", headers=AUTH, json={
            "model": MODEL, "ttl": "600s",
            "contents": [{"role": "user", "parts": [{"fileData": {"fileUri": file["uri"]}}]}]}).get_json()
        _, other = other_token()
        calls = len(upstream.requests)
        # Each is answered exactly as a name that does not exist: nothing to probe.
        missing_file = renamed(unknown_answer(client, other, "files/nosuchfile1"),
                               "files/nosuchfile1", file["name"])
        missing_cache = renamed(unknown_answer(client, other, "cachedContents/nosuchcache1"),
                                "cachedContents/nosuchcache1", cache["name"])
        for method, path, body, expected in (
                ("GET", f"/v1beta/{file['name']}", None, missing_file),
                ("DELETE", f"/v1beta/{file['name']}", None, missing_file),
                ("GET", f"/v1beta/{cache['name']}", None, missing_cache),
                ("PATCH", f"/v1beta/{cache['name']}?updateMask=ttl", {"ttl": "86400s"}, missing_cache),
                ("DELETE", f"/v1beta/{cache['name']}", None, missing_cache),
                ("POST", f"/v1beta/models/{MODEL}:generateContent",
                 {"contents": [{"parts": [{"fileData": {"fileUri": file["uri"]}}]}]}, missing_file),
                ("POST", f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
                 {"contents": [{"parts": [{"file_data": {"file_uri": file["name"]}}]}]}, missing_file),
                ("POST", f"/v1beta/models/{MODEL}:generateContent",
                 {"cachedContent": cache["name"], "contents": [{"parts": [{"text": "hi"}]}]},
                 missing_cache),
                ("POST", "/v1beta/cachedContents",
                 {"model": MODEL, "contents": [{"parts": [{"fileData": {"fileUri": file["uri"]}}]}]},
                 missing_file)):
            resp = client.open(path, method=method, headers=other, json=body)
            assert resp.status_code == 404, (method, path, resp.get_data(as_text=True))
            assert resp.get_json() == expected, (method, path)
        for kind in ("files", "cachedContents"):
            assert client.get(f"/v1beta/{kind}", headers=other).get_json() == {}
        assert len(upstream.requests) == calls  # none of it reached a key

        # The owner still has both, unchanged.
        assert client.get(f"/v1beta/{file['name']}", headers=AUTH).status_code == 200
        got = client.get(f"/v1beta/{cache['name']}", headers=AUTH).get_json()
        assert got["expireTime"] == cache["expireTime"]
        assert [f["name"] for f in client.get("/v1beta/files", headers=AUTH).get_json()["files"]] \
            == [file["name"]]
        assert generate_with(client, file).status_code == 200

    def test_two_tokens_from_the_environment_are_told_apart_without_storing_them(
            self, make_app, keys, upstream):
        keys(1)
        app = make_app(ALLOWED_TOKENS="first-env-token,second-env-token")
        app.extensions["balancer"].services.bootstrap()
        web = app.test_client()
        first, second = ({"x-goog-api-key": t} for t in ("first-env-token", "second-env-token"))
        started = start_upload(web, headers=first)
        assert started.status_code == 200
        file = send_chunk(web, started.headers["X-Goog-Upload-URL"], b"hello files").get_json()["file"]
        assert web.get(f"/v1beta/{file['name']}", headers=first).status_code == 200
        assert web.get(f"/v1beta/{file['name']}", headers=second).status_code == 404
        from balancer.crypto import token_hash
        from balancer.models import ResourceOwner
        with app.app_context():
            row = ResourceOwner.query.filter_by(name=file["name"]).one()
            assert row.client_id is None and row.client_tag
            assert row.client_tag not in ("first-env-token", token_hash("first-env-token"))
            assert row.client_tag not in token_hash("first-env-token")

    def test_a_managed_token_is_recorded_and_a_new_token_never_inherits_its_files(
            self, app, client, keys, upstream, rt, other_token):
        keys(1)
        token_id, owner = other_token("owner")
        started = start_upload(client, headers=owner)
        file = send_chunk(client, started.headers["X-Goog-Upload-URL"], b"data").get_json()["file"]
        from balancer.models import ResourceOwner
        from balancer.services import client_tokens
        with app.app_context():
            assert ResourceOwner.query.filter_by(name=file["name"]).one().client_id == token_id
            client_tokens.revoke(rt, token_id)
        # On SQLite the next token may get the revoked one's id; it is another client.
        _, successor = other_token("successor")
        assert client.get(f"/v1beta/{file['name']}", headers=successor).status_code == 404
        assert client.get("/v1beta/files", headers=successor).get_json() == {}

    def test_rows_from_before_owners_were_recorded_stay_open_to_every_client(
            self, make_app, app, client, keys, upstream, other_token):
        keys(1)
        file = upload(client)
        from balancer.extensions import db
        from balancer.models import ResourceOwner
        with app.app_context():
            row = ResourceOwner.query.filter_by(name=file["name"]).one()
            row.client_id = row.client_tag = None
            db.session.commit()
        _, other = other_token()
        worker = make_app()  # another process: nothing cached
        worker.extensions["balancer"].services.bootstrap()
        web = worker.test_client()
        assert web.get(f"/v1beta/{file['name']}", headers=other).status_code == 200
        assert generate_with(web, file).status_code == 200


class TestUploadURLsFollowTheirToken:
    def test_an_upload_url_stops_working_when_its_token_is_revoked_or_disabled(
            self, app, client, keys, upstream, rt, other_token):
        keys(1)
        from balancer.services import client_tokens
        for action in ("disable", "revoke"):
            token_id, headers = other_token(action)
            url = start_upload(client, headers=headers).headers["X-Goog-Upload-URL"]
            assert send_chunk(client, url, b"hello ", command="upload").status_code == 200
            with app.app_context():
                if action == "disable":
                    client_tokens.set_enabled(rt, token_id, False)
                else:
                    client_tokens.revoke(rt, token_id)
            calls = len(upstream.requests)
            resp = send_chunk(client, url, b"files", offset=6)
            assert resp.status_code == 404, action
            assert resp.get_json()["error"]["status"] == "NOT_FOUND"
            assert "start the upload again" in resp.get_json()["error"]["message"]
            assert len(upstream.requests) == calls

    def test_an_upload_started_without_a_token_goes_on_only_for_callers_served_without_one(
            self, make_app, upstream):
        from balancer.services import keys as key_service
        from tests.conftest import make_key
        app = make_app(ALLOWED_TOKENS="")
        rt = app.extensions["balancer"]
        rt.services.bootstrap()
        with app.app_context():
            key_service.add_keys(rt, [make_key("anon", 1)])
        local = app.test_client()
        url = start_upload(local).headers["X-Goog-Upload-URL"]
        assert send_chunk(local, url, b"hello ", command="upload").status_code == 200
        # The same URL from another machine: that caller would get no answer without a token.
        remote = app.test_client()
        remote.environ_base["REMOTE_ADDR"] = "203.0.113.9"
        calls = len(upstream.requests)
        resp = send_chunk(remote, url, b"files", offset=6)
        assert resp.status_code == 404
        assert len(upstream.requests) == calls

    def test_each_chunk_counts_against_the_tokens_limits(self, client, keys, upstream, other_token):
        keys(1)
        _, headers = other_token("limited", rpm=3, max_request_kb=1)
        url = start_upload(client, size=3000, headers=headers).headers["X-Goog-Upload-URL"]
        too_big = send_chunk(client, url, b"x" * 2048, command="upload")
        assert too_big.status_code == 413  # 2 KiB in one chunk, 1 KiB allowed
        assert send_chunk(client, url, b"x" * 1000, command="upload").status_code == 200
        assert send_chunk(client, url, b"x" * 1000, offset=1000, command="upload").status_code == 200
        over = send_chunk(client, url, b"x" * 1000, offset=2000)
        assert over.status_code == 429  # the start and two chunks made three this minute
        assert over.get_json()["error"]["status"] == "RESOURCE_EXHAUSTED"


class TestReferencesPerRequest:
    def test_more_than_50_distinct_files_and_caches_are_a_400(self, client, keys, upstream):
        keys(1)
        parts = [{"fileData": {"fileUri": f"files/f{i:03d}"}} for i in range(50)]
        many = {"cachedContent": "cachedContents/c051",
                "contents": [{"parts": parts + [{"text": "what is in them?"}]}]}
        resp = client.post(f"/v1beta/models/{MODEL}:generateContent", json=many, headers=AUTH)
        assert resp.status_code == 400
        error = resp.get_json()["error"]
        assert error["status"] == "INVALID_ARGUMENT" and "more than 50" in error["message"]
        assert not upstream.requests
        # Fifty distinct names, however often each is repeated, are allowed.
        del many["cachedContent"]
        many["contents"].append({"parts": parts})
        allowed = client.post(f"/v1beta/models/{MODEL}:generateContent", json=many, headers=AUTH)
        assert "more than 50" not in allowed.get_data(as_text=True)
        assert upstream.requests  # went on: these names are the upstream's to judge

    def test_a_request_naming_20_files_reads_their_owners_in_one_statement(
            self, make_app, client, keys, upstream):
        keys(1)
        files = [upload(client, f"file {i}".encode()) for i in range(20)]
        worker = make_app()  # another process: nothing cached
        worker.extensions["balancer"].services.bootstrap()
        from sqlalchemy import event

        from balancer.extensions import db
        statements = []

        def seen(_conn, _cursor, statement, *_args):
            if "resource_owners" in statement:
                statements.append(statement)
        with worker.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", seen)
        try:
            body = {"contents": [{"parts": [{"fileData": {"fileUri": f["uri"]}} for f in files]
                                  + [{"text": "compare them"}]}]}
            resp = worker.test_client().post(f"/v1beta/models/{MODEL}:generateContent",
                                             json=body, headers=AUTH)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert len(statements) == 1, statements


class TestOpenAIRoute:
    def test_a_cached_content_named_in_an_openai_chat_follows_its_key_and_its_client(
            self, client, keys, upstream, other_token):
        keys(3)
        made = client.post("/v1beta/cachedContents", headers=AUTH, json={
            "model": MODEL, "contents": [{"role": "user", "parts": [{"text": "long context"}]}]})
        cache, maker = made.get_json()["name"], upstream.requests[-1]["key"]

        def chat(token, i):
            return client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {token}"},
                               json={"model": MODEL, "messages": [{"role": "user", "content": f"q{i}"}],
                                     "extra_body": {"google": {"cached_content": cache}}})
        for i in range(4):
            resp = chat(TOKEN, i)
            assert resp.status_code == 200, resp.get_data(as_text=True)
            assert upstream.requests[-1]["key"] == maker
        _, other = other_token()
        calls = len(upstream.requests)
        refused = chat(other["x-goog-api-key"], 9)
        assert refused.status_code == 404
        error = refused.get_json()["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "not_found"
        assert cache in error["message"] and "not known to Balancer" in error["message"]
        assert len(upstream.requests) == calls
