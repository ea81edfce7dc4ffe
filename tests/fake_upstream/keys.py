"""Deterministic fake API keys that look like the real thing."""

from __future__ import annotations

import base64
import hashlib
from typing import Optional

_GEMINI_PREFIX = "AIza"
_GEMINI_BODY_LEN = 35  # real Gemini keys are 39 characters: "AIza" + 35
_OPENAI_BODY_LEN = 48  # classic "sk-" + 48 alphanumerics

#: kind -> (prefix, body alphabet, body length) of the other shapes a test may need.
#: Alphabets: "b64" is [0-9A-Za-z_-], "alnum" letters and digits, "lower" lower-case
#: letters and digits, "hex" lower-case hex.
SHAPES: dict[str, tuple[str, str, int]] = {
    "auth": ("AQ.", "b64", 50),             # Gemini auth key (AI Studio's keys now)
    "project": ("sk-proj-", "b64", 64),      # OpenAI project key
    "svcacct": ("sk-svcacct-", "b64", 64),   # OpenAI service-account key
    "openrouter": ("sk-or-v1-", "hex", 64),  # OpenRouter
    "anthropic": ("sk-ant-api03-", "b64", 95),
    "xai": ("xai-", "alnum", 80),
    "groq": ("gsk_", "alnum", 52),
    "cerebras": ("csk-", "lower", 48),
    "mistral": ("", "alnum", 32),            # bare keys, no prefix
    "together": ("", "hex", 64),
}


def make_key(tag: str, n: int, openai: bool = False, *, kind: Optional[str] = None) -> str:
    """Return a stable key for ``(tag, n)``.

    Gemini style is ``"AIza"`` + 35 characters of ``[0-9A-Za-z_-]``; with ``openai=True`` it is
    ``"sk-"`` + 48 alphanumerics. ``kind`` names another shape from :data:`SHAPES`, e.g.
    ``make_key("t", 0, kind="auth")`` is ``"AQ."`` + 50 characters of ``[0-9A-Za-z_-]``
    (``"standard"`` and ``"openai"`` are the two above). Different ``(tag, n)`` pairs, and
    different kinds, give different keys.
    """
    if kind == "openai":
        openai, kind = True, None
    if kind not in (None, "standard"):
        return _shaped(tag, n, kind)
    digest = hashlib.sha256(f"{tag}\x00{n}\x00{int(openai)}".encode()).digest()
    # Two digests give enough characters for either style.
    digest += hashlib.sha256(digest).digest()
    text = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
    if openai:
        alnum = "".join(ch for ch in text if ch.isalnum())
        return "sk-" + alnum[:_OPENAI_BODY_LEN]
    return _GEMINI_PREFIX + text[:_GEMINI_BODY_LEN]


def _shaped(tag: str, n: int, kind: str) -> str:
    try:
        prefix, alphabet, length = SHAPES[kind]
    except KeyError:
        raise ValueError(f"no key kind {kind!r}; one of standard, openai, {', '.join(SHAPES)}") \
            from None
    body = ""
    seed = f"{tag}\x00{n}\x00{kind}".encode()
    while len(body) < length:
        seed = hashlib.sha256(seed).digest()
        body += _characters(seed, alphabet)
    return prefix + body[:length]


def _characters(digest: bytes, alphabet: str) -> str:
    if alphabet == "hex":
        return digest.hex()
    text = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
    if alphabet == "b64":
        return text
    alnum = "".join(ch for ch in text if ch.isalnum())
    return alnum.lower() if alphabet == "lower" else alnum
