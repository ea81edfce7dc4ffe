"""Checks on what a pool may hold: names, kinds, URLs, proxies, overrides, aliases,
request defaults, image hosts. Each returns the clean value or raises ``PoolError``."""
from __future__ import annotations

import re
from typing import Any, Mapping, Optional, Sequence
from urllib.parse import urlsplit

from balancer.crypto import SecretBox
from balancer.runtime import Runtime
from balancer.settings import SettingError, validate
from balancer.upstream import image_hosts, request_defaults

KINDS = ("gemini", "openai", "vertex_express")

#: A pool's name prefixes model names ("groq/llama-3.3-70b"): no slash, no capitals.
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
#: "models/..." is Gemini's own model prefix, never a pool's.
_RESERVED_NAMES = frozenset({"models"})
#: An alias is what a client sends as its model: one segment.
_ALIAS_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,127}")
#: Where an alias points: an upstream model name, slashes allowed between
#: segments ("meta-llama/llama-3.3-70b-instruct"), nothing that could change a URL.
_TARGET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+\-]*(?:/[A-Za-z0-9][A-Za-z0-9._:@+\-]*)*")
MAX_MODEL_LENGTH = 200
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
#: Settings that govern the whole process, not one pool.
GLOBAL_ONLY = frozenset({"sync_interval_seconds", "log_requests", "recovery_interval_seconds",
                         "request_log_retention_days", "key_event_retention_days",
                         "usage_retention_days", "usage_hour_retention_days",
                         "usage_day_retention_days", "audit_retention_days",
                         "responses_ttl_hours"})


class PoolError(ValueError):
    """A pool change was refused; the message says why, in one line."""


def check_name(name: Any) -> str:
    """A pool name: lower-case letters, digits, ``_`` and ``-``, at most 64."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise PoolError(f"pool name {name!r}: use 1-64 of a-z, 0-9, '_' and '-', starting "
                        "with a letter or digit (it prefixes model names, so no '/')")
    if name in _RESERVED_NAMES:
        raise PoolError(f"pool name {name!r} is reserved")
    return name


def check_kind(kind: Any) -> str:
    """``gemini``, ``openai`` or ``vertex_express``."""
    if kind not in KINDS:
        raise PoolError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
    return kind


def check_base_url(url: Optional[str], kind: str) -> Optional[str]:
    """An http(s) base URL without query or fragment; required for ``openai`` pools."""
    url = (url or "").strip()
    if not url:
        if kind == "openai":
            raise PoolError("an openai pool needs a base URL, e.g. https://api.groq.com/openai/v1")
        return None
    _check_url("base URL", url, ("http", "https"))
    parts = urlsplit(url)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise PoolError("base URL: no query string or fragment")
    if parts.username or parts.password:
        raise PoolError("base URL: no credentials in the URL (keys go in headers)")
    return url.rstrip("/")


def check_proxies(urls: Optional[Sequence[str]]) -> list[str]:
    """Several outgoing proxies, each checked, duplicates dropped, order kept."""
    found: list[str] = []
    for url in urls or ():
        url = check_proxy_url(url)
        if url and url not in found:
            found.append(url)
    return found


def check_proxy_url(url: Optional[str]) -> Optional[str]:
    """An outgoing proxy (http, https, socks5, socks5h), or None for PROXY_URL."""
    url = (url or "").strip()
    if not url:
        return None
    _check_url("proxy URL", url, _PROXY_SCHEMES)
    return url


def _check_url(what: str, url: str, schemes: tuple[str, ...]) -> None:
    if len(url) > 512 or any(c.isspace() for c in url):
        raise PoolError(f"{what}: at most 512 characters, no spaces")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise PoolError(f"{what}: not a valid URL") from None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise PoolError(f"{what}: expected {'/'.join(schemes)}://host[:port]...")


def check_overrides(overrides: Optional[Mapping[str, Any]], rt: Runtime) -> dict:
    """Setting overrides, coerced to their types; unknown or process-wide names refused."""
    overrides = dict(overrides or {})
    for name in overrides:
        if name in GLOBAL_ONLY:
            raise PoolError(f"{name}: applies to the whole process, not one pool")
    try:
        return validate(overrides, rt.settings.current.values)
    except SettingError as exc:
        raise PoolError(str(exc)) from None


def check_aliases(aliases: Optional[Mapping[str, Any]]) -> dict:
    """Aliases as alias -> upstream model, both safe to use as model names."""
    if aliases is None:
        return {}
    if not isinstance(aliases, Mapping):
        raise PoolError("aliases: expected a mapping of alias -> model")
    clean = {}
    for alias, target in aliases.items():
        if not isinstance(alias, str) or not _ALIAS_RE.fullmatch(alias) or ".." in alias:
            raise PoolError(f"alias {alias!r}: use letters, digits and ._:@+- (no '/'), "
                            "at most 128")
        if not is_model_name(target):
            raise PoolError(f"alias {alias!r}: {target!r} is not a valid model name")
        clean[alias] = target
    return clean


def check_request_defaults(raw: Optional[Mapping[str, Any]], kind: str) -> dict:
    """Request defaults in their stored form; safety settings and thinking budgets
    only mean something to Gemini."""
    try:
        parsed = request_defaults.parse(dict(raw) if raw else {})
    except request_defaults.DefaultsError as exc:
        raise PoolError(f"request defaults: {exc}") from None
    if kind not in ("gemini", "vertex_express") and (parsed.safety_settings or parsed.thinking_budgets):
        raise PoolError("request defaults: safety settings and thinking budgets apply to "
                        "gemini pools only (and vertex_express ones); an openai pool takes headers")
    return parsed.as_json()


def is_model_name(value: Any) -> bool:
    """True for a name safe to put in an upstream path (segments joined by single slashes)."""
    return isinstance(value, str) and len(value) <= MAX_MODEL_LENGTH and ".." not in value \
        and _TARGET_RE.fullmatch(value) is not None


def check_image_host(kind: Optional[str], base_url: Optional[str], token: Optional[str],
                     stored: Optional[Mapping[str, Any]], box: SecretBox) -> Optional[dict]:
    """The stored form of an image host: ``{"kind", "base_url", "token"}`` with the token
    encrypted; None (or kind ``off``) switches it off.

    :param token: the plain token; None keeps the stored one (a form that shows it masked
        sends nothing back), "" removes it.
    """
    kind = (kind or "").strip().lower()
    if kind in ("", "off", "none"):
        return None
    if kind not in image_hosts.KINDS:
        raise PoolError(f"image host {kind!r}: expected one of {', '.join(image_hosts.KINDS)} "
                        "or off")
    base_url = (base_url or "").strip().rstrip("/") or None
    if base_url:
        _check_url("image host URL", base_url, ("http", "https"))
    elif not image_hosts.DEFAULT_BASE[kind]:
        raise PoolError(f"image host {kind}: a base URL is required (the site's address)")
    if token is None:
        kept = (stored or {}).get("token") if (stored or {}).get("kind") == kind else None
    else:
        token = token.strip()
        if any(c.isspace() for c in token):
            raise PoolError("image host token: no spaces or line breaks")
        kept = box.encrypt(token) if token else None
    if kind == "smms" and not kept:
        raise PoolError("image host smms: a token is required (SM.MS refuses uploads without)")
    return {"kind": kind, "base_url": base_url, "token": kept}
