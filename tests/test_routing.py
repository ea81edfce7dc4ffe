"""Model routing: prefix, alias, model list, default pool."""
from __future__ import annotations

import pytest

from balancer.proxy.routing import NoRoute, listed_models, route_model, route_speech
from balancer.runtime import Catalog, PoolInfo


def pool(id, name, kind="gemini", default=False, enabled=True, models=(), aliases=None):
    return PoolInfo(id=id, name=name, kind=kind, base_url="http://x", proxy_url=None,
                    enabled=enabled, is_default=default, models=tuple(models), aliases=aliases or {})


CATALOG = Catalog(pools={
    1: pool(1, "gemini", default=True, models=["gemini-2.5-flash", "gemini-2.5-pro"],
            aliases={"fast": "gemini-2.5-flash"}),
    2: pool(2, "groq", kind="openai", models=["llama-3.3-70b", "gpt-oss-120b"],
            aliases={"big": "llama-3.3-70b"}),
    3: pool(3, "router", kind="openai", models=["meta-llama/llama-3-8b", "gemini-2.5-pro"]),
    4: pool(4, "off", kind="openai", enabled=False, models=["secret-model"]),
})


@pytest.mark.parametrize("requested, pool_name, model", [
    ("gemini-2.5-flash", "gemini", "gemini-2.5-flash"),
    ("models/gemini-2.5-flash", "gemini", "models/gemini-2.5-flash"),
    ("llama-3.3-70b", "groq", "llama-3.3-70b"),
    ("gemini-2.5-pro", "gemini", "gemini-2.5-pro"),           # the default pool wins a tie
    ("router/gemini-2.5-pro", "router", "gemini-2.5-pro"),    # unless a prefix says otherwise
    ("meta-llama/llama-3-8b", "router", "meta-llama/llama-3-8b"),  # a slash that is no pool name
    ("groq/big", "groq", "llama-3.3-70b"),                   # an alias behind a prefix
    ("fast", "gemini", "gemini-2.5-flash"),
    ("big", "groq", "llama-3.3-70b"),
    ("unknown-model", "gemini", "unknown-model"),            # the default pool tries it
    ("secret-model", "gemini", "secret-model"),              # a switched-off pool is skipped
])
def test_a_model_goes_to_the_pool_that_serves_it(requested, pool_name, model):
    route = route_model(CATALOG, requested)
    assert (route.pool.name, route.model) == (pool_name, model)


def test_an_explicit_prefix_to_a_switched_off_pool_is_refused_with_503():
    with pytest.raises(NoRoute) as err:
        route_model(CATALOG, "off/secret-model")
    assert err.value.status == 503 and "switched off" in str(err.value)


def test_gemini_requests_never_go_to_an_openai_pool():
    assert route_model(CATALOG, "llama-3.3-70b", "gemini").pool.name == "gemini"
    with pytest.raises(NoRoute) as err:
        route_model(CATALOG, "groq/llama-3.3-70b", "gemini")
    assert err.value.status == 400 and "/v1/chat/completions" in str(err.value)


def test_the_model_list_names_every_model_and_alias_once():
    listed = dict((m, p.name) for m, p in listed_models(CATALOG))
    assert listed["gemini-2.5-pro"] == "gemini" and listed["big"] == "groq"
    assert "secret-model" not in listed
    assert len(listed) == len(set(listed))


def test_no_pool_at_all_is_a_503():
    with pytest.raises(NoRoute) as err:
        route_model(Catalog(), "x")
    assert err.value.status == 503


SPEECH_CATALOG = Catalog(pools={
    1: pool(1, "prov", kind="openai", default=True, models=["gpt-4o-mini", "tts-1-hd"]),
    2: pool(2, "gem", models=["gemini-2.5-flash", "gemini-2.5-flash-preview-tts",
                              "gemini-2.5-pro-preview-tts"], aliases={"voice": "tts-1"}),
})


@pytest.mark.parametrize("requested, pool_name, model", [
    ("tts-1", "gem", "gemini-2.5-flash-preview-tts"),       # no pool lists it: a Gemini pool
    ("tts-1-hd", "prov", "tts-1-hd"),                       # the pool that lists it
    ("gem/tts-1-hd", "gem", "gemini-2.5-pro-preview-tts"),  # an OpenAI name on a Gemini pool
    ("voice", "gem", "gemini-2.5-flash-preview-tts"),       # an alias to an OpenAI name, too
    ("gemini-2.5-pro-preview-tts", "gem", "gemini-2.5-pro-preview-tts"),
])
def test_a_speech_model_goes_to_a_pool_that_speaks(requested, pool_name, model):
    route = route_speech(SPEECH_CATALOG, requested)
    assert (route.pool.name, route.model) == (pool_name, model)


def test_a_gemini_name_stays_with_the_default_pool_until_its_list_is_fetched():
    # A vertex_express pool lists Google's documented models from the start; the default
    # Gemini pool has no list in its first minute and must not lose its traffic to it.
    default = pool(1, "gemini", default=True)
    vertex = pool(2, "vertex", kind="vertex_express", models=("gemini-2.5-flash",))
    groq = pool(3, "groq", kind="openai", models=("llama-3.3-70b",))
    catalog = Catalog(pools={p.id: p for p in (default, vertex, groq)})
    assert route_model(catalog, "gemini-2.5-flash").pool.name == "gemini"
    assert route_model(catalog, "llama-3.3-70b").pool.name == "groq"
    assert route_model(catalog, "vertex/gemini-2.5-flash").pool.name == "vertex"
    fetched = pool(1, "gemini", default=True, models=("gemini-2.5-pro",))
    catalog = Catalog(pools={p.id: p for p in (fetched, vertex)})
    assert route_model(catalog, "gemini-2.5-flash").pool.name == "vertex"
