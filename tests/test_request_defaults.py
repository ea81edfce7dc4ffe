"""Per-pool request defaults: safety settings, thinking budgets, extra upstream headers."""
from __future__ import annotations

import pytest

from balancer.services import keys as key_service
from balancer.services import pools as pool_service
from balancer.services.pools import PoolError
from balancer.upstream import request_defaults
from balancer.upstream.request_defaults import DefaultsError, parse
from tests.conftest import TOKEN
from tests.fake_upstream import make_key

MODEL = "gemini-2.5-flash"
AUTH = {"x-goog-api-key": TOKEN}
DEFAULTS = {"safety_settings": request_defaults.safety_for_all("BLOCK_NONE"),
            "thinking_budgets": {MODEL: 512},
            "headers": {"X-Title": "balancer tests"}}


class TestParse:
    @pytest.mark.parametrize("raw, message", [
        ([], "must be an object"),
        ({"safety": []}, "unknown request default"),
        ({"safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT"}]}, "{category, threshold}"),
        ({"safety_settings": [{"category": "VIOLENCE", "threshold": "BLOCK_NONE"}]}, "category"),
        ({"safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "NEVER"}]},
         "threshold"),
        ({"safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}] * 2},
         "twice"),
        ({"thinking_budgets": {MODEL: 40000}}, "32768"),
        ({"thinking_budgets": {MODEL: True}}, "whole number"),
        ({"thinking_budgets": {"../x": 1}}, "not a model name"),
        ({"headers": {"Authorization": "Bearer x"}}, "set by Balancer"),
        ({"headers": {"x-goog-api-key": "x"}}, "set by Balancer"),
        ({"headers": {"X-Ok": "a\r\nInjected: 1"}}, "one-line"),
        ({"headers": {"Bad Name": "x"}}, "letters, digits"),
    ])
    def test_bad_defaults_are_refused_with_the_field_named(self, raw, message):
        with pytest.raises(DefaultsError) as err:
            parse(raw)
        assert message in str(err.value)

    def test_good_defaults_round_trip(self):
        assert parse(DEFAULTS).as_json() == DEFAULTS
        assert not parse(None) and not parse({})


class TestApply:
    def test_native_fills_only_what_the_request_left_unset(self):
        d = parse(DEFAULTS)
        body = {"contents": []}
        assert d.apply_native(body, MODEL)
        assert body["safetySettings"][0]["threshold"] == "BLOCK_NONE"
        assert body["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 512
        own = {"safety_settings": [], "generation_config": {"thinking_config": {"thinking_budget": 9}}}
        assert not d.apply_native(own, MODEL)
        assert own == {"safety_settings": [],
                       "generation_config": {"thinking_config": {"thinking_budget": 9}}}
        other = {"contents": []}
        d2 = parse({"thinking_budgets": {MODEL: 512}})
        assert not d2.apply_native(other, "gemini-2.0-flash")  # per model only
        assert other == {"contents": []}

    def test_compat_takes_the_budget_in_extra_body(self):
        d = parse(DEFAULTS)
        body = {"messages": []}
        assert d.apply_compat(body, MODEL)
        assert body["extra_body"] == {"google": {"thinking_config": {"thinking_budget": 512}}}
        effort = {"messages": [], "reasoning_effort": "low"}
        assert not d.apply_compat(effort, MODEL) and "extra_body" not in effort


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


class TestThroughTheProxy:
    def test_a_gemini_pools_defaults_reach_the_upstream(self, rt, ctx, client, keys, upstream):
        keys(2)
        pool_service.edit_pool(rt, "gemini", request_defaults=DEFAULTS)
        resp = client.post(f"/v1beta/models/{MODEL}:generateContent", headers=AUTH,
                           json={"contents": [{"parts": [{"text": "hi"}]}]})
        assert resp.status_code == 200
        sent = upstream.requests[-1]
        assert sent["body"]["safetySettings"] == DEFAULTS["safety_settings"]
        assert sent["body"]["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 512}
        assert sent["headers"]["x-title"] == "balancer tests"

        own = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]
        client.post(f"/v1beta/models/{MODEL}:generateContent", headers=AUTH, json={
            "contents": [{"parts": [{"text": "hi"}]}], "safetySettings": own,
            "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}})
        sent = upstream.requests[-1]
        assert sent["body"]["safetySettings"] == own
        assert sent["body"]["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}

    def test_count_tokens_is_left_alone(self, rt, ctx, client, keys, upstream):
        keys(1)
        pool_service.edit_pool(rt, "gemini", request_defaults=DEFAULTS)
        body = {"contents": [{"parts": [{"text": "count"}]}]}
        assert client.post(f"/v1beta/models/{MODEL}:countTokens", headers=AUTH,
                           json=body).status_code == 200
        assert upstream.requests[-1]["body"] == body

    def test_an_openai_pool_sends_its_headers_and_refuses_gemini_only_defaults(
            self, rt, ctx, client, upstream, auth):
        with pytest.raises(PoolError, match="gemini pools only"):
            pool_service.create_pool(rt, "router", "openai", f"{upstream.url}/openai/v1",
                                     request_defaults=DEFAULTS)
        pool = pool_service.create_pool(rt, "router", "openai", f"{upstream.url}/openai/v1",
                                        request_defaults={"headers": {"HTTP-Referer": "https://a.example"}})
        key_service.add_keys(rt, [make_key("router", 0, openai=True)], pool)
        resp = client.post("/v1/chat/completions", headers=auth, json={
            "model": "router/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        assert resp.status_code == 200
        sent = upstream.requests[-1]
        assert sent["flavour"] == "provider" and sent["headers"]["http-referer"] == "https://a.example"
        assert sent["headers"]["authorization"].startswith("Bearer sk-")

    def test_a_bad_stored_value_is_refused_and_nothing_is_lost(self, rt, ctx):
        pool_service.edit_pool(rt, "gemini", request_defaults=DEFAULTS)
        with pytest.raises(PoolError, match="request defaults"):
            pool_service.edit_pool(rt, "gemini", request_defaults={"headers": {"Host": "x"}})
        stored = [p for p in pool_service.list_pools() if p["name"] == "gemini"][0]
        assert stored["request_defaults"] == DEFAULTS


class TestCli:
    def test_edit_and_list(self, app, keys):
        keys(1)
        runner = app.test_cli_runner()
        result = runner.invoke(args=["pools", "edit", "gemini", "--safety", "block_none",
                                     "--thinking-budget", f"{MODEL}=1024",
                                     "--header", "X-Title=demo"])
        assert result.exit_code == 0, result.output
        listed = runner.invoke(args=["pools", "list"]).output
        assert "safety BLOCK_NONE" in listed and f"thinking {MODEL}=1024" in listed
        assert "header X-Title" in listed and "demo" not in listed  # values may be secrets
        result = runner.invoke(args=["pools", "edit", "gemini", "--safety", "",
                                     "--thinking-budget", f"{MODEL}=", "--header", "X-Title="])
        assert result.exit_code == 0, result.output
        assert "safety" not in runner.invoke(args=["pools", "list"]).output
        bad = runner.invoke(args=["pools", "edit", "gemini", "--safety", "SOMETIMES"])
        assert bad.exit_code != 0 and "threshold" in bad.output
        bad = runner.invoke(args=["pools", "edit", "gemini", "--thinking-budget", f"{MODEL}=lots"])
        assert bad.exit_code != 0 and "whole number" in bad.output


class TestNativeChat:
    def test_an_openai_chat_gets_the_pool_defaults_in_gemini_terms(
            self, rt, ctx, client, keys, upstream, auth):
        keys(1)
        pool_service.edit_pool(rt, "gemini", request_defaults=DEFAULTS)
        chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        assert client.post("/v1/chat/completions", json=chat, headers=auth).status_code == 200
        sent = upstream.requests[-1]
        assert sent["flavour"] == "native"
        assert sent["body"]["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 512}
        assert sent["headers"]["x-title"] == "balancer tests"
        client.post("/v1/chat/completions", json={**chat, "reasoning_effort": "high"}, headers=auth)
        # the client's own choice wins
        assert upstream.requests[-1]["body"]["generationConfig"]["thinkingConfig"] == {
            "thinkingBudget": 24576}


class TestCompat:
    def test_a_chat_for_a_gemini_pool_gets_the_budget_through_the_openai_layer(
            self, rt, ctx, client, keys, upstream, auth):
        keys(1)
        pool_service.edit_pool(rt, "gemini", request_defaults=DEFAULTS,
                               overrides={"openai_api": "compat"})
        chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        assert client.post("/v1/chat/completions", json=chat, headers=auth).status_code == 200
        sent = upstream.requests[-1]
        assert sent["flavour"] == "compat"
        assert sent["body"]["extra_body"] == {"google": {"thinking_config": {"thinking_budget": 512}}}
        assert sent["headers"]["x-title"] == "balancer tests"
        client.post("/v1/chat/completions", json={**chat, "reasoning_effort": "high"}, headers=auth)
        assert "extra_body" not in upstream.requests[-1]["body"]  # the client's own choice
        client.post("/v1/chat/completions", json={**chat, "model": f"{MODEL}-non-thinking"},
                    headers=auth)
        body = upstream.requests[-1]["body"]
        assert body["reasoning_effort"] == "none" and "extra_body" not in body
