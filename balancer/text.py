"""Client text made safe to store or to show: no NULs, no lone surrogates, bounded.

Pure: used by the models (``balancer.models.fit``) before a row is written, and by
the proxy and the dialects when an error message names what a client sent.
"""
from __future__ import annotations

import json
import re
from typing import Optional

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(text: str, limit: Optional[int] = None) -> str:
    """``text`` without NULs, lone surrogates replaced by U+FFFD, at most ``limit`` characters.

    PostgreSQL refuses NULs in text and no driver can encode a lone surrogate; NULs go
    before the cut, so what is kept is as long as ``limit`` allows.
    """
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text if limit is None else text[:limit]


def quoted(text: object, limit: int = 80) -> str:
    """Client text for a message: JSON-quoted (no raw newline, NUL or quote reaches a log
    or a page as such) and cut to ``limit`` characters with "…" when longer."""
    text = clean(str(text))
    cut = text[:limit] + "…" if len(text) > limit else text
    return json.dumps(cut, ensure_ascii=False)
