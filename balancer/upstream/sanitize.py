"""Removing API keys and other credentials from text before it is stored or shown.

Upstream messages echo keys back ("Consumer 'api_key:AIzaSy...' has been
suspended", "Incorrect API key provided: sk-VKMIs***...wjh3"), and library
errors may carry a URL. Anything that goes to a log, the database, the admin
UI or a client passes through :func:`redact` first.

Keys without a prefix (Mistral's, Together's) have no pattern here: 32 hex
characters are as often a request id. They are removed by value, as the
``secrets`` of :func:`redact` (the key the call was made with).
"""
from __future__ import annotations

import re
from typing import Iterable

from balancer.keyshapes import clean, family_prefix

#: What a redacted credential turns into when nothing better is known.
REDACTED = "[redacted]"

# Secrets shorter than this are not replaced verbatim: replacing a 2-letter
# "secret" would shred the message while protecting nothing.
_MIN_SECRET_LEN = 6

# Not preceded by a letter or digit, so words such as "task-force" or
# "risk-free" are left alone.
_START = r"(?<![0-9A-Za-z])"
# An optional masked or truncated tail as upstreams print it: "***...wjh3",
# "...", "…". A single full stop is not a tail (it ends sentences).
_TAIL = r"(?:(?:\*+|\.{2,}|…)+[0-9A-Za-z_-]*)?"

# (pattern, replacement). Order matters: specific key shapes before the
# generic name=value and header forms, which then no longer see a raw key.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # URL userinfo (proxy URLs): scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:]+:[^/\s@]*@"), r"\1" + REDACTED + "@"),
    # Gemini / Google API keys, whole ("AIza" + 35) or truncated ("AIzaSy...").
    (re.compile(_START + r"AIza[0-9A-Za-z_-]*" + _TAIL), "AIza…"),
    # Gemini auth keys, whole ("AQ." + 20 or more) or truncated ("AQ.Ab8RN6...", "AQ.A…x9Q").
    # Two characters after "AQ.", or one and a tail, so "AQ. Next" stays; dotted parts
    # go too, since the charset of auth keys is not published, but a final full stop stays.
    (re.compile(_START + r"AQ\.(?=[0-9A-Za-z_-]{2}|[0-9A-Za-z_-]?(?:\*|\.\.|…))"
                r"[0-9A-Za-z_-]*(?:\.[0-9A-Za-z_-]+)*" + _TAIL), "AQ.…"),
    # OpenAI-style keys: sk-proj-, sk-svcacct-, sk-or-v1- (OpenRouter), sk-ant- (Anthropic),
    # and masked forms.
    (re.compile(_START + r"sk-[0-9A-Za-z_-]{2,}" + _TAIL), "sk-…"),
    # Groq, xAI and Cerebras keys.
    (re.compile(_START + r"gsk_[0-9A-Za-z]{8,}" + _TAIL), "gsk_…"),
    (re.compile(_START + r"xai-[0-9A-Za-z]{8,}" + _TAIL), "xai-…"),
    (re.compile(_START + r"csk-[0-9A-Za-z]{8,}" + _TAIL), "csk-…"),
    # Bearer tokens anywhere; Basic credentials only in an Authorization header
    # ("Basic information" is English). Under 8 characters is a word ("Bearer
    # auth"), not a token.
    (re.compile(r"(?i)\b(Bearer)\s+[0-9A-Za-z._~+/=*…-]{8,}"), r"\1 " + REDACTED),
    (re.compile(r"(?i)\b(Authorization\s*[:=]\s*Basic)\s+[0-9A-Za-z._~+/=*…-]+"),
     r"\1 " + REDACTED),
    # Key-carrying headers: "x-goog-api-key: ...", "api-key: ...".
    (re.compile(r"(?i)\b((?:x-goog-api-key|x-api-key|api-key)\s*[:=]\s*)[^\s,;&\"']+"),
     r"\1" + REDACTED),
    # Query parameters and name=value pairs: key=, api_key=, access_token=, ...
    (re.compile(r"(?i)(?<![0-9A-Za-z_-])((?:key|api_?key|access_token|token|auth)=)[^&\s\"'#,;]+"),
     r"\1" + REDACTED),
    # Anything else printed in masked form, e.g. "abcd****wxyz".
    (re.compile(_START + r"[0-9A-Za-z_-]{3,}\*{3,}[.…]*[0-9A-Za-z_-]{2,}"), REDACTED),
)


def _mask(secret: str) -> str:
    """The placeholder for a known secret: its family prefix at most, never its tail."""
    prefix = family_prefix(secret)
    return prefix + "…" if prefix else REDACTED


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every listed secret and anything that looks like a credential masked.

    :param text: any message; ``None`` or non-strings are converted with ``str``.
    :param secrets: exact values to remove (e.g. the key the call was made
        with), longest first; values shorter than 6 characters are ignored.
    :returns: the text with ``AIza…``, ``AQ.…``, ``sk-…`` (or another family
        prefix) or ``[redacted]`` in place of credentials.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    known = sorted({clean(s) for s in secrets if isinstance(s, str)}, key=len, reverse=True)
    for secret in known:
        if len(secret) >= _MIN_SECRET_LEN and secret in text:
            text = text.replace(secret, _mask(secret))
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def truncate_message(text: str, limit: int = 500) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def clean_message(text: str, secrets: Iterable[str] = (), limit: int = 500) -> str:
    """An upstream message made safe to keep: redacted, whitespace-trimmed, truncated.

    Redaction runs before truncation, so a cut can never leave a key fragment
    that the patterns would no longer recognise.
    """
    return truncate_message(redact(text, secrets).strip(), limit)
