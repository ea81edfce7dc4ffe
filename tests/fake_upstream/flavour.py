"""What every API flavour (native Gemini, Gemini's OpenAI layer, OpenAI provider) provides."""

from __future__ import annotations

from typing import Optional

from .behaviours import Script
from .state import FakeState
from .wire import Call, Reply


class Flavour:
    """One API dialect mounted under a path prefix.

    The app calls, in order: ``route`` (which endpoint, model from the path), ``auth_error``
    (no usable key), ``bad_json``, ``classify`` (model from the body, stream or not), then
    ``mode_error`` for scripted errors or ``answer``. Body validation belongs in ``answer``:
    the real services check the key before they look at the body.
    """

    name = ""

    def __init__(self, state: FakeState) -> None:
        """Bind to the shared state (scripts are taken by the app, settings read here)."""
        self.state = state

    def route(self, call: Call) -> bool:
        """Set ``call.action`` / ``call.model`` / ``call.kind`` from the path; False if unknown."""
        raise NotImplementedError

    def auth_error(self, call: Call) -> Optional[Reply]:
        """The answer for a request whose key is missing or sent the wrong way, else None."""
        raise NotImplementedError

    def bad_json(self, call: Call, detail: str) -> Reply:
        """The answer for a body that is not JSON."""
        raise NotImplementedError

    def classify(self, call: Call) -> None:
        """Complete ``call.model`` and ``call.kind`` from the parsed body (never fails)."""

    def mode_error(self, call: Call, script: Script) -> Reply:
        """The answer for a key scripted with an error mode."""
        raise NotImplementedError

    def answer(self, call: Call, script: Script) -> Reply:
        """The real answer, shaped by content/stream modes of ``script``."""
        raise NotImplementedError

    def path_not_found(self, call: Call) -> Reply:
        """The answer for a path under this prefix that no endpoint serves."""
        raise NotImplementedError
