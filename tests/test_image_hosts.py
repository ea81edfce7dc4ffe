"""Generated images as links: uploads to SM.MS, PicGo and ImgBed-style hosts (fakes on
loopback speaking each host's shape), the fallback to inline data, the token kept secret."""
from __future__ import annotations

import base64
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import Pool
from balancer.services import pools as pool_service
from balancer.services.pools import PoolError
from tests.fake_upstream.native_answer import PNG_1X1

TOKEN = "host-token-9f8e7d6c5b4a39281706"
PNG = base64.b64decode(PNG_1X1)
IMAGE_CHAT_MODEL = "gemini-2.0-flash-preview-image-generation-image"


class FakeHost:
    """One image host on loopback: ``shape`` is smms, picgo, imgbed or broken (HTTP 500)."""

    def __init__(self, shape: str):
        self.shape = shape
        self.uploads: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                fake.uploads.append({"path": parts.path, "query": parse_qs(parts.query),
                                     "headers": dict(self.headers), "body": body})
                status, doc = fake.answer(len(fake.uploads))
                raw = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, n: int) -> tuple[int, object]:
        if self.shape == "smms":
            return 200, {"success": True, "code": "success", "message": "Upload success.",
                         "data": {"url": f"https://s2.loli.net/fake/{n}.png", "width": 1},
                         "RequestId": "X"}
        if self.shape == "picgo":
            return 200, {"success": True, "result": [f"https://cdn.example.com/{n}.png"]}
        if self.shape == "imgbed":
            return 200, [{"src": f"/file/{n}_image.png"}]
        return 500, {"success": False, "message": "storage is full"}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host():
    made = []

    def make(shape: str) -> FakeHost:
        made.append(FakeHost(shape))
        return made[-1]
    yield make
    for fake in made:
        fake.close()


@pytest.fixture
def image_host(app, rt):
    """Set the default pool's image host."""
    def set_(kind: str, base_url: str, token=TOKEN):
        with app.app_context():
            pool_service.edit_pool(rt, "gemini", image_host={"kind": kind, "base_url": base_url,
                                                             "token": token})
    return set_


def generate(client, auth, **extra):
    resp = client.post("/v1/images/generations", headers=auth,
                       json={"model": "gemini-2.5-flash-image", "prompt": "a pelican", **extra})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def test_an_image_generation_asked_as_url_answers_the_smms_link(client, auth, keys, host,
                                                                image_host):
    keys(1)
    smms = host("smms")
    image_host("smms", smms.url)
    doc = generate(client, auth, response_format="url")
    assert doc["data"] == [{"url": "https://s2.loli.net/fake/1.png"}]
    sent = smms.uploads[0]
    assert sent["path"] == "/upload" and sent["headers"]["Authorization"] == TOKEN
    assert b'name="smfile"' in sent["body"] and PNG in sent["body"]


def test_b64_json_keeps_the_bytes_and_uploads_nothing(client, auth, keys, host, image_host):
    keys(1)
    smms = host("smms")
    image_host("smms", smms.url)
    doc = generate(client, auth, response_format="b64_json")
    assert doc["data"] == [{"b64_json": PNG_1X1}] and smms.uploads == []


def test_an_image_chat_answer_links_the_picgo_url(client, auth, keys, host, image_host):
    keys(1)
    picgo = host("picgo")
    image_host("picgo", picgo.url)
    resp = client.post("/v1/chat/completions", headers=auth, json={
        "model": IMAGE_CHAT_MODEL, "messages": [{"role": "user", "content": "draw"}]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    content = resp.get_json()["choices"][0]["message"]["content"]
    assert "![image](https://cdn.example.com/1.png)" in content and "base64" not in content
    sent = picgo.uploads[0]
    assert sent["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert b'name="files"' in sent["body"] and PNG in sent["body"]


def test_an_imgbed_answer_is_the_site_origin_plus_src(client, auth, keys, host, image_host):
    keys(1)
    imgbed = host("imgbed")
    image_host("imgbed", imgbed.url + "/")
    doc = generate(client, auth, response_format="url")
    assert doc["data"] == [{"url": f"{imgbed.url}/file/1_image.png"}]
    sent = imgbed.uploads[0]
    assert sent["query"] == {"authCode": [TOKEN]} and b'name="file"' in sent["body"]


def test_a_failed_upload_keeps_the_image_inline_and_logs_why(client, auth, keys, host,
                                                              image_host, caplog):
    keys(1)
    broken = host("broken")
    image_host("imgbed", broken.url)
    with caplog.at_level(logging.WARNING):
        doc = generate(client, auth, response_format="url")
        resp = client.post("/v1/chat/completions", headers=auth, json={
            "model": IMAGE_CHAT_MODEL, "messages": [{"role": "user", "content": "draw"}]})
    assert doc["data"] == [{"url": f"data:image/png;base64,{PNG_1X1}"}]
    assert f"(data:image/png;base64,{PNG_1X1})" in resp.get_json()["choices"][0]["message"]["content"]
    assert len(broken.uploads) == 2
    reasons = [r.getMessage() for r in caplog.records if "kept inline" in r.getMessage()]
    assert len(reasons) == 2 and "storage is full" in reasons[0]
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


def test_an_unreachable_host_falls_back_without_naming_the_token(client, auth, keys,
                                                                 image_host, caplog):
    keys(1)
    # A closed port: the library's own error text would carry the URL, authCode included.
    gone = FakeHost("imgbed")
    gone.close()
    image_host("imgbed", gone.url)
    with caplog.at_level(logging.WARNING):
        doc = generate(client, auth, response_format="url")
    assert doc["data"][0]["url"].startswith("data:image/png;base64,")
    assert any("ConnectionError" in r.getMessage() for r in caplog.records)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


def test_the_token_is_stored_encrypted_and_listed_as_set(app, rt, image_host):
    image_host("smms", "")
    with app.app_context():
        stored = db.session.scalar(sa.select(Pool.image_host).where(Pool.name == "gemini"))
        listed = pool_service.list_pools()[0]["image_host"]
    assert TOKEN not in json.dumps(stored) and rt.box.decrypt(stored["token"]) == TOKEN
    assert listed == {"kind": "smms", "base_url": None, "token": "set"}
    (pool,) = (p for p in rt.catalog.pools.values() if p.name == "gemini")
    assert pool.image_host.endpoint == "https://sm.ms/api/v2"
    assert TOKEN not in repr(pool)


def test_an_edit_without_a_token_keeps_the_stored_one(app, rt, image_host):
    image_host("picgo", "http://127.0.0.1:36677")
    image_host("picgo", "http://10.0.0.2:36677", token=None)
    host = next(iter(rt.catalog.pools.values())).image_host
    assert host.base_url == "http://10.0.0.2:36677" and host.token == TOKEN
    image_host("off", "")
    assert next(iter(rt.catalog.pools.values())).image_host is None


@pytest.mark.parametrize("change, words", [
    ({"kind": "imgur"}, "expected one of smms, picgo, imgbed"),
    ({"kind": "imgbed", "token": "x"}, "a base URL is required"),
    ({"kind": "smms", "token": ""}, "a token is required"),
    ({"kind": "picgo", "base_url": "ftp://h"}, "expected http/https"),
    ({"kind": "picgo", "token": "two words"}, "no spaces"),
])
def test_a_bad_image_host_is_refused(app, rt, change, words):
    with app.app_context(), pytest.raises(PoolError) as err:
        pool_service.edit_pool(rt, "gemini", image_host=change)
    assert words in str(err.value)


def test_the_cli_sets_the_host_and_never_prints_the_token(app, rt):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["pools", "edit", "gemini", "--image-host",
                                 "picgo=http://127.0.0.1:36677", "--image-host-token", "-"],
                           input=TOKEN + "\n")
    assert result.exit_code == 0, result.output
    listed = runner.invoke(args=["pools", "list", "--json"]).output
    text = runner.invoke(args=["pools", "list"]).output
    assert json.loads(listed)[0]["image_host"]["token"] == "set"
    assert "images to picgo at http://127.0.0.1:36677 (token set)" in text
    assert TOKEN not in listed + text
    host = next(iter(rt.catalog.pools.values())).image_host
    assert (host.kind, host.token) == ("picgo", TOKEN)
    result = runner.invoke(args=["pools", "edit", "gemini", "--image-host", "flickr"])
    assert result.exit_code != 0 and "expected one of smms, picgo, imgbed" in result.output


def test_secrets_rotate_re_encrypts_the_image_host_token(make_app, upstream):
    from cryptography.fernet import Fernet

    old = make_app()
    with old.app_context():
        pool_service.ensure_default_pool()
        pool_service.edit_pool(old.extensions["balancer"], "gemini",
                               image_host={"kind": "smms", "base_url": "", "token": TOKEN})
    new_key = Fernet.generate_key().decode()
    new = make_app(ENCRYPTION_KEY=new_key)
    result = new.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    assert "the image host tokens of 1 pools re-encrypted" in result.output
    assert TOKEN not in result.output
    with new.app_context():
        stored = db.session.scalar(sa.select(Pool.image_host).where(Pool.name == "gemini"))
    assert Fernet(new_key.encode()).decrypt(stored["token"].encode()).decode() == TOKEN


def test_each_image_of_a_chat_answer_is_linked_or_kept_on_its_own():
    from balancer.proxy.image_links import chat_doc

    first, second = "iVBORw0KGgoA", "R0lGODlhAQAB"
    doc = {"choices": [{"message": {"content": f"Here:\n\n![image](data:image/png;base64,{first})"
                                               f"\n\n![image](data:image/gif;base64,{second})"}}]}
    sent = []

    def upload(b64, mime):
        sent.append((b64, mime))
        return "https://cdn.example.com/a.png" if mime == "image/png" else None
    assert chat_doc(doc, upload) is True
    assert doc["choices"][0]["message"]["content"] == (
        f"Here:\n\n![image](https://cdn.example.com/a.png)\n\n![image](data:image/gif;base64,{second})")
    assert sent == [(first, "image/png"), (second, "image/gif")]


def test_an_answer_whose_uploads_all_fail_is_sent_as_it_came():
    from balancer.proxy.image_links import images_doc

    doc = {"data": [{"b64_json": PNG_1X1}], "created": 1}
    assert images_doc(doc, lambda b64, mime: None) is False
    assert doc == {"data": [{"b64_json": PNG_1X1}], "created": 1}
