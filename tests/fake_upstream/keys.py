"""Deterministic fake API keys that look like the real thing."""

from __future__ import annotations

import base64
import hashlib

_GEMINI_PREFIX = "AIza"
_GEMINI_BODY_LEN = 35  # real Gemini keys are 39 characters: "AIza" + 35
_OPENAI_BODY_LEN = 48  # classic "sk-" + 48 alphanumerics


def make_key(tag: str, n: int, openai: bool = False) -> str:
    """Return a stable key for ``(tag, n)``.

    Gemini style is ``"AIza"`` + 35 characters of ``[0-9A-Za-z_-]``; with ``openai=True`` it is
    ``"sk-"`` + 48 alphanumerics. Different ``(tag, n)`` pairs give different keys.
    """
    digest = hashlib.sha256(f"{tag}\x00{n}\x00{int(openai)}".encode()).digest()
    # Two digests give enough characters for either style.
    digest += hashlib.sha256(digest).digest()
    text = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
    if openai:
        alnum = "".join(ch for ch in text if ch.isalnum())
        return "sk-" + alnum[:_OPENAI_BODY_LEN]
    return _GEMINI_PREFIX + text[:_GEMINI_BODY_LEN]
