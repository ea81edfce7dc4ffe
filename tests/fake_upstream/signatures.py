"""Thought signatures the fake issues and later recognises (reference dialects.md 2.4).

A signature is opaque base64 to clients. The fake's are 27 bytes: a two-byte protobuf-looking
header, a random nonce and a MAC of the nonce under a fixed secret, so any fake process
(in-process or standalone) recognises any other's. They never contain ``+`` or ``/``: the
standard and URL-safe base64 alphabets then agree, and google-genai, which decodes the field
to bytes and re-encodes it URL-safe when it sends it back, returns the very same string.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Optional

_SECRET = b"balancer fake upstream thought signatures"
_HEADER = b"\x0a\x19"
_NONCE, _MAC = 9, 16

#: Values the Gemini API accepts in place of a real signature (its FAQ names both).
DUMMIES = frozenset({"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"})

VALID, DUMMY, CORRUPTED = "valid", "dummy", "corrupted"


def _mac(nonce: bytes) -> bytes:
    return hmac.new(_SECRET, nonce, hashlib.sha256).digest()[:_MAC]


def issue() -> str:
    """A fresh signature (standard base64, no padding, no ``+`` or ``/``)."""
    while True:
        nonce = secrets.token_bytes(_NONCE)
        text = base64.b64encode(_HEADER + nonce + _mac(nonce)).decode("ascii")
        if "+" not in text and "/" not in text:
            return text


def _decode(value: str) -> Optional[bytes]:
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def verdict(value: object) -> str:
    """``VALID`` for a signature this fake issued, ``DUMMY`` for an accepted dummy (as a
    literal or base64 of its bytes), else ``CORRUPTED``."""
    if not isinstance(value, str) or not value:
        return CORRUPTED
    if value in DUMMIES:
        return DUMMY
    raw = _decode(value)
    if raw is None:
        return CORRUPTED
    if raw.decode("latin-1") in DUMMIES:
        return DUMMY
    if len(raw) != len(_HEADER) + _NONCE + _MAC or not raw.startswith(_HEADER):
        return CORRUPTED
    nonce, mac = raw[len(_HEADER) : -_MAC], raw[-_MAC:]
    return VALID if hmac.compare_digest(mac, _mac(nonce)) else CORRUPTED
