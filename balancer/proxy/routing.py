"""Which pool serves a model: explicit prefix, alias, model list, default pool.

Everything here reads the in-memory catalog; model lists are refreshed in the
background (services/models.py), never on the request path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

from balancer.dialects import speech
from balancer.proxy import claude_models
from balancer.proxy.validate import BadRequest, health_model
from balancer.runtime import Catalog, PoolInfo
from balancer.text import quoted
from balancer.upstream.providers import speaks_gemini


@dataclass(frozen=True)
class Route:
    """The pool chosen for a request, and the model name to send it."""

    pool: PoolInfo
    model: str

    def rewrites(self, requested: str) -> bool:
        """Whether the body's model must change before it goes upstream."""
        return self.model != requested


class NoRoute(BadRequest):
    """No enabled pool can serve the request; the message says why."""


def _pools(catalog: Catalog) -> Iterator[PoolInfo]:
    """Enabled pools, the default first, then by id."""
    ordered = sorted(catalog.pools.values(), key=lambda p: (not p.is_default, p.id))
    return (p for p in ordered if p.enabled)


def route_model(catalog: Catalog, requested: str, api_format: str = "openai") -> Route:
    """Pick the pool for ``requested``; raise NoRoute when none can serve it.

    An explicit ``pool/model`` prefix wins; then a pool's alias; then the pool
    whose model list holds the name; else the default pool. Gemini-format
    requests can only go to pools that speak Gemini's API (gemini, vertex_express).
    """
    route = _explicit(catalog, requested) or _by_alias(catalog, requested) \
        or _by_model_list(catalog, requested, api_format)
    if route is None:
        default = catalog.default_pool()
        if default is None:
            raise NoRoute("No pool is configured.", "model", status=503)
        route = Route(default, requested)
    if not route.pool.enabled:
        raise NoRoute(f"Pool '{route.pool.name}' is switched off.", "model", status=503)
    if api_format == "gemini" and not speaks_gemini(route.pool.kind):
        raise NoRoute(f"Model {quoted(requested)} is served by pool '{route.pool.name}', which "
                      "speaks the OpenAI API only: call it through /v1/chat/completions.", "model")
    return route


def route_claude(catalog: Catalog, requested: str) -> Route:
    """Pick the pool for an Anthropic client's model, as ``route_model`` does, but a
    Claude name no pool aliases or lists goes to the first Gemini pool (the default
    first), to the Gemini model ``claude_models`` maps its class to."""
    if _explicit(catalog, requested) or _by_alias(catalog, requested) \
            or _by_model_list(catalog, requested, "openai") \
            or not claude_models.is_claude(requested):
        return route_model(catalog, requested)
    for pool in _pools(catalog):
        if speaks_gemini(pool.kind):
            return Route(pool, claude_models.gemini_for(requested, pool.models))
    return route_model(catalog, requested)


def route_speech(catalog: Catalog, requested: str) -> Route:
    """Pick the pool for a text-to-speech model, as ``route_model`` does, but OpenAI's TTS
    names (``tts-1``…) that no pool aliases or lists go to the first Gemini pool (the
    default first); on a Gemini pool they become the Gemini TTS model ``speech.model_for``
    picks of its list."""
    if speech.is_openai_model(requested) and not (
            _explicit(catalog, requested) or _by_alias(catalog, requested)
            or _by_model_list(catalog, requested, "openai")):
        for pool in _pools(catalog):
            if speaks_gemini(pool.kind):
                return Route(pool, speech.model_for(requested, pool.models))
    route = route_model(catalog, requested)
    if speaks_gemini(route.pool.kind) and speech.is_openai_model(route.model):
        return Route(route.pool, speech.model_for(route.model, route.pool.models))
    return route


def _explicit(catalog: Catalog, requested: str) -> Optional[Route]:
    prefix, sep, rest = requested.partition("/")
    if not sep or prefix == "models":
        return None
    for pool in catalog.pools.values():
        if pool.name == prefix:
            if not rest:
                raise NoRoute(f"No model named after the pool prefix {quoted(prefix + '/')}.",
                              "model")
            return Route(pool, pool.aliases.get(rest, rest))
    return None


def _by_alias(catalog: Catalog, requested: str) -> Optional[Route]:
    for pool in _pools(catalog):
        target = pool.aliases.get(requested)
        if target:
            return Route(pool, target)
    return None


#: Names of Google's own models, which a Gemini pool serves whatever its list says.
_GEMINI_NAMES = ("gemini-", "gemma-")


def _by_model_list(catalog: Catalog, requested: str, api_format: str) -> Optional[Route]:
    name = health_model(requested)
    for pool in _pools(catalog):
        if api_format == "gemini" and not speaks_gemini(pool.kind):
            continue
        if name in pool.models:
            return Route(pool, requested)
        if pool.is_default and not pool.models and speaks_gemini(pool.kind) \
                and name.startswith(_GEMINI_NAMES):
            # The default pool's list is not fetched yet (the first minute): a Gemini
            # model name stays with it rather than going to a pool whose list is only
            # the documented defaults (vertex_express).
            return Route(pool, requested)
    return None


def listed_models(catalog: Catalog) -> list[tuple[str, PoolInfo]]:
    """Every model id and alias of every enabled pool, once each, with its pool."""
    seen: dict[str, PoolInfo] = {}
    for pool in _pools(catalog):
        for model in (*pool.models, *pool.aliases):
            seen.setdefault(model, pool)
    return list(seen.items())
