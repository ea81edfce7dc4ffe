"""The fake upstream's auth keys, catalogue and OpenAI-compatible layer, and both official SDKs
(google-genai on the native API, openai on Google's OpenAI layer) running tool loops on it."""

from __future__ import annotations

import json

import openai
import pytest
import requests
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.fake_upstream import signatures

FLASH3, PRO3, FLASH25 = "gemini-3-flash-preview", "gemini-3-pro-preview", "gemini-2.5-flash"
PROMPT = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
# What Google's OpenAI layer answered to an auth key (dialects.md 1), byte for byte once parsed.
AUTH_KEY_REFUSAL = json.loads(
    '[{"error":{"code":401,"message":"Request had invalid authentication credentials. Expected '
    "OAuth 2 access token, login cookie or other valid authentication credential. See "
    'https://developers.google.com/identity/sign-in/web/devconsole-project.","status":'
    '"UNAUTHENTICATED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":'
    '"ACCESS_TOKEN_TYPE_UNSUPPORTED","metadata":{"method":"google.ai.generativelanguage.v1beta.'
    'GenerativeService.GenerateContent","service":"generativelanguage.googleapis.com"}}]}}]'
)


def native(fake, key, model=FLASH25, body=PROMPT, method="generateContent", **kw):
    """POST a native call with the key in x-goog-api-key."""
    url = f"{fake.url}/v1beta/models/{model}:{method}"
    return requests.post(url, headers={"x-goog-api-key": key}, json=body, **kw)


def chat(fake, key, body, **kw):
    """POST chat/completions to Gemini's OpenAI-compatible layer."""
    url = f"{fake.url}/v1beta/openai/chat/completions"
    return requests.post(url, headers={"Authorization": f"Bearer {key}"}, json=body, **kw)


# -- auth keys -----------------------------------------------------------------------------


def test_an_auth_key_is_served_by_the_native_api_like_a_standard_key(fake, auth_key):
    assert (
        native(fake, auth_key).json()["candidates"][0]["content"]["parts"][0]["text"]
        == "Echo: hello"
    )
    listed = requests.get(f"{fake.url}/v1beta/models", headers={"x-goog-api-key": auth_key})
    assert listed.status_code == 200 and listed.json()["models"]
    streamed = native(fake, auth_key, method="streamGenerateContent", params={"alt": "sse"})
    assert streamed.status_code == 200 and streamed.content.count(b"data: ") == 3
    assert fake.requests[-1]["key"] == auth_key


def test_scripted_modes_apply_to_auth_keys(fake, auth_key):
    fake.set_key(auth_key, "rate_minute", times=1)
    limited = native(fake, auth_key)
    assert limited.status_code == 429 and limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert native(fake, auth_key).status_code == 200


def test_the_openai_layer_refuses_auth_keys_with_googles_401(fake, auth_key):
    for body in ({"model": FLASH25, "messages": [{"role": "user", "content": "hi"}]}, None):
        response = (
            chat(fake, auth_key, body)
            if body
            else requests.get(
                f"{fake.url}/v1beta/openai/models", headers={"Authorization": f"Bearer {auth_key}"}
            )
        )
        assert response.status_code == 401
        assert response.json() == AUTH_KEY_REFUSAL


def test_a_malformed_auth_key_is_refused_by_the_native_api(fake):
    for bad in ("AQ.tooShort", "AQ." + "a" * 30 + "!"):
        response = native(fake, bad)
        assert response.status_code == 401 and response.json() == AUTH_KEY_REFUSAL[0]


def test_two_credentials_in_one_request_get_400(fake, key, auth_key):
    url = f"{fake.url}/v1beta/models/{FLASH25}:generateContent"
    both = requests.post(
        url, params={"key": key}, headers={"x-goog-api-key": auth_key}, json=PROMPT
    )
    expected = {
        "error": {
            "code": 400,
            "status": "INVALID_ARGUMENT",
            "message": "Multiple authentication credentials received. Please pass only one.",
        }
    }
    assert both.status_code == 400 and both.json() == expected
    bearer = requests.post(
        url, headers={"x-goog-api-key": key, "Authorization": f"Bearer {key}"}, json=PROMPT
    )
    assert bearer.json() == expected
    compat = requests.post(
        f"{fake.url}/v1beta/openai/chat/completions",
        params={"key": key},
        headers={"Authorization": f"Bearer {key}"},
        json={"model": FLASH25, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert compat.status_code == 400 and compat.json() == [expected]


# -- catalogue -------------------------------------------------------------------------------


def test_the_catalogue_has_gemini_3_beside_the_older_models(fake, key):
    listed = requests.get(f"{fake.url}/v1beta/models", params={"key": key, "pageSize": 1000}).json()
    names = {m["name"] for m in listed["models"]}
    for wanted in (
        FLASH3,
        PRO3,
        FLASH25,
        "gemini-2.5-pro",
        "gemini-embedding-001",
        "gemini-2.5-flash-image",
        "gemini-2.5-flash-preview-tts",
    ):
        assert f"models/{wanted}" in names
    flash3 = requests.get(f"{fake.url}/v1beta/models/{FLASH3}", params={"key": key}).json()
    assert flash3["thinking"] is True and "generateContent" in flash3["supportedGenerationMethods"]


# -- the OpenAI layer ----------------------------------------------------------------------


def test_tools_become_tool_calls_with_the_signature_in_extra_content(fake, key):
    body = {
        "model": FLASH3,
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [WEATHER_TOOL],
    }
    answer = chat(fake, key, body).json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    (tool_call,) = choice["message"]["tool_calls"]
    assert tool_call["type"] == "function" and tool_call["id"].startswith("call_")
    assert json.loads(tool_call["function"]["arguments"]) == {"city": ""}
    signature = tool_call["extra_content"]["google"]["thought_signature"]
    assert signatures.verdict(signature) == "valid"
    streamed = chat(fake, key, {**body, "stream": True}).content.split(b"\n\n")
    chunks = [json.loads(e[6:]) for e in streamed if e.startswith(b"data: {")]
    assert streamed[-2] == b"data: [DONE]" and len(chunks) == 1
    delta = chunks[0]["choices"][0]["delta"]
    assert (
        delta["tool_calls"][0]["index"] == 0
        and chunks[0]["choices"][0]["finish_reason"] == "tool_calls"
    )
    assert "thought_signature" in delta["tool_calls"][0]["extra_content"]["google"]


def test_tool_messages_come_back_and_a_lost_signature_is_refused_list_wrapped(fake, key):
    messages = [{"role": "user", "content": "weather?"}]
    first = chat(fake, key, {"model": FLASH3, "messages": messages, "tools": [WEATHER_TOOL]}).json()
    assistant = first["choices"][0]["message"]
    result = {"role": "tool", "tool_call_id": assistant["tool_calls"][0]["id"], "content": "sunny"}
    done = chat(
        fake,
        key,
        {"model": FLASH3, "messages": [*messages, assistant, result], "tools": [WEATHER_TOOL]},
    )
    assert (
        done.json()["choices"][0]["message"]["content"]
        == 'Function results: get_weather -> {"output":"sunny"}'
    )
    assert done.json()["choices"][0]["finish_reason"] == "stop"
    del assistant["tool_calls"][0]["extra_content"]
    lost = chat(
        fake,
        key,
        {"model": FLASH3, "messages": [*messages, assistant, result], "tools": [WEATHER_TOOL]},
    )
    assert lost.status_code == 400
    (error,) = lost.json()
    assert error["error"]["message"].startswith("Function call is missing a thought_signature")
    assert "`default_api:get_weather` , position 2." in error["error"]["message"]


def test_tool_choice(fake, key):
    tools = [WEATHER_TOOL, {"type": "function", "function": {"name": "get_time", "parameters": {}}}]
    base = {"model": FLASH25, "messages": [{"role": "user", "content": "hi"}], "tools": tools}
    none = chat(fake, key, {**base, "tool_choice": "none"}).json()["choices"][0]
    assert none["message"]["content"] == "Echo: hi" and none["finish_reason"] == "stop"
    named = {"type": "function", "function": {"name": "get_time"}}
    picked = chat(fake, key, {**base, "tool_choice": named}).json()["choices"][0]["message"]
    assert [c["function"]["name"] for c in picked["tool_calls"]] == ["get_time"]
    assert "extra_content" in picked["tool_calls"][0]  # 2.5 thinking: signed, never checked


@pytest.mark.parametrize(
    "model, effort, status",
    [
        (FLASH3, "minimal", 400),
        (FLASH25, "xhigh", 400),
        (PRO3, "medium", 400),
        (FLASH3, "medium", 200),
        (PRO3, "none", 200),
        (FLASH25, "none", 200),
        (FLASH25, "high", 200),
    ],
)
def test_reasoning_effort(fake, key, model, effort, status):
    response = chat(
        fake,
        key,
        {
            "model": model,
            "messages": [{"role": "user", "content": "hi"}],
            "reasoning_effort": effort,
        },
    )
    assert response.status_code == status
    if effort in ("minimal", "xhigh"):
        assert response.json()[0]["error"]["message"] == (
            f"Invalid reasoning_effort: {effort}. Valid values are: high, low, medium, none"
        )
    elif status == 400:
        assert response.json()[0]["error"]["message"].startswith(
            "Thinking level MEDIUM is not supported"
        )


def test_response_format_and_thoughts(fake, key):
    base = {"model": FLASH25, "messages": [{"role": "user", "content": "hi"}]}
    as_json = chat(fake, key, {**base, "response_format": {"type": "json_object"}}).json()
    assert json.loads(as_json["choices"][0]["message"]["content"]) == {"echo": "hi"}
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string", "enum": ["red"]}},
        "required": ["colour"],
        "additionalProperties": False,
    }
    shaped = chat(
        fake,
        key,
        {
            **base,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "c", "schema": schema, "strict": True},
            },
        },
    ).json()
    assert json.loads(shaped["choices"][0]["message"]["content"]) == {"colour": "red"}
    thoughts = {"google": {"thinking_config": {"include_thoughts": True}}}
    shown = chat(fake, key, {**base, "extra_body": thoughts}).json()["choices"][0]["message"][
        "content"
    ]
    assert shown == "<thought>Thinking about: hi</thought>Echo: hi"


# -- the official SDKs ---------------------------------------------------------------------


def test_google_genai_runs_a_function_calling_round_trip_on_gemini_3(fake, key):
    client = genai.Client(
        api_key=key, http_options=types.HttpOptions(base_url=fake.url, api_version="v1beta")
    )
    weather = types.FunctionDeclaration(
        name="get_weather",
        parameters_json_schema={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    )
    clock = types.FunctionDeclaration(
        name="get_time",
        parameters=types.Schema(
            type="OBJECT",
            properties={"zone": types.Schema(type="STRING", enum=["UTC"])},
            required=["zone"],
        ),
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[weather, clock])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    question = types.Content(
        role="user", parts=[types.Part(text="get_weather and get_time, please")]
    )
    first = client.models.generate_content(model=FLASH3, contents=[question], config=config)
    calls = first.function_calls
    assert [(c.name, c.args) for c in calls] == [
        ("get_weather", {"city": ""}),
        ("get_time", {"zone": "UTC"}),
    ]
    assert all(c.id and c.id.startswith("call_") for c in calls)
    model_turn = first.candidates[0].content
    assert (
        isinstance(model_turn.parts[0].thought_signature, bytes)
        and model_turn.parts[1].thought_signature is None
    )
    results = types.Content(
        role="user",
        parts=[
            types.Part(
                function_response=types.FunctionResponse(
                    id=c.id, name=c.name, response={"output": c.name}
                )
            )
            for c in calls
        ],
    )
    final = client.models.generate_content(
        model=FLASH3, contents=[question, model_turn, results], config=config
    )
    assert final.text == (
        'Function results: get_weather -> {"output":"get_weather"}; '
        'get_time -> {"output":"get_time"}'
    )
    unsigned = model_turn.model_copy(deep=True)
    unsigned.parts[0].thought_signature = None
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(
            model=FLASH3, contents=[question, unsigned, results], config=config
        )
    assert caught.value.code == 400 and "missing a thought_signature" in caught.value.message
    streamed = list(
        client.models.generate_content_stream(model=FLASH3, contents=[question], config=config)
    )
    assert [len(chunk.function_calls or []) for chunk in streamed] == [2]


def test_openai_sdk_runs_a_tool_round_trip_echoing_extra_content(fake, key):
    client = openai.OpenAI(base_url=f"{fake.url}/v1beta/openai/", api_key=key, max_retries=0)
    messages = [{"role": "user", "content": "what is the weather?"}]
    first = client.chat.completions.create(model=FLASH3, messages=messages, tools=[WEATHER_TOOL])
    assert first.choices[0].finish_reason == "tool_calls"
    message = first.choices[0].message
    (tool_call,) = message.tool_calls
    assert json.loads(tool_call.function.arguments) == {"city": ""}
    signature = tool_call.model_extra["extra_content"]["google"]["thought_signature"]
    messages += [message, {"role": "tool", "tool_call_id": tool_call.id, "content": "sunny"}]
    final = client.chat.completions.create(model=FLASH3, messages=messages, tools=[WEATHER_TOOL])
    assert final.choices[0].message.content == 'Function results: get_weather -> {"output":"sunny"}'
    sent = fake.requests[-1]["body"]["messages"][1]["tool_calls"][0]
    assert sent["extra_content"] == {"google": {"thought_signature": signature}}
    stream = client.chat.completions.create(
        model=FLASH3, messages=messages[:1], tools=[WEATHER_TOOL], stream=True
    )
    deltas = [c.choices[0].delta for c in stream if c.choices]
    assert deltas[0].tool_calls[0].model_extra["extra_content"]["google"]["thought_signature"]
