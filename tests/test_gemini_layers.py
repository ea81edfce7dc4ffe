"""The same Google refusal on Gemini's two APIs: a key kind the OpenAI layer refuses, or a dead key."""
from __future__ import annotations

import pytest

from balancer.keypool.outcome import OPENAI_LAYER_REFUSED, Outcome, Verdict
from balancer.upstream.gemini_layers import on_native_api, on_openai_layer

TOKEN_TYPE = Verdict(Outcome.PROXY_FAULT, "ACCESS_TOKEN_TYPE_UNSUPPORTED", 401, "bad token type")
MISSING = Verdict(Outcome.PROXY_FAULT, "CREDENTIALS_MISSING", 401, "no credentials")
RATE = Verdict(Outcome.RATE_LIMITED, "per_minute_quota", 429)
DEAD = Verdict(Outcome.KEY_INVALID, "API_KEY_INVALID", 400)


@pytest.mark.parametrize(("verdict", "outcome", "reason"), [
    (TOKEN_TYPE, Outcome.NO_ACCESS, OPENAI_LAYER_REFUSED),
    (MISSING, Outcome.NO_ACCESS, OPENAI_LAYER_REFUSED),
    (RATE, Outcome.RATE_LIMITED, "per_minute_quota"),
    (DEAD, Outcome.KEY_INVALID, "API_KEY_INVALID"),
])
def test_on_the_openai_layer_a_refused_key_kind_is_no_access_with_its_reason(verdict, outcome,
                                                                             reason):
    after = on_openai_layer(verdict)
    assert (after.outcome, after.reason, after.status) == (outcome, reason, verdict.status)
    if outcome is Outcome.NO_ACCESS:
        assert "native" in after.message


@pytest.mark.parametrize(("verdict", "outcome"), [
    (TOKEN_TYPE, Outcome.KEY_INVALID),   # the native API takes auth keys: this one is dead
    (MISSING, Outcome.PROXY_FAULT),      # no key was sent: Balancer's own fault
    (RATE, Outcome.RATE_LIMITED),
    (DEAD, Outcome.KEY_INVALID),
])
def test_on_the_native_api_a_refused_token_type_is_a_dead_key(verdict, outcome):
    assert on_native_api(verdict).outcome is outcome
