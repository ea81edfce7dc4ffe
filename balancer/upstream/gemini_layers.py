"""What an error means depending on which of Gemini's two APIs was called.

The same Google error can mean different things on Gemini's own API and on its
OpenAI-compatible layer: the layer refuses auth keys (``AQ.…``) that the native API
takes. ``gemini.classify`` reads the answer; these adjust its verdict for the API the
call went to (the proxy's formats know which).
"""
from __future__ import annotations

from balancer.keypool.outcome import OPENAI_LAYER_REFUSED, Outcome, Verdict
from balancer.upstream.gemini import PROXY_FAULT_REASONS


def on_openai_layer(verdict: Verdict) -> Verdict:
    """What a verdict means for a call to Google's OpenAI-compatible layer.

    That layer refuses auth keys (``AQ.…``) with 401 UNAUTHENTICATED and the reason
    ACCESS_TOKEN_TYPE_UNSUPPORTED (or CREDENTIALS_MISSING): neither the request's
    fault nor a dead key, since Gemini's own API takes the same key. The request goes
    on with another key, and the key stays off that model for a long while with a
    reason that says why (``cooldown_no_access_seconds``).
    """
    if verdict.outcome is Outcome.PROXY_FAULT and verdict.reason in PROXY_FAULT_REASONS:
        return Verdict(Outcome.NO_ACCESS, reason=OPENAI_LAYER_REFUSED, status=verdict.status,
                       message="Gemini's OpenAI-compatible layer refuses this kind of key "
                               f"({verdict.reason}); Gemini's own API serves it (openai_api: "
                               "native)")
    return verdict


def on_native_api(verdict: Verdict) -> Verdict:
    """What a verdict means for a call to Gemini's own API: there, a key refused as
    ACCESS_TOKEN_TYPE_UNSUPPORTED is itself at fault (an auth key cut short, deleted or
    revoked), so it is disabled like any dead key; CREDENTIALS_MISSING stays Balancer's
    own fault (no key was sent)."""
    if verdict.outcome is Outcome.PROXY_FAULT and verdict.reason == "ACCESS_TOKEN_TYPE_UNSUPPORTED":
        return Verdict(Outcome.KEY_INVALID, reason=verdict.reason, status=verdict.status,
                       message=verdict.message)
    return verdict
