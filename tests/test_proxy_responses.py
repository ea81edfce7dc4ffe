"""POST, GET and DELETE /v1/responses through the Flask test client, against the fake upstream."""
from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import RequestLog, StoredResponse
from balancer.models.types import utcnow
from balancer.services import retention
from tests.test_files_affinity import other_token  # noqa: F401  (a fixture)
from tests.test_proxy_pools import provider_pool  # noqa: F401  (a fixture)

MODEL = "gemini-2.5-flash"
GEMINI3 = "gemini-3-flash-preview"
WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}
ASK = "What is the weather in Paris? Use get_weather."


def create(client, auth, **body):
    body.setdefault("model", MODEL)
    return client.post("/v1/responses", json=body, headers=auth)


def events(resp) -> list[dict]:
    """The stream's events, each checked to name its type in both lines."""
    out = []
    for block in resp.get_data(as_text=True).split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.strip().splitlines() if ": " in line)
        if "data" in lines:
            data = json.loads(lines["data"])
            assert lines["event"] == data["type"]
            out.append(data)
    return out


def items(response: dict, kind: str) -> list[dict]:
    return [item for item in response["output"] if item["type"] == kind]


def text_of(response: dict) -> str:
    return "".join(part["text"] for item in items(response, "message")
                   for part in item["content"])


class TestCreate:
    def test_a_string_input_is_answered_as_a_response_and_logged_as_responses(
            self, app, client, auth, keys, rt, upstream):
        keys(1)
        resp = create(client, auth, input="hello", instructions="Be brief.")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        assert body["id"].startswith("resp_") and body["object"] == "response"
        assert body["status"] == "completed" and text_of(body) == "Echo: hello"
        usage = body["usage"]
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
        assert body["instructions"] == "Be brief."
        sent = upstream.requests[-1]
        assert sent["flavour"] == "native" and sent["path"].endswith(f"{MODEL}:generateContent")
        assert sent["body"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
        rt.services.flush()
        with app.app_context():
            row = db.session.scalars(sa.select(RequestLog)).one()
            assert (row.api_format, row.route, row.status) == ("responses", "responses", 200)
            assert row.tokens_in == usage["input_tokens"]

    def test_under_openai_v1_too(self, client, auth, keys):
        keys(1)
        resp = client.post("/openai/v1/responses", json={"model": MODEL, "input": "hi"},
                           headers=auth)
        assert resp.status_code == 200 and text_of(resp.get_json()) == "Echo: hi"

    def test_a_stream_sends_openais_events_in_order_with_sequence_numbers(self, client, auth,
                                                                         keys):
        keys(1)
        resp = create(client, auth, input="one two three", stream=True)
        assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
        got = events(resp)
        assert [e["sequence_number"] for e in got] == list(range(len(got)))
        kinds = [e["type"] for e in got]
        assert kinds[:5] == ["response.created", "response.in_progress",
                             "response.output_item.added", "response.content_part.added",
                             "response.output_text.delta"]
        assert kinds[-4:] == ["response.output_text.done", "response.content_part.done",
                              "response.output_item.done", "response.completed"]
        text = "".join(e["delta"] for e in got if e["type"] == "response.output_text.delta")
        assert text == "Echo: one two three"
        final = got[-1]["response"]
        assert final["status"] == "completed" and final["usage"]["output_tokens"] > 0
        assert text_of(final) == text

    def test_json_schema_output_is_asked_of_gemini(self, client, auth, keys, upstream):
        keys(1)
        schema = {"type": "object", "properties": {"name": {"type": "string"}},
                  "required": ["name"], "additionalProperties": False}
        resp = create(client, auth, input="a person", text={"format": {
            "type": "json_schema", "name": "person", "schema": schema, "strict": True}})
        assert resp.status_code == 200
        assert isinstance(json.loads(text_of(resp.get_json()))["name"], str)
        config = upstream.requests[-1]["body"]["generationConfig"]
        assert config["responseMimeType"] == "application/json"

    def test_what_gemini_cannot_do_is_a_400_naming_the_field(self, client, auth, keys):
        keys(1)
        resp = create(client, auth, input="hi", tools=[{"type": "web_search"}])
        assert resp.status_code == 400
        error = resp.get_json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == "tools[0].type"

    def test_an_upstream_refusal_reaches_the_client_in_openais_shape(self, client, auth, keys,
                                                                     upstream):
        (key,) = keys(1)
        upstream.set_key(key, "rate_minute", retry_delay="7s")
        resp = create(client, auth, input="hi")
        assert resp.status_code == 429
        error = resp.get_json()["error"]
        assert set(error) >= {"message", "type", "code"} and error["message"]
        assert key not in resp.get_data(as_text=True)
        assert float(resp.headers["retry-after"]) > 0

    def test_a_malformed_stream_flag_is_refused_and_logged(self, app, client, auth, keys, rt):
        keys(1)
        resp = create(client, auth, input="hi", stream="yes")
        assert resp.status_code == 400 and resp.get_json()["error"]["param"] == "stream"
        rt.services.flush()
        with app.app_context():
            row = db.session.scalars(sa.select(RequestLog)).one()
            assert (row.api_format, row.status, row.stream) == ("responses", 400, False)

    def test_a_model_of_an_openai_kind_pool_is_served_by_its_chat_completions(
            self, client, auth, keys, provider_pool, upstream):
        keys(1)
        resp = create(client, auth, model="groq/gpt-4o-mini", input="hi")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert resp.get_json()["output"][0]["content"][0]["text"] == "Echo: hi"
        (sent,) = [r for r in upstream.requests if r["flavour"] == "provider"]
        assert sent["path"].endswith("/chat/completions")

    def test_a_stream_broken_upstream_ends_with_response_failed(self, client, auth, keys,
                                                                upstream):
        (key,) = keys(1)
        upstream.set_key(key, "break_stream", after=1, how="bare")
        got = events(create(client, auth, input="one two three four", stream=True))
        assert got[0]["type"] == "response.created"
        assert got[-1]["type"] == "response.failed"
        assert got[-1]["response"]["status"] == "failed"
        assert got[-1]["response"]["error"]["message"]


class TestFunctionCalls:
    def loop(self, client, auth, model, upstream, chained: bool, stream: bool = False):
        first = create(client, auth, model=model, input=ASK, tools=[WEATHER], stream=stream)
        assert first.status_code == 200, first.get_data(as_text=True)
        response = events(first)[-1]["response"] if stream else first.get_json()
        (call,) = items(response, "function_call")
        assert call["name"] == "get_weather" and "city" in json.loads(call["arguments"])
        result = {"type": "function_call_output", "call_id": call["call_id"],
                  "output": '{"sky": "sunny"}'}
        if chained:
            second = create(client, auth, model=model, previous_response_id=response["id"],
                            input=[result], tools=[WEATHER])
        else:
            history = [{"role": "user", "content": ASK}, *response["output"], result]
            second = create(client, auth, model=model, input=history, tools=[WEATHER])
        assert second.status_code == 200, second.get_data(as_text=True)
        assert "sunny" in text_of(second.get_json())
        return upstream.requests[-1]["body"]

    def test_gemini_3_gets_its_own_signature_back_through_previous_response_id(
            self, client, auth, keys, upstream):
        keys(1)
        sent = self.loop(client, auth, GEMINI3, upstream, chained=True)
        (model_turn,) = [c for c in sent["contents"] if c["role"] == "model"]
        part = model_turn["parts"][0]
        assert "functionCall" in part
        assert part["thoughtSignature"] != "skip_thought_signature_validator"

    def test_without_previous_response_id_the_reasoning_item_carries_it(self, client, auth,
                                                                        keys, upstream):
        keys(1)
        sent = self.loop(client, auth, GEMINI3, upstream, chained=False, stream=True)
        (model_turn,) = [c for c in sent["contents"] if c["role"] == "model"]
        assert model_turn["parts"][0]["thoughtSignature"] != "skip_thought_signature_validator"

    def test_a_2_5_model_loops_too(self, client, auth, keys, upstream):
        keys(1)
        self.loop(client, auth, MODEL, upstream, chained=True, stream=True)


class TestStored:
    def test_get_returns_a_stored_response_and_delete_forgets_it(self, client, auth, keys):
        keys(1)
        made = create(client, auth, input="keep me").get_json()
        got = client.get(f"/v1/responses/{made['id']}", headers=auth)
        assert got.status_code == 200 and got.get_json() == made
        gone = client.delete(f"/v1/responses/{made['id']}", headers=auth)
        assert gone.status_code == 200 and gone.get_json()["deleted"] is True
        assert client.get(f"/v1/responses/{made['id']}", headers=auth).status_code == 404
        chained = create(client, auth, input="more", previous_response_id=made["id"])
        assert chained.status_code == 400

    def test_an_unknown_previous_response_is_openais_400(self, client, auth, keys, upstream):
        keys(1)
        resp = create(client, auth, input="hi", previous_response_id="resp_0123abc")
        assert resp.status_code == 400
        error = resp.get_json()["error"]
        assert error["code"] == "previous_response_not_found"
        assert error["param"] == "previous_response_id"
        assert error["type"] == "invalid_request_error" and "resp_0123abc" in error["message"]
        assert not upstream.requests

    def test_store_false_keeps_nothing(self, app, client, auth, keys):
        keys(1)
        made = create(client, auth, input="forget me", store=False).get_json()
        assert made["status"] == "completed"
        resp = create(client, auth, input="more", previous_response_id=made["id"])
        assert resp.get_json()["error"]["code"] == "previous_response_not_found"
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count(StoredResponse.id))) == 0

    def test_a_chain_sends_the_whole_conversation(self, client, auth, keys, upstream):
        keys(1)
        first = create(client, auth, input="alpha", instructions="Only for the first.").get_json()
        second = create(client, auth, input="beta", previous_response_id=first["id"])
        assert second.status_code == 200
        sent = upstream.requests[-1]["body"]
        assert sent["contents"] == [
            {"role": "user", "parts": [{"text": "alpha"}]},
            {"role": "model", "parts": [{"text": "Echo: alpha"}]},
            {"role": "user", "parts": [{"text": "beta"}]}]
        assert "systemInstruction" not in sent  # instructions are not carried over
        assert second.get_json()["previous_response_id"] == first["id"]

    def test_another_client_can_neither_read_nor_chain_it(self, client, auth, keys,
                                                          other_token):
        keys(1)
        made = create(client, auth, input="mine").get_json()
        _, headers = other_token()
        other = {"Authorization": f"Bearer {headers['x-goog-api-key']}"}
        assert client.get(f"/v1/responses/{made['id']}", headers=other).status_code == 404
        assert client.delete(f"/v1/responses/{made['id']}", headers=other).status_code == 404
        resp = create(client, other, input="yours?", previous_response_id=made["id"])
        assert resp.get_json()["error"]["code"] == "previous_response_not_found"
        assert client.get(f"/v1/responses/{made['id']}", headers=auth).status_code == 200

    def test_an_expired_response_is_not_found_and_the_retention_job_deletes_it(
            self, app, client, auth, keys, rt):
        keys(1)
        made = create(client, auth, input="old").get_json()
        with app.app_context():
            db.session.execute(sa.update(StoredResponse).values(
                created_at=utcnow() - timedelta(hours=25)))
            db.session.commit()
        resp = create(client, auth, input="more", previous_response_id=made["id"])
        assert resp.get_json()["error"]["code"] == "previous_response_not_found"
        assert client.get(f"/v1/responses/{made['id']}", headers=auth).status_code == 404
        fresh = create(client, auth, input="new").get_json()
        with app.app_context():
            purged = retention.purge(rt.settings.current)
            assert purged.counts["stored_responses"] == 1
            left = db.session.scalars(sa.select(StoredResponse.response_id)).all()
        assert left == [fresh["id"]]
