"""The one error the translators raise: a client field with no faithful Gemini counterpart."""
from __future__ import annotations

from typing import Any, Collection, Mapping, Optional

from balancer.text import quoted


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


def request_object(body: Any) -> dict:
    """``body`` if it is a JSON object; refused otherwise."""
    if not isinstance(body, dict):
        raise Untranslatable("The request body must be a JSON object.")
    return body


def refuse_unknown(body: dict, *known: Collection[str],
                   refused: Optional[Mapping[str, str]] = None) -> None:
    """Refuse the first field set (not null) that none of ``known`` names: with its reason
    when ``refused`` gives one, else as a field without a Gemini counterpart."""
    for key, value in body.items():
        if value is not None and not any(key in names for names in known):
            if refused is not None and key in refused:
                raise Untranslatable(f"'{key}': {refused[key]}.", key)
            raise Untranslatable(f"{quoted(key)} has no counterpart in the Gemini API, so it "
                                 "cannot be honoured.", key)
