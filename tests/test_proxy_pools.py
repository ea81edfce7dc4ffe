"""Two pools side by side: Gemini and an OpenAI-compatible provider."""
from __future__ import annotations

import base64
import json

import pytest

from balancer.extensions import db
from balancer.models import Pool
from balancer.services import keys as key_service
from balancer.services import pools as pool_service
from tests.fake_upstream import make_key


@pytest.fixture
def provider_pool(app, rt, upstream):
    """An ``openai`` pool named "groq" on the fake's OpenAI-compatible provider, with 2 keys."""
    with app.app_context():
        pool = Pool(name="groq", kind="openai", base_url=f"{upstream.url}/openai/v1", overrides={})
        db.session.add(pool)
        db.session.commit()
        made = [make_key("groq", i, openai=True) for i in range(2)]
        key_service.add_keys(rt, made, pool)
        pool_service.load_catalog(rt)
    return made


def chat(client, auth, model, stream=False):
    return client.post("/v1/chat/completions", headers=auth, json={
        "model": model, "stream": stream, "messages": [{"role": "user", "content": "to the pool"}]})


def test_a_prefixed_model_goes_to_its_pool_with_the_prefix_removed(client, auth, keys, provider_pool, upstream):
    gemini_keys = keys(1)
    resp = chat(client, auth, "groq/gpt-4o-mini")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    sent = upstream.requests[-1]
    assert sent["flavour"] == "provider" and sent["body"]["model"] == "gpt-4o-mini"
    assert sent["headers"]["authorization"] in {f"Bearer {k}" for k in provider_pool}
    assert chat(client, auth, "gemini-2.5-flash").status_code == 200
    assert upstream.requests[-1]["key"] in gemini_keys


def test_failover_stays_inside_the_pool(app, client, auth, keys, provider_pool, upstream, rt):
    keys(1)
    dead, good = provider_pool
    upstream.set_key(dead, "invalid")
    for _ in range(3):
        assert chat(client, auth, "groq/gpt-4o-mini").status_code == 200
    assert all(r["flavour"] == "provider" for r in upstream.requests)
    rt.services.flush()
    with app.app_context():
        rows = {r["key"]: r for r in key_service.list_keys() if r["pool"] == "groq"}
    assert sorted(r["status"] for r in rows.values()) == ["active", "disabled"]


def test_a_provider_stream_hides_the_usage_chunk_it_was_asked_for(client, auth, provider_pool, upstream):
    resp = chat(client, auth, "groq/gpt-4o-mini", stream=True)
    events = [b.strip()[5:].strip() for b in resp.get_data(as_text=True).split("\n\n") if b.strip()]
    assert events[-1] == "[DONE]"
    assert all(json.loads(e)["choices"] for e in events[:-1])
    assert upstream.requests[-1]["body"]["stream_options"] == {"include_usage": True}


def test_a_provider_rate_limit_cools_the_key_and_the_client_still_gets_an_answer(
        client, auth, provider_pool, upstream):
    limited, good = provider_pool
    upstream.set_key(limited, "rate_minute")
    for _ in range(4):
        assert chat(client, auth, "groq/gpt-4o-mini").status_code == 200
    assert upstream.count(key=limited) == 1


def test_a_provider_client_error_keeps_its_openai_fields(client, auth, provider_pool):
    resp = chat(client, auth, "groq/no-such-model")
    assert resp.status_code == 404
    err = resp.get_json()["error"]
    assert err["code"] == "model_not_found" and "no-such-model" in err["message"]


def test_gemini_format_requests_cannot_reach_an_openai_pool(client, provider_pool):
    from tests.conftest import TOKEN
    resp = client.post("/v1beta/models/groq/gpt-4o-mini:generateContent",
                       headers={"x-goog-api-key": TOKEN}, json={"contents": []})
    assert resp.status_code == 400
    assert "OpenAI API only" in resp.get_json()["error"]["message"]


PNG = b"\x89PNG\r\n\x1a\n"


def is_png(b64: str) -> bool:
    return base64.b64decode(b64).startswith(PNG)


@pytest.mark.parametrize("model, flavour, path", [
    ("imagen-3.0-generate-002", "native", "/models/imagen-3.0-generate-002:predict"),
    ("gemini-2.5-flash-image", "native", "/models/gemini-2.5-flash-image:generateContent"),
    ("groq/dall-e-3", "provider", "/images/generations"),
])
def test_image_generation_goes_to_the_pools_upstream(client, auth, keys, provider_pool, upstream,
                                                     model, flavour, path):
    keys(1)
    resp = client.post("/v1/images/generations", headers=auth,
                       json={"model": model, "prompt": "a pelican", "n": 2})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data = resp.get_json()["data"]
    assert len(data) == 2 and all(is_png(d["b64_json"]) for d in data)
    assert upstream.requests[-1]["flavour"] == flavour
    assert upstream.requests[-1]["path"].endswith(path)


@pytest.fixture
def openai_client(app):
    """The official openai client, speaking to Balancer in process."""
    import httpx2
    import openai

    from tests.conftest import TOKEN
    http = httpx2.Client(transport=httpx2.WSGITransport(app=app))
    return openai.OpenAI(base_url="http://localhost/v1", api_key=TOKEN, max_retries=0,
                         http_client=http)


@pytest.mark.parametrize("model, sent", [
    ("imagen-4.0-generate-001", lambda body: body["parameters"] == {
        "sampleCount": 2, "includeRaiReason": True, "aspectRatio": "16:9"}),
    ("gemini-2.5-flash-image", lambda body: body["generationConfig"] == {
        "responseModalities": ["TEXT", "IMAGE"], "candidateCount": 2,
        "imageConfig": {"aspectRatio": "16:9"}}),
])
def test_the_openai_client_gets_images_from_imagen_and_gemini_image_models(
        openai_client, keys, upstream, model, sent):
    keys(1)
    got = openai_client.images.generate(model=model, prompt="a pelican", n=2, size="1792x1024")
    assert len(got.data) == 2 and all(is_png(image.b64_json) for image in got.data)
    assert sent(upstream.requests[-1]["body"])
    urls = openai_client.images.generate(model=model, prompt="a pelican",
                                         response_format="url")
    assert [image.url[:22] for image in urls.data] == ["data:image/png;base64,"]


def test_an_imagen_refusal_reaches_the_openai_client_with_its_reason(openai_client, keys,
                                                                     upstream):
    import openai

    made = keys(1)
    upstream.set_key(made[0], "blocked")
    with pytest.raises(openai.BadRequestError) as err:
        openai_client.images.generate(model="imagen-4.0-generate-001", prompt="a pelican", n=3)
    assert "filtered out 3 generated images" in err.value.message
    assert err.value.param == "prompt"
    with pytest.raises(openai.BadRequestError) as err:
        openai_client.images.generate(model="imagen-4.0-generate-001", prompt="a pelican", n=5)
    assert err.value.param == "n" and len(upstream.requests) == 1


def test_a_rate_limited_key_is_passed_over_for_imagen_too(client, auth, keys, upstream):
    limited, _ = keys(2)
    upstream.set_key(limited, "rate_minute", models=["imagen-4.0-generate-001"])
    for _ in range(4):
        resp = client.post("/v1/images/generations", headers=auth,
                           json={"model": "imagen-4.0-generate-001", "prompt": "a pelican"})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert len(resp.get_json()["data"]) == 1
    assert upstream.count(key=limited) == 1


def test_image_generation_needs_a_prompt(client, auth, keys, upstream):
    keys(1)
    resp = client.post("/v1/images/generations", headers=auth, json={"model": "imagen-3.0-generate-002"})
    assert resp.status_code == 400 and resp.get_json()["error"]["param"] == "prompt"
    assert upstream.requests == []
