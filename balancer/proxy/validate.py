"""Checks on what clients send before any of it goes upstream."""
from __future__ import annotations

import re
from typing import Any, Optional

import orjson

#: Letters, digits and ._:-@+ with single slashes between segments; no "..",
#: no "?" "#" "%" or spaces, so a model name can never change an upstream path.
_MODEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+\-]*(?:/[A-Za-z0-9][A-Za-z0-9._:@+\-]*)*")
MAX_MODEL_LENGTH = 200
#: Deeper than any real request; parsers and the code that walks a body recurse, and
#: a body a few kilobytes long could otherwise nest past Python's recursion limit.
MAX_DEPTH = 64
_TOO_DEEP = f"The request body is nested more than {MAX_DEPTH} levels deep."


class BadRequest(ValueError):
    """The client's request cannot be forwarded; the message says why."""

    def __init__(self, message: str, param: Optional[str] = None, status: int = 400,
                 code: Optional[str] = None, retry_after: Optional[float] = None):
        super().__init__(message)
        self.param = param
        self.status = status
        #: the error code OpenAI-format clients get (None: the route's own).
        self.code = code
        self.retry_after = retry_after


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
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):  # orjson's own limit, far past ours
            raise BadRequest(_TOO_DEEP) from None
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    check_depth(body)
    return body


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """BadRequest when ``value`` nests arrays and objects more than ``limit`` deep.

    A loop, not a recursion: the code further on (translators, ``json.dumps``) recurses,
    and a body a few kilobytes long could otherwise take it past Python's recursion limit.
    Walks the parsed value rather than the bytes: its cost is the number of values, not
    the length of the strings (a 15 MiB image is one value).
    """
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                if depth >= limit:
                    raise BadRequest(_TOO_DEEP)
                stack.append((child, depth + 1))
