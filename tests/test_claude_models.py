"""Claude model names on Gemini pools: aliases first, then the default mapping by class."""
from __future__ import annotations

import pytest

from balancer.proxy.claude_models import claude_class, gemini_for
from balancer.proxy.routing import route_claude
from balancer.runtime import Catalog, PoolInfo

LISTED = ["gemini-2.0-flash", "gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite",
          "gemini-3-flash-preview", "gemini-3-pro-preview", "gemini-2.5-flash-preview-tts",
          "gemini-3-pro-image-preview", "gemini-2.5-flash-image", "gemini-embedding-001",
          "gemini-flash-latest", "gemini-2.5-computer-use-preview-10-2025"]


@pytest.mark.parametrize("name, kind", [
    ("claude-opus-4-1", "opus"), ("claude-3-opus-20240229", "opus"),
    ("claude-sonnet-4-5", "sonnet"), ("claude-3-7-sonnet-latest", "sonnet"),
    ("claude-3-5-haiku-latest", "haiku"), ("claude-haiku-4-5", "haiku"),
    ("claude-next", "sonnet")])
def test_the_class_of_a_claude_name(name, kind):
    assert claude_class(name) == kind


@pytest.mark.parametrize("name, models, expected", [
    ("claude-opus-4-1", LISTED, "gemini-3-pro-preview"),
    ("claude-sonnet-4-5", LISTED, "gemini-3-flash-preview"),
    ("claude-3-5-haiku-latest", LISTED, "gemini-2.5-flash-lite"),
    # A stable name before a preview of the same version.
    ("claude-opus-4-1", ["gemini-2.5-pro-preview-06-05", "gemini-2.5-pro"], "gemini-2.5-pro"),
    # Missing tiers fall back: opus to flash, haiku to flash.
    ("claude-opus-4-1", ["gemini-2.5-flash"], "gemini-2.5-flash"),
    ("claude-haiku-4-5", ["gemini-2.5-flash", "gemini-2.0-flash"], "gemini-2.5-flash"),
    # Nothing listed yet.
    ("claude-opus-4-1", [], "gemini-2.5-pro"),
    ("claude-sonnet-4-5", [], "gemini-2.5-flash"),
    ("claude-haiku-4-5", ["gemini-2.5-flash-preview-tts"], "gemini-2.5-flash-lite"),
])
def test_the_gemini_model_a_claude_name_gets(name, models, expected):
    assert gemini_for(name, models) == expected


def pool(id, name, kind="gemini", default=False, models=(), aliases=None, enabled=True):
    return PoolInfo(id=id, name=name, kind=kind, base_url="http://x", proxy_url=None,
                    enabled=enabled, is_default=default, models=tuple(models),
                    aliases=aliases or {})


def test_routing_a_claude_name():
    catalog = Catalog(pools={
        1: pool(1, "groq", kind="openai", default=True, models=["llama-3.3-70b"]),
        2: pool(2, "gemini", models=LISTED, aliases={"claude-opus-4-1": "gemini-2.5-pro"}),
        3: pool(3, "proxy", kind="openai", models=["claude-3-haiku"]),
    })
    # An alias wins; a listed name goes to its pool; else the first Gemini pool's mapping,
    # even when the default pool speaks OpenAI.
    route = route_claude(catalog, "claude-opus-4-1")
    assert (route.pool.name, route.model) == ("gemini", "gemini-2.5-pro")
    route = route_claude(catalog, "claude-3-haiku")
    assert (route.pool.name, route.model) == ("proxy", "claude-3-haiku")
    route = route_claude(catalog, "claude-sonnet-4-5")
    assert (route.pool.name, route.model) == ("gemini", "gemini-3-flash-preview")
    route = route_claude(catalog, "gemini-2.5-flash")
    assert (route.pool.name, route.model) == ("gemini", "gemini-2.5-flash")
    route = route_claude(catalog, "llama-3.3-70b")
    assert (route.pool.name, route.model) == ("groq", "llama-3.3-70b")
