"""The one error the translators raise: a client field with no faithful Gemini counterpart."""
from __future__ import annotations

from typing import Optional


class Untranslatable(ValueError):
    """A request (or answer) that cannot be carried over faithfully.

    The proxy answers it with a 400 in the client's own error shape: ``message`` says what
    and why, ``param`` names the field (OpenAI's ``error.param``), e.g.
    ``messages[2].content[0].image_url.url``.
    """

    def __init__(self, message: str, param: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
