"""A fake Gemini / OpenAI-compatible upstream for Balancer's tests and benchmarks.

It speaks three flavours on one loopback port (see ``app.py`` for the URL layout): Gemini's
native API, Gemini's OpenAI-compatible layer, and a plain OpenAI-compatible provider. Each
API key can be scripted to misbehave with the exact bodies real upstreams send.

Public names are imported lazily so that ``python -m tests.fake_upstream --server gevent``
can monkey-patch the standard library before ``threading`` or ``socket`` users load.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .control import FakeControl
    from .keys import make_key
    from .server import FakeUpstream

__all__ = ["FakeUpstream", "FakeControl", "make_key"]

_HOMES = {"FakeUpstream": ".server", "FakeControl": ".control", "make_key": ".keys"}


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home, __name__), name)
    globals()[name] = value
    return value
