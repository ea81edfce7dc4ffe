"""Claude model names on Gemini pools: the default mapping when no alias names them.

Claude Code and other Anthropic clients ask for the models their tool is set to
(``claude-sonnet-4-5``, ``claude-opus-4-1``, ``claude-3-5-haiku-latest``…). A pool alias
of that exact name wins (``routing``); failing one, the name's class picks a Gemini model
from the pool's model list:

- opus-class -> the newest Gemini ``pro`` model, else the best flash;
- sonnet-class (and any other ``claude…`` name) -> the newest Gemini ``flash`` model
  (not flash-lite), else the newest pro;
- haiku-class -> the newest ``flash-lite`` model, else the best flash.

"Newest" is the highest version in the name (``gemini-3-…`` before ``gemini-2.5-…``), a
stable name before a preview of the same version; models for speech, images, live audio,
embeddings or computer use are never picked. A pool whose list is not fetched yet gets
``gemini-2.5-pro``, ``gemini-2.5-flash`` and ``gemini-2.5-flash-lite``. Pure: no Flask.
"""
from __future__ import annotations

import re
from typing import Iterable, Optional

_NAME = re.compile(r"gemini-(\d+(?:\.\d+)?)-(pro|flash-lite|flash)(?:-|$)")
_SPECIAL = re.compile(r"tts|image|audio|live|embed|computer|robotics|thinking-exp|customtools")
_FALLBACK = {"opus": "gemini-2.5-pro", "sonnet": "gemini-2.5-flash",
             "haiku": "gemini-2.5-flash-lite"}
#: For each class, the Gemini tiers to try, in order.
_TIERS = {"opus": ("pro", "flash"), "sonnet": ("flash", "pro"), "haiku": ("flash-lite", "flash")}
#: Names an Anthropic client's model list shows, one per class.
LISTED = {"opus": "claude-opus-4-1", "sonnet": "claude-sonnet-4-5", "haiku": "claude-haiku-4-5"}


def is_claude(name: str) -> bool:
    """Whether a requested model name is one of Anthropic's."""
    return name.lower().startswith(("claude", "anthropic/claude"))


def claude_class(name: str) -> str:
    """``opus``, ``sonnet`` or ``haiku`` for a Claude model name (sonnet when it says none)."""
    lowered = name.lower()
    for kind in ("opus", "haiku", "sonnet"):
        if kind in lowered:
            return kind
    return "sonnet"


def _rank(name: str) -> tuple[float, int, int]:
    match = _NAME.search(name)
    version = float(match.group(1)) if match else 0.0
    stable = 0 if ("preview" in name or "exp" in name) else 1
    # Of equal version and stability, the plain name before a dated or -latest one.
    return version, stable, -len(name)


def gemini_for(name: str, models: Iterable[str]) -> str:
    """The Gemini model of ``models`` that serves the Claude model ``name``."""
    kind = claude_class(name)
    candidates = [m for m in models if _NAME.search(m) and not _SPECIAL.search(m)]
    for tier in _TIERS[kind]:
        picked = _best(candidates, tier)
        if picked is not None:
            return picked
    return _FALLBACK[kind]


def _best(models: list[str], tier: str) -> Optional[str]:
    matching = [m for m in models if _NAME.search(m).group(2) == tier]  # type: ignore[union-attr]
    return max(matching, key=_rank) if matching else None
