"""The fake upstream's Gemini model: function calling, thought signatures, structured output,
thinking and streams on the native API, over real HTTP (plus its pure helpers, without one)."""

from __future__ import annotations

import base64
import json

import pytest
import requests

from tests.fake_upstream import schemas, signatures

FLASH3, PRO3, FLASH25 = "gemini-3-flash-preview", "gemini-3-pro-preview", "gemini-2.5-flash"
WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city.",
    "parameters": {
        "type": "OBJECT",
        "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER", "minimum": 1}},
        "required": ["city", "days"],
    },
}
TIME = {
    "name": "get_time",
    "parametersJsonSchema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}},
        "required": ["zone"],
        "additionalProperties": False,
    },
}
TOOLS = [{"functionDeclarations": [WEATHER, TIME]}]
RETRY_LEVEL = "Please retry with other thinking level."
MISSING_SIGNATURE = (
    "Function call is missing a thought_signature in functionCall parts. This is required for "
    "tools to work correctly, and missing thought_signature may lead to degraded model "
    "performance. Additional data, function call `default_api:{name}` , position {position}. "
    "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)


def user(text):
    """A user Content with one text part."""
    return {"role": "user", "parts": [{"text": text}]}


def generate(fake, key, body, model=FLASH3, method="generateContent", query=""):
    """POST a native call; returns the response."""
    url = f"{fake.url}/v1beta/models/{model}:{method}{query}"
    return requests.post(url, headers={"x-goog-api-key": key}, json=body)


def parts_of(response):
    """The parts of the first candidate of a 200 answer."""
    assert response.status_code == 200, response.text
    return response.json()["candidates"][0]["content"]["parts"]


def refusal(response, status=400):
    """The Google error of a refused native call."""
    assert response.status_code == status, response.text
    return response.json()["error"]


def results_for(calls, output="sunny"):
    """A user Content answering each call (echoing its id when it had one)."""
    parts = [
        {
            "functionResponse": {
                **({"id": c["id"]} if "id" in c else {}),
                "name": c["name"],
                "response": {"output": output},
            }
        }
        for c in calls
    ]
    return {"role": "user", "parts": parts}


def round_trip(fake, key, model, text="what is the weather"):
    """Ask for calls and answer them; returns (the contents so far, the model's Content)."""
    first = generate(fake, key, {"contents": [user(text)], "tools": TOOLS}, model)
    content = first.json()["candidates"][0]["content"]
    calls = [p["functionCall"] for p in content["parts"] if "functionCall" in p]
    return [user(text), content, results_for(calls)], content


# -- declarations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "keyword, value",
    [
        ("$schema", "https://json-schema.org/draft/2020-12/schema"),
        ("additionalProperties", False),
        ("const", "x"),
        ("exclusiveMinimum", 0),
        ("propertyNames", {"pattern": "^a"}),
        ("multipleOf", 2),
    ],
)
def test_a_refused_keyword_in_parameters_is_a_400_naming_its_place(fake, key, keyword, value):
    bad = {"name": "f", "parameters": {"type": "OBJECT", keyword: value}}
    tools = [{"functionDeclarations": [WEATHER, bad]}]
    error = refusal(generate(fake, key, {"contents": [user("hi")], "tools": tools}))
    where = "tools[0].function_declarations[1].parameters"
    text = (
        f"Invalid JSON payload received. Unknown name \"{keyword}\" at '{where}': "
        "Cannot find field."
    )
    assert error["status"] == "INVALID_ARGUMENT" and error["message"] == text
    assert error["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": where, "description": text}],
        }
    ]


def test_nested_refusals_each_get_a_line_and_a_violation(fake, key):
    params = {
        "type": "OBJECT",
        "properties": {
            "a": {"type": "STRING"},
            "b": {"type": "ARRAY", "items": {"anyOf": [{"type": "NUMBER", "multipleOf": 2}]}},
            "c": {"type": "STRING", "enum": [1]},
        },
    }
    tools = [{"googleSearch": {}}, {"functionDeclarations": [{"name": "f", "parameters": params}]}]
    error = refusal(generate(fake, key, {"contents": [user("hi")], "tools": tools}))
    base = "tools[1].function_declarations[0].parameters"
    fields = [v["field"] for v in error["details"][0]["fieldViolations"]]
    assert fields == [
        f"{base}.properties[1].value.items.any_of[0]",
        f"{base}.properties[2].value.enum[0]",
    ]
    assert error["message"].count("\n") == 1 and "(TYPE_STRING), 1" in error["message"]


def test_parameters_json_schema_takes_json_schema_and_snake_case_is_accepted(fake, key):
    tools = [
        {
            "function_declarations": [
                {"name": "get_time", "parameters_json_schema": TIME["parametersJsonSchema"]}
            ]
        }
    ]
    call = parts_of(generate(fake, key, {"contents": [user("time?")], "tools": tools}))[0]
    assert call["functionCall"]["args"] == {"zone": "UTC"}


@pytest.mark.parametrize("name", ["1st", "has space", "x" * 65, "a:b", ""])
def test_invalid_function_names_are_refused(fake, key, name):
    tools = [{"functionDeclarations": [{"name": name}]}]
    error = refusal(generate(fake, key, {"contents": [user("hi")], "tools": tools}))
    assert error["message"] == (
        "* GenerateContentRequest.tools[0].function_declarations[0].name: Invalid function name. "
        "Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), "
        "underscores (_), dots (.) or dashes (-), with a maximum length of 64.\n"
    )


def test_tool_config_is_checked(fake, key):
    def config(**calling):
        body = {
            "contents": [user("hi")],
            "tools": TOOLS,
            "toolConfig": {"functionCallingConfig": calling},
        }
        return generate(fake, key, body)

    assert (
        "allowed_function_names"
        in refusal(config(mode="AUTO", allowedFunctionNames=["get_time"]))["message"]
    )
    assert (
        "`nope` is not declared"
        in refusal(config(mode="ANY", allowedFunctionNames=["nope"]))["message"]
    )
    assert "FunctionCallingConfig.Mode" in refusal(config(mode="SOMETIMES"))["message"]
    lonely = {"contents": [user("hi")], "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}
    assert refusal(generate(fake, key, lonely))["message"] == (
        "Function calling config is set without function_declarations."
    )


# -- the call rule -------------------------------------------------------------------------


def test_the_model_calls_the_first_function_with_a_minimal_instance_of_its_schema(fake, key):
    body = generate(fake, key, {"contents": [user("what is the weather")], "tools": TOOLS}).json()
    candidate = body["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    (part,) = candidate["content"]["parts"]
    call = part["functionCall"]
    assert (call["name"], call["args"]) == ("get_weather", {"city": "", "days": 1})
    assert (
        call["id"].startswith("call_") and signatures.verdict(part["thoughtSignature"]) == "valid"
    )


def test_naming_functions_asks_for_parallel_calls_signed_once(fake, key):
    text = "first get_time, then get_weather"
    parts = parts_of(generate(fake, key, {"contents": [user(text)], "tools": TOOLS}))
    assert [p["functionCall"]["name"] for p in parts] == ["get_weather", "get_time"]
    assert "thoughtSignature" in parts[0] and "thoughtSignature" not in parts[1]
    assert len({p["functionCall"]["id"] for p in parts}) == 2


def test_gemini_2_5_calls_carry_no_id(fake, key):
    parts = parts_of(generate(fake, key, {"contents": [user("hi")], "tools": TOOLS}, FLASH25))
    assert "id" not in parts[0]["functionCall"]


@pytest.mark.parametrize(
    "calling, expected",
    [
        ({"mode": "NONE"}, None),
        ({"mode": "ANY", "allowedFunctionNames": ["get_time"]}, ["get_time"]),
        ({"mode": "VALIDATED", "allowedFunctionNames": ["get_time"]}, ["get_time"]),
        ({"mode": "AUTO"}, ["get_weather"]),
    ],
)
def test_modes_decide_what_may_be_called(fake, key, calling, expected):
    body = {
        "contents": [user("hello")],
        "tools": TOOLS,
        "toolConfig": {"functionCallingConfig": calling},
    }
    parts = parts_of(generate(fake, key, body))
    if expected is None:
        assert parts[0]["text"] == "Echo: hello" and "functionCall" not in parts[0]
    else:
        assert [p["functionCall"]["name"] for p in parts] == expected


def test_function_results_get_a_text_answer_quoting_them(fake, key):
    contents, _ = round_trip(fake, key, FLASH25, "get_weather and get_time")
    parts = parts_of(generate(fake, key, {"contents": contents, "tools": TOOLS}, FLASH25))
    assert parts == [
        {
            "text": 'Function results: get_weather -> {"output":"sunny"}; '
            'get_time -> {"output":"sunny"}'
        }
    ]
    forced = {
        "contents": contents,
        "tools": TOOLS,
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
    }
    again = parts_of(generate(fake, key, forced, FLASH25))
    assert [p["functionCall"]["name"] for p in again] == ["get_weather", "get_time"]


def test_history_rules(fake, key):
    contents, model_turn = round_trip(fake, key, FLASH3, "get_weather and get_time")
    short = [*contents[:2], {"role": "user", "parts": contents[2]["parts"][:1]}]
    assert refusal(generate(fake, key, {"contents": short, "tools": TOOLS}))["message"] == (
        "Please ensure that the number of function response parts is equal to the number of "
        "function call parts of the function call turn."
    )
    wrong = json.loads(json.dumps(contents))
    wrong[2]["parts"][0]["functionResponse"]["id"] = "call_other"
    error = refusal(generate(fake, key, {"contents": wrong, "tools": TOOLS}))
    assert error["message"] == "functionResponse.id does not match functionCall.id"
    odd_role = [user("hi"), {"role": "function", "parts": [{"text": "x"}]}]
    assert refusal(generate(fake, key, {"contents": odd_role}))["message"] == (
        "Please use a valid role: user, model."
    )
    no_answer = [*contents[:2], user("never mind")]
    assert refusal(generate(fake, key, {"contents": no_answer, "tools": TOOLS}))["code"] == 400


# -- thought signatures --------------------------------------------------------------------


def test_gemini_3_checks_the_signature_of_each_current_step(fake, key):
    contents, model_turn = round_trip(fake, key, FLASH3)
    assert generate(fake, key, {"contents": contents, "tools": TOOLS}).status_code == 200
    bare = json.loads(json.dumps(contents))
    del bare[1]["parts"][0]["thoughtSignature"]
    error = refusal(generate(fake, key, {"contents": bare, "tools": TOOLS}))
    assert error == {
        "code": 400,
        "status": "INVALID_ARGUMENT",
        "message": MISSING_SIGNATURE.format(name="get_weather", position=2),
    }
    for forged, status in [
        ("AAAA", 400),
        (base64.b64encode(b"x" * 27).decode(), 400),
        ("skip_thought_signature_validator", 200),
        ("context_engineering_is_the_way_to_go", 200),
        (base64.b64encode(b"skip_thought_signature_validator").decode(), 200),
        (model_turn["parts"][0]["thoughtSignature"], 200),
    ]:
        bare[1]["parts"][0]["thoughtSignature"] = forged
        response = generate(fake, key, {"contents": bare, "tools": TOOLS})
        assert response.status_code == status, forged
        if status == 400:
            assert response.json()["error"]["message"] == "Corrupted thought signature."


def test_only_the_current_turn_is_checked_and_positions_count_contents(fake, key):
    contents, _ = round_trip(fake, key, FLASH3)
    old = json.loads(json.dumps(contents))
    del old[1]["parts"][0]["thoughtSignature"]
    answered = {"role": "model", "parts": [{"text": "It is sunny."}]}
    later = [*old, answered, user("thanks, and get_time?")]
    assert generate(fake, key, {"contents": later, "tools": TOOLS}).status_code == 200
    # A second step of the current turn: each step's first call must be signed.
    step2 = parts_of(generate(fake, key, {"contents": later, "tools": TOOLS}))
    results = results_for([step2[0]["functionCall"]])
    unsigned = {"role": "model", "parts": [{"functionCall": step2[0]["functionCall"]}]}
    error = refusal(generate(fake, key, {"contents": [*later, unsigned, results], "tools": TOOLS}))
    assert error["message"] == MISSING_SIGNATURE.format(name="get_time", position=len(later) + 1)


def test_gemini_2_5_signs_only_when_thinking_and_never_checks(fake, key):
    thinking = parts_of(generate(fake, key, {"contents": [user("hi")], "tools": TOOLS}, FLASH25))
    assert signatures.verdict(thinking[0]["thoughtSignature"]) == "valid"
    off = {
        "contents": [user("hi")],
        "tools": TOOLS,
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}},
    }
    assert "thoughtSignature" not in parts_of(generate(fake, key, off, FLASH25))[0]
    assert (
        "thoughtSignature"
        not in parts_of(generate(fake, key, {"contents": [user("hi")]}, FLASH25))[0]
    )
    contents, _ = round_trip(fake, key, FLASH25)
    del contents[1]["parts"][0]["thoughtSignature"]
    assert generate(fake, key, {"contents": contents, "tools": TOOLS}, FLASH25).status_code == 200


def test_gemini_3_text_answers_are_signed_on_their_last_part(fake, key):
    parts = parts_of(generate(fake, key, {"contents": [user("hi")]}, PRO3))
    assert (
        parts[-1]["text"] == "Echo: hi"
        and signatures.verdict(parts[-1]["thoughtSignature"]) == "valid"
    )


# -- structured output and thinking ----------------------------------------------------------


def config_call(fake, key, model=FLASH25, **config):
    """generateContent with ``config`` as generationConfig."""
    return generate(fake, key, {"contents": [user("hello")], "generationConfig": config}, model)


def test_structured_output(fake, key):
    plain = parts_of(config_call(fake, key, responseMimeType="application/json"))
    assert json.loads(plain[0]["text"]) == {"echo": "hello"}
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 3},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        },
        "required": ["n", "tags"],
        "additionalProperties": False,
    }
    shaped = parts_of(
        config_call(fake, key, responseMimeType="application/json", responseJsonSchema=schema)
    )
    assert json.loads(shaped[0]["text"]) == {"n": 3, "tags": [""]}
    openapi = {"type": "OBJECT", "properties": {"ok": {"type": "BOOLEAN"}}, "required": ["ok"]}
    assert (
        parts_of(
            config_call(fake, key, responseMimeType="application/json", responseSchema=openapi)
        )[0]["text"]
        == '{"ok":false}'
    )
    enum = {"type": "STRING", "enum": ["red", "green"]}
    assert (
        parts_of(config_call(fake, key, responseMimeType="text/x.enum", responseSchema=enum))[0][
            "text"
        ]
        == "red"
    )


def test_structured_output_refusals(fake, key):
    both = refusal(
        config_call(
            fake,
            key,
            responseMimeType="application/json",
            responseSchema={"type": "OBJECT"},
            responseJsonSchema={"type": "object"},
        )
    )
    assert "response_json_schema" in both["message"]
    refused = refusal(
        config_call(
            fake,
            key,
            responseMimeType="application/json",
            responseSchema={"type": "OBJECT", "additionalProperties": False},
        )
    )
    assert (
        refused["details"][0]["fieldViolations"][0]["field"] == "generation_config.response_schema"
    )
    assert (
        "allowed mimetypes"
        in refusal(config_call(fake, key, responseMimeType="image/png"))["message"]
    )
    assert (
        "response_mime_type"
        in refusal(config_call(fake, key, responseJsonSchema={"type": "object"}))["message"]
    )


def test_thoughts_come_first_and_are_counted(fake, key):
    body = config_call(fake, key, thinkingConfig={"includeThoughts": True}).json()
    parts = body["candidates"][0]["content"]["parts"]
    assert parts[0] == {"text": "Thinking about: hello", "thought": True}
    assert parts[1]["text"] == "Echo: hello"
    assert body["usageMetadata"]["thoughtsTokenCount"] > 0
    hidden = parts_of(config_call(fake, key, thinkingConfig={"includeThoughts": False}))
    assert [p.get("thought") for p in hidden] == [None]
    off = config_call(
        fake, key, thinkingConfig={"includeThoughts": True, "thinkingBudget": 0}
    ).json()
    assert len(off["candidates"][0]["content"]["parts"]) == 1
    assert "thoughtsTokenCount" not in off["usageMetadata"]


@pytest.mark.parametrize(
    "model, thinking, message",
    [
        (FLASH25, {"thinkingLevel": "low"}, "Thinking level is not supported for this model."),
        (
            FLASH3,
            {"thinkingLevel": "high", "thinkingBudget": 1024},
            "You can only set only one of thinking budget and thinking level.",
        ),
        (
            PRO3,
            {"thinkingLevel": "medium"},
            "Thinking level MEDIUM is not supported for this model. " + RETRY_LEVEL,
        ),
        (
            PRO3,
            {"thinkingLevel": "MINIMAL"},
            "Thinking level MINIMAL is not supported for this model. " + RETRY_LEVEL,
        ),
    ],
)
def test_thinking_config_refusals(fake, key, model, thinking, message):
    error = refusal(config_call(fake, key, model, thinkingConfig=thinking))
    assert (error["status"], error["message"]) == ("INVALID_ARGUMENT", message)


@pytest.mark.parametrize(
    "model, level", [(FLASH3, "minimal"), (FLASH3, "MEDIUM"), (PRO3, "low"), (PRO3, "HIGH")]
)
def test_accepted_thinking_levels(fake, key, model, level):
    assert config_call(fake, key, model, thinkingConfig={"thinkingLevel": level}).status_code == 200


# -- streams -------------------------------------------------------------------------------


def test_sse_stream_sends_thoughts_first_then_the_calls_whole_and_signed(fake, key):
    body = {
        "contents": [user("get_weather and get_time")],
        "tools": TOOLS,
        "generationConfig": {"thinkingConfig": {"includeThoughts": True}},
    }
    raw = generate(fake, key, body, method="streamGenerateContent", query="?alt=sse").content
    chunks = [json.loads(e[len(b"data: ") :]) for e in raw.split(b"\n\n") if e.strip()]
    assert len(chunks) == 2
    thought, calls = (c["candidates"][0] for c in chunks)
    assert thought["content"]["parts"][0]["thought"] is True and "finishReason" not in thought
    assert [p["functionCall"]["name"] for p in calls["content"]["parts"]] == [
        "get_weather",
        "get_time",
    ]
    assert "thoughtSignature" in calls["content"]["parts"][0] and calls["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["thoughtsTokenCount"] > 0


def test_array_stream_of_a_gemini_3_text_answer_signs_the_last_piece(fake, key):
    chunks = json.loads(
        generate(
            fake, key, {"contents": [user("one two three four")]}, method="streamGenerateContent"
        ).content
    )
    parts = [c["candidates"][0]["content"]["parts"][0] for c in chunks]
    assert "".join(p["text"] for p in parts) == "Echo: one two three four"
    assert ["thoughtSignature" in p for p in parts] == [False, False, True]


# -- pure helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema, value",
    [
        ({"type": "string", "format": "date-time"}, "1970-01-01T00:00:00Z"),
        ({"type": "STRING", "minLength": "2"}, "xx"),
        ({"type": ["null", "integer"], "exclusiveMinimum": 4}, 5),
        ({"type": "number", "maximum": -2}, -2),
        ({"anyOf": [{"type": "null"}, {"type": "boolean"}]}, False),
        ({"const": 7, "type": "integer"}, 7),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
                "minProperties": 1,
            },
            {"a": ""},
        ),
        ({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}, ["", 0]),
        (
            {
                "$defs": {"N": {"enum": ["q"]}},
                "type": "object",
                "properties": {"n": {"$ref": "#/$defs/N"}},
                "required": ["n"],
            },
            {"n": "q"},
        ),
    ],
)
def test_minimal_instances(schema, value):
    assert schemas.instance(schema) == value


def test_signatures_are_recognised_in_both_base64_alphabets_and_forgeries_are_not():
    issued = signatures.issue()
    assert "+" not in issued and "/" not in issued and "=" not in issued
    urlsafe = base64.urlsafe_b64encode(base64.b64decode(issued)).decode()
    assert signatures.verdict(issued) == signatures.verdict(urlsafe) == "valid"
    raw = base64.b64decode(issued)
    tampered = base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode()
    assert signatures.verdict(tampered) == signatures.verdict("not base64!") == "corrupted"
    assert signatures.verdict(None) == "corrupted"
