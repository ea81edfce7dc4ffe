"""Hostile input on every proxy route: never a 500, never a stack trace, never a key.

Hypothesis generates wrong JSON types, huge numbers and strings, odd unicode,
path tricks, hostile headers, truncated and oversize bodies. The app runs
against the fake upstream with good keys, so input that passes Balancer's
checks really goes upstream and comes back.
"""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TOKEN

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
OPENAI_AUTH = {"Authorization": f"Bearer {TOKEN}"}
GEMINI_AUTH = {"x-goog-api-key": TOKEN}
ANTHROPIC_AUTH = {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"}

POST_ROUTES = [
    ("/v1/chat/completions", OPENAI_AUTH),
    ("/openai/v1/chat/completions", OPENAI_AUTH),
    ("/v1/embeddings", OPENAI_AUTH),
    ("/v1/images/generations", OPENAI_AUTH),
    ("/v1beta/models/gemini-2.5-flash:generateContent", GEMINI_AUTH),
    ("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", GEMINI_AUTH),
    ("/v1beta/models/gemini-2.5-flash:streamGenerateContent", GEMINI_AUTH),
    ("/v1/models/gemini-2.5-flash:countTokens", GEMINI_AUTH),
    ("/gemini/v1beta/models/gemini-embedding-001:embedContent", GEMINI_AUTH),
    ("/v1beta/models/gemini-embedding-001:batchEmbedContents", GEMINI_AUTH),
    ("/v1beta/cachedContents", GEMINI_AUTH),
    ("/v1/messages", ANTHROPIC_AUTH),
    ("/anthropic/v1/messages/count_tokens", ANTHROPIC_AUTH),
]

# Strings that have broken parsers, URL builders and loggers elsewhere.
NASTY = st.sampled_from([
    "", " ", "..", "../../etc/passwd", "%2e%2e%2f", "models/../../x", "a" * 5000, "\u0000",
    "\ud7ff\ue000", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "‮reversed", "null", "true", "NaN", "1e309", "?key=x",
    "gemini-2.5-flash?key=AIza", "gemini-2.5-flash#frag", "gemini 2.5", "groq/", "/", "//",
    "gemini-2.5-flash:generateContent", "pool/../model", "\\x00", "%00", "{{7*7}}", "${jndi:x}",
])
TEXT = st.one_of(NASTY, st.text(max_size=300))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
                   st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(TEXT, inner, max_size=5)), max_leaves=25)
FIELDS = ["model", "messages", "stream", "stream_options", "input", "prompt", "contents",
          "generationConfig", "safetySettings", "tools", "cachedContent", "n", "max_tokens",
          "systemInstruction", "ttl", "extra_body", "reasoning_effort"]
BODIES = st.one_of(
    JSON,
    st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6),
    st.fixed_dictionaries({"model": st.one_of(NASTY, JSON), "messages": JSON}),
    st.fixed_dictionaries({"contents": JSON}, optional={"generationConfig": JSON,
                                                        "cachedContent": TEXT}),
)


@pytest.fixture
def fuzz_client(make_app, upstream):
    """An app with good keys, a 1 MiB body limit, and the keys it must never show."""
    from balancer.services import keys as key_service
    from tests.fake_upstream import make_key
    app = make_app(MAX_REQUEST_MB="1")
    rt = app.extensions["balancer"]
    rt.services.bootstrap()
    secrets = [make_key("fuzz", i) for i in range(3)]
    with app.app_context():
        key_service.add_keys(rt, secrets)
    return app.test_client(), secrets


def check(resp, secrets, path: str) -> None:
    """What a client may see: a real status, an API-shaped error, nothing secret."""
    data = resp.get_data()
    text = data.decode("utf-8", "replace")
    assert resp.status_code != 500, text[:500]
    assert "Traceback" not in text and 'File "' not in text
    for secret in secrets:
        assert secret not in text and secret not in str(resp.headers)
    if resp.status_code >= 400:
        body = json.loads(data)
        error = body[0]["error"] if isinstance(body, list) else body["error"]
        assert isinstance(error, dict) and error.get("message"), text[:300]
        if "/v1beta" in path or ":" in path.rsplit("/", 1)[-1]:
            assert error.get("status"), f"not Google's envelope on {path}: {text[:200]}"
        if "/messages" in path:
            assert body["type"] == "error" and error.get("type"), \
                f"not Anthropic's envelope on {path}: {text[:200]}"


@pytest.mark.parametrize("path, headers", POST_ROUTES)
def test_hostile_json_bodies(fuzz_client, path, headers):
    client, secrets = fuzz_client

    @FUZZ
    @given(body=BODIES)
    def run(body):
        raw = json.dumps(body, allow_nan=False).encode()
        check(client.post(path, data=raw, headers={**headers, "Content-Type": "application/json"}),
              secrets, path)
    run()


@pytest.mark.parametrize("path, headers", POST_ROUTES[:1] + POST_ROUTES[4:6] + POST_ROUTES[-1:])
def test_truncated_binary_and_oversize_bodies(fuzz_client, path, headers):
    client, secrets = fuzz_client
    headers = {**headers, "Content-Type": "application/json"}  # what the parser gets
    good = json.dumps({"model": "gemini-2.5-flash", "contents": [{"parts": [{"text": "x"}]}],
                       "messages": [{"role": "user", "content": "x"}]}).encode()

    @FUZZ
    @given(cut=st.integers(min_value=0, max_value=len(good) - 1), junk=st.binary(max_size=200))
    def run(cut, junk):
        for raw in (good[:cut], junk, good[:cut] + junk):
            check(client.post(path, data=raw, headers=headers), secrets, path)
    run()
    big = client.post(path, data=b'{"model": "' + b"a" * (2 * 1024 * 1024) + b'"}', headers=headers)
    assert big.status_code == 413
    check(big, secrets, path)


def test_hostile_paths(fuzz_client):
    client, secrets = fuzz_client
    templates = ["/v1beta/models/{}:generateContent", "/v1beta/models/{}", "/v1/models/{}",
                 "/v1beta/files/{}", "/v1beta/cachedContents/{}", "/v1beta/models/x:{}",
                 "/gemini/v1beta/models/{}:streamGenerateContent"]

    @FUZZ
    @given(template=st.sampled_from(templates), part=TEXT, method=st.sampled_from(["GET", "POST"]),
           raw=st.booleans())
    def run(template, part, method, raw):
        segment = part if raw else quote(part, safe="")
        if raw and any(c in part for c in "?#") or "\x00" in part:
            segment = quote(part, safe="/")
        path = template.format(segment)
        headers = GEMINI_AUTH if "v1beta" in path else OPENAI_AUTH
        resp = client.open(path, method=method, headers=headers,
                           json={"contents": [{"parts": [{"text": "x"}]}]} if method == "POST" else None)
        check(resp, secrets, path.split("?")[0])
    run()


def test_hostile_headers_and_tokens(fuzz_client):
    client, secrets = fuzz_client
    header_text = st.text(alphabet=st.characters(blacklist_characters="\r\n\x00",
                                                 blacklist_categories=("Cs",)), max_size=400)

    @FUZZ
    @given(token=header_text, upload=header_text, which=st.sampled_from(
        ["Authorization", "x-goog-api-key", "X-Goog-Upload-Header-Content-Length",
         "X-Goog-Upload-Header-Content-Type", "X-Goog-Upload-Command", "Content-Type"]))
    def run(token, upload, which):
        for path, base in (("/v1/chat/completions", {}), ("/v1beta/models/gemini-2.5-flash:generateContent", {}),
                           ("/upload/v1beta/files", {"X-Goog-Upload-Protocol": "resumable",
                                                     "X-Goog-Upload-Command": "start"})):
            headers = {**base, which: upload, "Authorization": f"Bearer {token}"}
            try:
                resp = client.post(path, headers=headers, json={"model": "gemini-2.5-flash"})
            except ValueError:
                continue  # the test client itself refuses the header (not sent at all)
            check(resp, secrets, path)
    run()


def test_hostile_query_strings(fuzz_client):
    client, secrets = fuzz_client

    @FUZZ
    @given(alt=TEXT, size=TEXT, token=TEXT, upload=TEXT)
    def run(alt, size, token, upload):
        q = lambda v: quote(v, safe="")  # noqa: E731
        for path in (f"/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt={q(alt)}",
                     f"/v1beta/models?pageSize={q(size)}&pageToken={q(token)}",
                     f"/v1beta/files?pageSize={q(size)}&pageToken={q(token)}",
                     f"/upload/v1beta/files?upload_id={q(upload)}"):
            method = "POST" if (":" in path or "upload" in path) else "GET"
            resp = client.open(path, method=method, headers=GEMINI_AUTH,
                               json={"contents": [{"parts": [{"text": "x"}]}]} if method == "POST" else None)
            check(resp, secrets, path.split("?")[0])
    run()


# --- poisoned strings and what reaches the database ---------------------------------------

#: Characters no column or driver takes as they are, and text longer than any column.
POISON_CHARS = st.sampled_from(["\x00", "\ud800", "\udfff", "\ud83d", "a", "é", "😀", "\n",
                                "'", '"', "<", "\u202e", "m"])
POISON = st.one_of(
    st.lists(POISON_CHARS, min_size=1, max_size=40).map("".join),
    st.integers(min_value=120, max_value=400).map(lambda n: "m" * n + "\x00\ud800"),
    st.sampled_from(["\x00" * 200, "\ud800" * 130, "gemini-2.5-flash\x00", "m" * 129,
                     "gemini-2.5-flash" + "\udfff" * 150]),
)
GOOD_CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "good"}]}
GOOD_MARK = "fuzz-good-client"


def poisoned(where: str, poison: str) -> tuple[str, dict, dict]:
    """A request with ``poison`` in one field: (path, body, extra headers)."""
    user = lambda content: [{"role": "user", "content": content}]  # noqa: E731
    openai = {
        "model": {"model": poison, "messages": user("x")},
        "content": {"model": "gemini-2.5-flash", "messages": user(poison)},
        "content_part": {"model": "gemini-2.5-flash",
                         "messages": user([{"type": "text", "text": poison}])},
        "content_part_not_object": {"model": "gemini-2.5-flash", "messages": user([poison])},
        "part_type": {"model": "gemini-2.5-flash", "messages": user([{"type": poison}])},
        "role": {"model": "gemini-2.5-flash", "messages": [{"role": poison, "content": "x"}]},
        "name": {"model": "gemini-2.5-flash",
                 "messages": [{"role": "user", "name": poison, "content": "x"}]},
        "field_name": {"model": "gemini-2.5-flash", "messages": user("x"), poison: 1},
        "tool_name": {"model": "gemini-2.5-flash", "messages": user("x"),
                      "tools": [{"type": "function", "function": {"name": poison}}]},
        "user": {"model": "gemini-2.5-flash", "messages": user("x"), "user": poison},
        "embedding_model": {"model": poison, "input": "x"},
    }
    if where in openai:
        path = "/v1/embeddings" if where == "embedding_model" else "/v1/chat/completions"
        return path, openai[where], {}
    gemini = {"gemini_part": {"contents": [{"parts": [{"text": poison}]}]},
              "gemini_cached": {"contents": [{"parts": [{"text": "x"}]}], "cachedContent": poison},
              "gemini_field": {"contents": [{"parts": [{"text": "x"}]}], poison: {}}}
    if where in gemini:
        return "/v1beta/models/gemini-2.5-flash:generateContent", gemini[where], {}
    # Headers carry Latin-1 only: what is possible there is long and odd, never a NUL.
    latin = poison.encode("latin-1", "replace").decode("latin-1").replace("\x00", "?")
    latin = latin.replace("\n", " ") or "x"
    return "/v1/chat/completions", GOOD_CHAT, {"User-Agent": latin * 20,
                                               "X-Request-Id": latin, "OpenAI-Organization": latin}


PLACES = ["model", "content", "content_part", "content_part_not_object", "part_type", "role",
          "name", "field_name", "tool_name", "user", "embedding_model", "gemini_part",
          "gemini_cached", "gemini_field", "headers"]


def test_poisoned_strings_in_every_field_never_cost_a_good_row(fuzz_client):
    """NULs, lone surrogates (sent as JSON escapes) and overlong text in every field a
    client sends, a client token with a long name of odd characters: after each, the
    next flush writes every row, the good request's among them."""
    import sqlalchemy as sa

    from balancer.extensions import db
    from balancer.models import KeyEvent, RequestLog, UsageBucket
    from balancer.services import client_tokens
    client, secrets = fuzz_client
    app = client.application
    rt = app.extensions["balancer"]
    with app.app_context():
        row, odd_token = client_tokens.create_token(rt, "é😀\u202e'\"<" + "n" * 121)
        odd_id = row.id
    good_auth = {"Authorization": f"Bearer {TOKEN}"}
    sent = {"good": 0}

    def count(stmt):
        with app.app_context():
            return db.session.scalar(stmt)

    @settings(FUZZ, max_examples=60)
    @given(where=st.sampled_from(PLACES), poison=POISON)
    def run(where, poison):
        path, body, extra = poisoned(where, poison)
        # json.dumps escapes what is not ASCII: a lone surrogate goes as "\ud800".
        raw = json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {odd_token}", "Content-Type": "application/json",
                   **extra}
        check(client.post(path, data=raw, headers=headers), secrets, path)
        good = client.post("/v1/chat/completions", json=GOOD_CHAT, headers=good_auth)
        assert good.status_code == 200
        sent["good"] += 1
        buffered = len(rt.records)
        before = count(sa.select(sa.func.count()).select_from(RequestLog))
        rt.services.flush()
        assert len(rt.records) == 0 and not rt.services.refused_lately()
        assert count(sa.select(sa.func.count()).select_from(RequestLog)) == before + buffered
        assert count(sa.select(sa.func.count()).select_from(RequestLog).where(
            RequestLog.client_id.is_(None), RequestLog.status == 200,
            RequestLog.route == "chat.completions")) == sent["good"]
    run()
    # What was stored is clean: no NUL, nothing longer than its column.
    with app.app_context():
        for model in (RequestLog, KeyEvent, UsageBucket):
            table = model.__table__
            texts = [c for c in table.c if isinstance(c.type, sa.String)]
            for row in db.session.execute(sa.select(*texts)):
                for column, value in zip(texts, row):
                    if isinstance(value, str):
                        assert "\x00" not in value, (table.name, column.name, value[:80])
                        assert len(value) <= column.type.length, (table.name, column.name)
    # Every record is in the request log and in the usage totals alike.
    assert count(sa.select(sa.func.sum(UsageBucket.count))) == \
        count(sa.select(sa.func.count()).select_from(RequestLog))
    assert count(sa.select(sa.func.count()).select_from(RequestLog).where(
        RequestLog.client_id == odd_id)) > 0
