"""End to end: the official google-genai client through Balancer under gunicorn."""
from __future__ import annotations

import pytest
from google import genai
from google.genai import errors, types

from tests.conftest import TOKEN
from tests.fake_upstream import make_key

pytestmark = pytest.mark.e2e
MODEL = "gemini-2.5-flash"


def genai_client(live, version=None, token=TOKEN) -> genai.Client:
    options = types.HttpOptions(base_url=live.url, timeout=20_000,
                                **({"api_version": version} if version else {}))
    return genai.Client(api_key=token, http_options=options)


@pytest.mark.parametrize("version", [None, "v1beta"])
def test_google_genai_generates_streams_counts_embeds_and_lists(start, upstream, version):
    live = start([make_key("genai", i) for i in range(2)])
    client = genai_client(live, version)
    reply = client.models.generate_content(model=MODEL, contents="hello genai")
    assert "hello genai" in reply.text
    assert reply.usage_metadata.total_token_count > 0
    pieces = [c.text or "" for c in client.models.generate_content_stream(model=MODEL, contents="stream genai")]
    assert len(pieces) > 1 and "stream genai" in "".join(pieces)
    assert client.models.count_tokens(model=MODEL, contents="count me").total_tokens > 0
    emb = client.models.embed_content(model="gemini-embedding-001", contents=["a", "b"])
    assert len(emb.embeddings) == 2 and emb.embeddings[0].values
    names = [m.name for m in client.models.list()]
    assert f"models/{MODEL}" in names
    # The client's calls keep the version it chose (Balancer's own model-list fetch, at
    # start, is its own and uses v1beta).
    paths = {r["path"].split("/")[1] for r in upstream.requests
             if r["flavour"] == "native" and ":" in r["path"]}
    assert paths == {version or "v1"}


def test_google_genai_sees_failover_and_clear_errors(start, upstream):
    keys = [make_key("genai-f", i) for i in range(3)]
    upstream.set_key(keys[0], "invalid")
    upstream.set_key(keys[1], "rate_minute", retry_delay="60s")
    live = start(keys)
    client = genai_client(live, "v1beta")
    for i in range(6):
        assert client.models.generate_content(model=MODEL, contents=f"q{i}").text
    wrong = genai_client(live, "v1beta", token="wrong")  # kept: a dropped Client closes itself
    with pytest.raises(errors.ClientError) as err:
        wrong.models.generate_content(model=MODEL, contents="x")
    assert err.value.code == 401
    with pytest.raises(errors.ClientError) as err:
        client.models.generate_content(model="no-such-model", contents="x")
    assert err.value.code == 404 and "no-such-model" in err.value.message


def test_both_official_clients_against_a_gemini_pool_and_an_openai_compatible_pool(start, upstream):
    import time

    import openai

    from tests.live import flask_cli
    live = start([make_key("two", i) for i in range(2)])
    env = live.env
    add = flask_cli(env, "pools", "add", "groq", "--kind", "openai",
                    "--base-url", f"{upstream.url}/openai/v1")
    assert add.returncode == 0, add.stderr
    keys = flask_cli(env, "keys", "add", "--pool", "groq",
                     *[make_key("groq", i, openai=True) for i in range(2)])
    assert keys.stdout.startswith("2 added"), keys.stdout + keys.stderr
    refresh = flask_cli(env, "models", "refresh")
    assert refresh.returncode == 0 and "groq:" in refresh.stdout, refresh.stdout + refresh.stderr
    time.sleep(1.5)  # the running workers pick the new pool, keys and lists up in their sync loop

    oa = openai.OpenAI(base_url=f"{live.url}/v1", api_key=TOKEN, max_retries=0, timeout=20)
    ids = {m.id: m.owned_by for m in oa.models.list()}
    assert ids["gpt-4o-mini"] == "groq" and ids[MODEL] == "gemini"
    reply = oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "to groq"}])
    assert "to groq" in reply.choices[0].message.content
    assert upstream.requests[-1]["flavour"] == "provider"
    reply = oa.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "to gemini"}])
    assert "to gemini" in reply.choices[0].message.content
    assert upstream.requests[-1]["flavour"] == "native"  # translated for Gemini's own API

    client = genai_client(live, "v1beta")
    assert "native" in client.models.generate_content(model=MODEL, contents="native").text
    assert upstream.requests[-1]["flavour"] == "native"


def test_google_genai_files_and_caches_stay_with_the_key_that_made_them(start, upstream, tmp_path):
    """Under gunicorn's several workers: the owner is found whichever worker answers."""
    keys = [make_key("files", i) for i in range(3)]
    live = start(keys)
    client = genai_client(live, "v1beta")
    path = tmp_path / "notes.txt"
    path.write_text("the secret word is balance")
    file = client.files.upload(file=str(path), config={"mime_type": "text/plain",
                                                        "display_name": "notes"})
    assert file.name.startswith("files/") and file.size_bytes == path.stat().st_size
    uploads = [r for r in upstream.requests if r["path"].startswith("/upload/")]
    owner = uploads[0]["key"]
    assert {r["key"] for r in uploads if r["key"]} == {owner}

    for i in range(4):
        reply = client.models.generate_content(model=MODEL, contents=[file, f"question {i}"])
        assert reply.text
        assert upstream.requests[-1]["key"] == owner
    assert client.files.get(name=file.name).display_name == "notes"
    assert file.name in [f.name for f in client.files.list()]

    cache = client.caches.create(model=MODEL, config=types.CreateCachedContentConfig(
        contents=[file], ttl="300s"))
    assert upstream.requests[-1]["key"] == owner
    reply = client.models.generate_content(
        model=MODEL, contents="from the cache",
        config=types.GenerateContentConfig(cached_content=cache.name))
    assert reply.text and upstream.requests[-1]["key"] == owner
    client.caches.delete(name=cache.name)
    client.files.delete(name=file.name)
    with pytest.raises(errors.ClientError) as err:
        client.files.get(name=file.name)
    assert err.value.code == 404
