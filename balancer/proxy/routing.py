"""Which pool serves a model: explicit prefix, alias, model list, default pool.

Everything here reads the in-memory catalog; model lists are refreshed in the
background (services/models.py), never on the request path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

from balancer.proxy.validate import BadRequest, health_model
from balancer.runtime import Catalog, PoolInfo


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
    requests can only go to Gemini pools.
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
    if api_format == "gemini" and route.pool.kind != "gemini":
        raise NoRoute(f"Model '{requested}' is served by pool '{route.pool.name}', which speaks "
                      "the OpenAI API only: call it through /v1/chat/completions.", "model")
    return route


def _explicit(catalog: Catalog, requested: str) -> Optional[Route]:
    prefix, sep, rest = requested.partition("/")
    if not sep or prefix == "models":
        return None
    for pool in catalog.pools.values():
        if pool.name == prefix:
            if not rest:
                raise NoRoute(f"No model named after the pool prefix '{prefix}/'.", "model")
            return Route(pool, pool.aliases.get(rest, rest))
    return None


def _by_alias(catalog: Catalog, requested: str) -> Optional[Route]:
    for pool in _pools(catalog):
        target = pool.aliases.get(requested)
        if target:
            return Route(pool, target)
    return None


def _by_model_list(catalog: Catalog, requested: str, api_format: str) -> Optional[Route]:
    name = health_model(requested)
    for pool in _pools(catalog):
        if api_format == "gemini" and pool.kind != "gemini":
            continue
        if name in pool.models:
            return Route(pool, requested)
    return None


def listed_models(catalog: Catalog) -> list[tuple[str, PoolInfo]]:
    """Every model id and alias of every enabled pool, once each, with its pool."""
    seen: dict[str, PoolInfo] = {}
    for pool in _pools(catalog):
        for model in (*pool.models, *pool.aliases):
            seen.setdefault(model, pool)
    return list(seen.items())
