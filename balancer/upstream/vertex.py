"""Vertex AI in express mode: URLs, the methods it offers, what its answers mean.

Express mode takes a Google Cloud API key (``x-goog-api-key``) on a global host
with no project or location in the path, and offers only three methods per
model: ``generateContent``, ``streamGenerateContent`` and ``countTokens`` under
``/v1/publishers/google/models/{model}``. Requests and answers are Gemini's
native shapes, so Balancer's Gemini translation serves it as it is; errors are
the same Google envelope, so the Gemini classifier reads them. See
``docs/vertex-express.md``.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Optional

from balancer.keypool.outcome import Outcome, Verdict
from balancer.upstream import gemini

KIND = "vertex_express"
DEFAULT_BASE_URL = "https://aiplatform.googleapis.com"
#: The methods express mode offers for a model (its REST reference lists no others).
METHODS = frozenset({"generateContent", "streamGenerateContent", "countTokens"})
#: Served when the pool has no models of its own: express mode has no model list call
#: for API keys. Gemini models Google lists for express mode.
DEFAULT_MODELS: tuple[str, ...] = (
    "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash",
    "gemini-2.0-flash-lite",
)
#: The model a probe counts tokens on when it checks a key for no model in particular.
PROBE_MODEL = "gemini-2.5-flash"
PROBE_BODY = b'{"contents":[{"role":"user","parts":[{"text":"ping"}]}]}'


def configured_models(aliases: Mapping[str, str]) -> tuple[str, ...]:
    """A pool's models: the documented express-mode models, then its alias targets."""
    out = dict.fromkeys(DEFAULT_MODELS)
    out.update(dict.fromkeys(t for t in aliases.values() if isinstance(t, str) and t))
    return tuple(out)


class Unsupported(ValueError):
    """A Gemini API call express mode does not offer (files, cached contents, listing)."""


def method_of(path: str) -> Optional[str]:
    """The method of a ``models/{model}:{method}`` path, else None."""
    route = path.partition("?")[0]
    if not route.startswith("models/") or ":" not in route:
        return None
    return route.rpartition(":")[2]


def native_url(base_url: str, api_version: str, path: str) -> str:
    """The express-mode URL of a Gemini API path: ``models/{m}:generateContent`` ->
    ``{base}/v1/publishers/google/models/{m}:generateContent``.

    Express mode speaks ``v1`` (and ``v1beta1``), not Gemini's ``v1beta``.

    :raises Unsupported: a path express mode has no counterpart for.
    :raises ValueError: a path with a key parameter, whitespace or dot segments.
    """
    if method_of(path) not in METHODS:
        route = path.partition("?")[0]
        what = {"files": "the Files API", "cachedContents": "cached contents"}.get(
            route.split("/", 1)[0], repr(route))
        raise Unsupported(f"Vertex AI express mode does not offer {what}: only "
                          "generateContent, streamGenerateContent and countTokens.")
    version = "v1beta1" if api_version.startswith("v1beta") and api_version != "v1beta" else "v1"
    return gemini.native_url(base_url, version, "publishers/google/" + path)


def classify(status: int, headers: Mapping[str, str], body: bytes, now: float, *,
             secrets: Iterable[str] = ()) -> Verdict:
    """The verdict for a non-2xx express-mode answer.

    Google's classifier (quota 429 RESOURCE_EXHAUSTED cools the key, API_KEY_INVALID
    and BILLING_DISABLED retire it, 403 PERMISSION_DENIED keeps it off the model for a
    while), with one thing Vertex says differently: "API keys are not supported by
    this API" means the URL is not an express-mode one, which is Balancer's
    configuration, not the key.
    """
    verdict = gemini.classify(status, headers, body, now, secrets=secrets)
    low = (verdict.message or "").lower()
    if "api keys are not supported" in low:
        return Verdict(Outcome.PROXY_FAULT, reason="not_an_express_url", status=verdict.status,
                       message=verdict.message)
    return verdict
