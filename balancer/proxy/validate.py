"""Checks on what clients send before any of it goes upstream."""
from __future__ import annotations

import re
from typing import Any, Optional

import orjson

#: Letters, digits and ._:-@+ with single slashes between segments; no "..",
#: no "?" "#" "%" or spaces, so a model name can never change an upstream path.
_MODEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+\-]*(?:/[A-Za-z0-9][A-Za-z0-9._:@+\-]*)*")
MAX_MODEL_LENGTH = 200


class BadRequest(ValueError):
    """The client's request cannot be forwarded; the message says why."""

    def __init__(self, message: str, param: Optional[str] = None, status: int = 400):
        super().__init__(message)
        self.param = param
        self.status = status


def check_model(value: Any, param: str = "model") -> str:
    """A model name safe to forward, or BadRequest."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{param}' is required and must be a string.", param)
    if len(value) > MAX_MODEL_LENGTH or ".." in value or not _MODEL_RE.fullmatch(value):
        raise BadRequest(f"Invalid model name in '{param}'.", param)
    return value


def health_model(model: str) -> str:
    """The name key health is tracked under: ``models/x`` and ``x`` are one model."""
    return model[len("models/"):] if model.startswith("models/") else model


def json_object(raw: bytes) -> dict:
    """The request body as a JSON object, or BadRequest."""
    if not raw:
        raise BadRequest("The request body is empty; a JSON object is expected.")
    try:
        # orjson: every client body is parsed here; it also refuses what json would let
        # through and nothing downstream could encode again (lone surrogates).
        body = orjson.loads(raw)
    except ValueError:
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body
