"""Model suffixes: -search, -image, -non-thinking."""
from __future__ import annotations

import dataclasses
import json

import pytest

from balancer.services import settings as settings_service
from tests.conftest import TOKEN
from tests.fake_upstream import make_key

BODY = {"contents": [{"role": "user", "parts": [{"text": "suffixed"}]}]}


def native(client, model, action="generateContent"):
    return client.post(f"/v1beta/models/{model}:{action}", headers={"x-goog-api-key": TOKEN}, json=BODY)


IMAGE_MODEL = "gemini-2.0-flash-preview-image-generation"


@pytest.mark.parametrize("base, suffix, check", [
    ("gemini-2.5-flash", "-search", lambda b: {"googleSearch": {}} in b["tools"]),
    (IMAGE_MODEL, "-image",
     lambda b: b["generationConfig"]["responseModalities"] == ["TEXT", "IMAGE"]),
    ("gemini-2.5-flash", "-non-thinking",
     lambda b: b["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 0),
])
@pytest.mark.parametrize("action", ["generateContent", "streamGenerateContent"])
def test_a_suffix_becomes_the_gemini_option_and_the_base_model_is_called(
        client, keys, upstream, base, suffix, check, action):
    keys(1)
    resp = native(client, f"{base}{suffix}", action)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    sent = upstream.requests[-1]
    assert f"/models/{base}:{action}" in sent["path"]
    assert check(sent["body"])


def test_a_client_option_is_kept_beside_the_suffix(client, keys, upstream):
    keys(1)
    body = {**BODY, "tools": [{"codeExecution": {}}]}
    client.post("/v1beta/models/gemini-2.5-flash-search:generateContent",
                headers={"x-goog-api-key": TOKEN}, json=body)
    assert upstream.requests[-1]["body"]["tools"] == [{"codeExecution": {}}, {"googleSearch": {}}]


def test_non_thinking_works_through_chat_completions(client, auth, keys, upstream):
    keys(1)
    resp = client.post("/v1/chat/completions", headers=auth, json={
        "model": "gemini-2.5-flash-non-thinking", "messages": [{"role": "user", "content": "x"}]})
    assert resp.status_code == 200
    assert resp.get_json()["model"] == "gemini-2.5-flash-non-thinking"
    sent = upstream.requests[-1]
    assert sent["path"].endswith("/models/gemini-2.5-flash:generateContent")
    assert sent["body"]["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}


def test_non_thinking_on_a_compat_pool_asks_the_openai_layer_for_no_reasoning(
        client, auth, keys, upstream, compat):
    keys(1)
    resp = client.post("/v1/chat/completions", headers=auth, json={
        "model": "gemini-2.5-flash-non-thinking", "messages": [{"role": "user", "content": "x"}]})
    assert resp.status_code == 200
    sent = upstream.requests[-1]["body"]
    assert sent["model"] == "gemini-2.5-flash" and sent["reasoning_effort"] == "none"


def test_a_suffix_switched_off_is_just_part_of_the_name(app, client, keys, upstream, rt):
    keys(1)
    with app.app_context():
        settings_service.update(rt, {"suffix_search": False})
    resp = native(client, "gemini-2.5-flash-search")
    assert resp.status_code == 404
    assert "gemini-2.5-flash-search" in upstream.requests[-1]["path"]


def with_models(rt, *models):
    """Give the default pool a model list, as a refresh would."""
    pool = rt.catalog.default_pool()
    rt.catalog = dataclasses.replace(rt.catalog, pools={
        pool.id: dataclasses.replace(pool, models=models)})


def test_the_model_list_offers_the_variants_of_the_suffixes_that_are_on(app, client, auth, keys,
                                                                        rt):
    keys(1)
    with_models(rt, "gemini-2.5-flash", "gemini-embedding-001", "gemini-2.5-flash-image")
    ids = [m["id"] for m in client.get("/v1/models", headers=auth).get_json()["data"]]
    assert ids == ["gemini-2.5-flash", "gemini-2.5-flash-search", "gemini-2.5-flash-non-thinking",
                   "gemini-embedding-001",
                   "gemini-2.5-flash-image", "gemini-2.5-flash-image-image",
                   "gemini-2.5-flash-image-non-thinking"]
    with app.app_context():
        settings_service.update(rt, {"suffix_non_thinking": False, "suffix_search": False,
                                     "suffix_image": False})
    ids = [m["id"] for m in client.get("/v1/models", headers=auth).get_json()["data"]]
    assert ids == ["gemini-2.5-flash", "gemini-embedding-001", "gemini-2.5-flash-image"]


def test_health_is_kept_under_the_base_model(client, keys, upstream, rt):
    (key,) = keys(1)
    upstream.set_key(key, "rate_minute", retry_delay="30s")
    native(client, "gemini-2.5-flash-search")
    key_id = next(iter(rt.keypool.key_ids()))
    assert [s.model for s in rt.keypool.snapshot(key_id)[1]] == ["gemini-2.5-flash"]
    assert native(client, "gemini-2.5-flash").status_code == 429


# --- -search and -image through chat completions (translated to the Gemini API) ---------

SEARCH = "gemini-2.5-flash-search"
IMAGE = f"{IMAGE_MODEL}-image"
SOURCE = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/AUZIYQFake1"


def chat(client, auth, model=SEARCH, text="who won", stream=False, **extra):
    body = {"model": model, "messages": [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": text}], **extra}
    if stream:
        body["stream"] = True
    return client.post("/v1/chat/completions", headers=auth, json=body)


def events(resp) -> list:
    out = []
    for block in resp.get_data(as_text=True).split("\n\n"):
        if block.strip().startswith("data:"):
            payload = block.strip()[5:].strip()
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def streamed_text(evts) -> str:
    return "".join(c["delta"].get("content") or "" for e in evts if isinstance(e, dict)
                   for c in e.get("choices", []))


def test_search_from_chat_completions_is_served_by_the_gemini_api(client, auth, keys, upstream):
    made = keys(1)
    resp = chat(client, auth)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    sent = upstream.requests[-1]
    assert sent["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent["headers"]["x-goog-api-key"] == made[0] and "authorization" not in sent["headers"]
    assert sent["query"] == {}
    assert sent["body"]["tools"] == [{"googleSearch": {}}]
    assert sent["body"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent["body"]["contents"] == [{"role": "user", "parts": [{"text": "who won"}]}]
    answer = resp.get_json()
    assert answer["object"] == "chat.completion" and answer["id"].startswith("chatcmpl-")
    assert answer["model"] == SEARCH
    (choice,) = answer["choices"]
    assert choice["finish_reason"] == "stop"
    content = choice["message"]["content"]
    assert content.startswith("Echo: who won\n\nSources:\n")
    assert f"[example.com]({SOURCE})" in content
    usage = answer["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.parametrize("include_usage", [False, True])
def test_search_streams_as_chat_completion_chunks(client, auth, keys, upstream, include_usage):
    keys(1)
    whole = chat(client, auth).get_json()
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    resp = chat(client, auth, stream=True, **extra)
    assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
    sent = upstream.requests[-1]
    assert sent["path"] == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert sent["query"] == {"alt": "sse"} and {"googleSearch": {}} in sent["body"]["tools"]
    evts = events(resp)
    assert evts[-1] == "[DONE]" and "[DONE]" not in evts[:-1]
    chunks = evts[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == SEARCH for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert streamed_text(evts) == whole["choices"][0]["message"]["content"]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    usage = [c for c in chunks if not c["choices"]]
    if include_usage:
        assert len(usage) == 1 and usage[0] is chunks[-1]
        assert usage[0]["usage"] == whole["usage"]
    else:
        assert usage == [] and all("usage" not in c for c in chunks)


@pytest.mark.parametrize("stream", [False, True])
def test_image_from_chat_completions_comes_back_as_a_markdown_data_url(
        client, auth, keys, upstream, stream):
    keys(1)
    resp = chat(client, auth, model=IMAGE, text="a red dot", stream=stream)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    sent = upstream.requests[-1]
    assert f"/models/{IMAGE_MODEL}:" in sent["path"]
    assert sent["body"]["generationConfig"]["responseModalities"] == ["TEXT", "IMAGE"]
    content = streamed_text(events(resp)) if stream else \
        resp.get_json()["choices"][0]["message"]["content"]
    assert content.startswith("Echo: a red dot\n\n![image](data:image/png;base64,iVBORw0KGgo")
    assert content.endswith(")")


def test_a_listed_model_whose_name_ends_like_a_suffix_is_that_model(client, auth, keys, upstream,
                                                                    rt):
    keys(1)
    with_models(rt, "gemini-2.5-flash", "gemini-2.5-flash-image")
    assert chat(client, auth, model="gemini-2.5-flash-image").status_code == 200
    sent = upstream.requests[-1]
    assert sent["path"].endswith("/models/gemini-2.5-flash-image:generateContent")
    assert "responseModalities" not in sent["body"].get("generationConfig", {})
    assert chat(client, auth, model="gemini-2.5-flash-image-image").status_code == 200
    sent = upstream.requests[-1]
    assert sent["path"].endswith("/models/gemini-2.5-flash-image:generateContent")
    assert "IMAGE" in sent["body"]["generationConfig"]["responseModalities"]


def test_on_a_compat_pool_other_chats_go_through_the_openai_compatible_layer(
        client, auth, keys, upstream, compat):
    keys(1)
    assert chat(client, auth, model="gemini-2.5-flash").status_code == 200
    assert upstream.requests[-1]["path"].endswith("/v1beta/openai/chat/completions")
    # The suffixes that only Gemini's own API offers are still translated there.
    assert chat(client, auth, model=SEARCH).status_code == 200
    assert upstream.requests[-1]["path"].endswith("/models/gemini-2.5-flash:generateContent")


@pytest.mark.parametrize("mode", ["rate_minute", "internal"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_failing_key_is_skipped_with_a_suffix_too(client, auth, keys, upstream, mode, stream):
    bad, good = keys(2)
    upstream.set_key(bad, mode, retry_delay="30s") if mode == "rate_minute" else \
        upstream.set_key(bad, mode)
    for _ in range(2):  # round robin: the bad key comes first in one of them
        resp = chat(client, auth, stream=stream)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        if stream:
            assert events(resp)[-1] == "[DONE]" and "Echo: who won" in streamed_text(events(resp))
        else:
            assert "Echo: who won" in resp.get_json()["choices"][0]["message"]["content"]
    tried = [r for r in upstream.requests if r["key"] == bad]
    assert tried and tried[0]["status"] == (429 if mode == "rate_minute" else 500)
    assert tried[0]["flavour"] == "native"


def test_an_upstream_400_reaches_the_client_in_openai_shape(client, auth, keys, upstream):
    keys(2)
    # gemini-2.5-pro cannot draw: Gemini refuses the IMAGE modality with 400.
    resp = chat(client, auth, model="gemini-2.5-pro-image")
    assert resp.status_code == 400
    assert resp.get_json() == {"error": {
        "message": "Model does not support the requested response modalities: image",
        "type": "invalid_request_error", "param": None, "code": "INVALID_ARGUMENT"}}
    assert len(upstream.requests) == 1  # the request's fault: no other key is tried


@pytest.mark.parametrize("how", ["event", "bare", "close"])
def test_a_stream_that_breaks_midway_ends_with_an_openai_error_event(
        client, auth, keys, upstream, how):
    for key in keys(2):
        upstream.set_key(key, "break_stream", after=1, how=how)
    resp = chat(client, auth, stream=True)
    assert resp.status_code == 200
    evts = events(resp)
    assert evts[0]["choices"][0]["delta"]["content"]  # the answer had begun
    assert "[DONE]" not in evts
    err = evts[-1]["error"]
    assert err["message"] and err["type"] == "server_error"
    assert resp.headers["x-balancer-attempts"] == "1"


def test_a_blocked_prompt_is_an_empty_answer_stopped_by_the_filter(client, auth, keys, upstream):
    keys(1, modes={make_key("k", 0): "blocked"})
    (choice,) = chat(client, auth).get_json()["choices"]
    assert choice["message"]["content"] is None and choice["finish_reason"] == "content_filter"
    evts = events(chat(client, auth, stream=True))
    assert evts[-1] == "[DONE]" and evts[-2]["choices"][0]["finish_reason"] == "content_filter"


@pytest.mark.parametrize("extra, param, words", [
    ({"logit_bias": {"50256": -100}}, "logit_bias", "token biases have no Gemini counterpart"),
    ({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]},
     "messages[0].content[1].image_url.url", "remote URLs are not fetched"),
    ({"messages": [{"role": "user", "content": "x"},
                   {"role": "tool", "tool_call_id": "1", "content": "42"}]},
     "messages[1].tool_call_id", "matches no tool call of an earlier assistant message"),
])
def test_what_cannot_be_translated_is_refused_clearly(client, auth, keys, upstream, extra, param,
                                                      words):
    keys(1)
    resp = client.post("/v1/chat/completions", headers=auth,
                       json={"model": SEARCH, "messages": [{"role": "user", "content": "x"}],
                             **extra})
    assert resp.status_code == 400
    err = resp.get_json()["error"]
    assert words in err["message"] and err["param"] == param
    assert err["type"] == "invalid_request_error"
    assert upstream.requests == []


def test_an_image_sent_as_a_data_url_reaches_gemini_inline(client, auth, keys, upstream):
    keys(1)
    resp = client.post("/v1/chat/completions", headers=auth, json={"model": SEARCH, "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}]}]})
    assert resp.status_code == 200
    assert upstream.requests[-1]["body"]["contents"][0]["parts"] == [
        {"text": "what is this"}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}}]


def test_a_key_echoed_by_the_upstream_never_reaches_the_client_or_the_log(
        client, auth, keys, upstream, caplog):
    made = keys(2)
    for key in made:
        upstream.set_key(key, "suspended")
    for stream in (False, True):
        text = chat(client, auth, stream=stream).get_data(as_text=True)
        assert text and not any(key in text for key in made)
    assert not any(key in caplog.text for key in made)


def test_the_official_openai_client_gets_search_answers_and_errors(app, keys, upstream):
    import httpx2
    import openai

    made = keys(1)
    http = httpx2.Client(transport=httpx2.WSGITransport(app=app))
    oa = openai.OpenAI(base_url="http://localhost/v1", api_key=TOKEN, max_retries=0,
                       http_client=http)
    messages = [{"role": "user", "content": "who won"}]
    reply = oa.chat.completions.create(model=SEARCH, messages=messages)
    assert reply.choices[0].message.content.startswith("Echo: who won\n\nSources:")
    assert reply.usage.total_tokens > 0
    stream = oa.chat.completions.create(model=SEARCH, messages=messages, stream=True,
                                        stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == reply.choices[0].message.content
    assert chunks[-1].usage.total_tokens == reply.usage.total_tokens
    with pytest.raises(openai.BadRequestError) as err:
        oa.chat.completions.create(model=SEARCH, messages=messages, logit_bias={"50256": -100})
    assert "'logit_bias'" in err.value.message
    upstream.set_key(made[0], "break_stream", after=1, how="event")
    with pytest.raises(openai.APIError):
        list(oa.chat.completions.create(model=SEARCH, messages=messages, stream=True))


def test_the_pool_request_defaults_fill_a_translated_request(client, auth, keys, upstream, rt):
    from balancer.upstream.request_defaults import RequestDefaults
    keys(1)
    pool = rt.catalog.default_pool()
    safety = {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}
    rt.catalog = dataclasses.replace(rt.catalog, pools={pool.id: dataclasses.replace(
        pool, defaults=RequestDefaults(safety_settings=(safety,),
                                       thinking_budgets={"gemini-2.5-flash": 512}))})
    assert chat(client, auth).status_code == 200
    sent = upstream.requests[-1]["body"]
    assert sent["safetySettings"] == [safety]
    assert sent["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 512}
    assert chat(client, auth, reasoning_effort="none").status_code == 200
    assert upstream.requests[-1]["body"]["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 0}  # the client's own choice wins


@pytest.mark.parametrize("model, expected", [
    ("gemini-2.5-flash", ["-search", "-non-thinking"]),
    ("gemini-2.5-flash-image", ["-image", "-non-thinking"]),
    ("gemini-2.0-flash-preview-image-generation", ["-image", "-non-thinking"]),
    ("gemini-2.5-flash-preview-tts", []), ("gemini-live-2.5-flash-preview", []),
    ("gemini-embedding-001", []), ("imagen-4.0-generate-001", []), ("gemma-3-27b-it", []),
])
def test_which_variants_a_model_list_offers(model, expected):
    from balancer.proxy import suffixes
    assert suffixes.variants(model, ["-search", "-image", "-non-thinking"]) == expected
    assert suffixes.variants(model, []) == []
