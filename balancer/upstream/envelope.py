"""Reading upstream JSON bodies without ever raising: error envelopes, empty answers.

Shared by :mod:`balancer.upstream.gemini` and :mod:`balancer.upstream.openai`.
Upstream bodies are untrusted: anything unexpected yields ``None``, never an
exception, so a strange answer degrades to classification by status.
"""
from __future__ import annotations

import html
import json
import re
from typing import Any, Mapping, Optional, Union

Body = Union[bytes, bytearray, memoryview, str, None]

_TAG = re.compile(r"<[^>]{0,500}>")
_SPACE = re.compile(r"\s+")
_SCRIPT = re.compile(r"(?is)<(script|style)\b.*?</\1\s*>")


def _text(data: Body) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return bytes(data).decode("utf-8", "replace")


def load_json(body: Body) -> Any:
    """The parsed JSON of a body, or ``None`` when it is empty or not JSON.

    A body framed as one SSE event (``data: {...}``) is accepted too: Gemini
    has answered errors on ``alt=sse`` calls that way.
    """
    text = _text(body).lstrip("\ufeff").strip()
    if not text:
        return None
    if text.startswith("data:"):
        text = text[5:].strip()
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def find_error(parsed: Any) -> Optional[dict]:
    """The error object of ``{"error": {...}}`` or ``[{"error": {...}}]``, else ``None``.

    A bare string ``{"error": "text"}`` (some OpenAI-compatible servers) becomes
    ``{"message": "text"}``.
    """
    if isinstance(parsed, list):
        # One level only: the compat layer wraps once, and a streamed array
        # (Gemini without alt=sse) may carry the error as any element.
        for item in parsed:
            if isinstance(item, dict):
                found = find_error(item)
                if found is not None:
                    return found
        return None
    if not isinstance(parsed, dict):
        return None
    err = parsed.get("error")
    if isinstance(err, dict) and err:
        return err
    if isinstance(err, str) and err:
        return {"message": err}
    return None


def parse_error_event(data: Body) -> Optional[dict]:
    """The error object carried by one stream event's JSON text, else ``None``.

    Accepts an SSE ``data:`` payload, a bare (possibly multi-line) JSON object,
    a list-wrapped one, and an element of Gemini's streamed JSON array with
    its ``[`` / ``,`` / ``]`` framing still attached. ``[DONE]`` is no error.
    """
    text = _text(data).strip()
    if not text or text.startswith("[DONE]"):
        return None
    parsed = load_json(text)
    if parsed is None:
        parsed = load_json(text.strip("[],\r\n\t "))
    return find_error(parsed)


def error_message(error: Mapping[str, Any]) -> str:
    """The human message of an error object, as a string."""
    msg = error.get("message")
    if isinstance(msg, str):
        return msg
    return "" if msg is None else json.dumps(msg)[:2000]


def other_message(parsed: Any) -> str:
    """A message from a JSON body that is not an error envelope (``message``/``detail``)."""
    if isinstance(parsed, dict):
        for name in ("message", "detail", "error_description", "msg"):
            value = parsed.get(name)
            if isinstance(value, str) and value:
                return value
    return ""


def body_text(body: Body, limit: int = 4000) -> str:
    """A non-JSON body as one line of plain text (HTML tags and entities removed)."""
    text = _text(body[: limit * 4] if body is not None else None)
    if "<" in text:
        text = _TAG.sub(" ", _SCRIPT.sub(" ", text))
        text = html.unescape(text)
    return _SPACE.sub(" ", text).strip()[:limit]


def header(headers: Optional[Mapping[str, str]], name: str) -> Optional[str]:
    """A header's value by case-insensitive name, from any mapping."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        lname = name.lower()
        for k, v in headers.items():
            if isinstance(k, str) and k.lower() == lname:
                return v
    return value


def has_block_reason(body: Mapping[str, Any]) -> bool:
    """True when a Gemini-style body says the prompt was blocked (client content)."""
    for name in ("promptFeedback", "prompt_feedback"):
        feedback = body.get(name)
        if isinstance(feedback, dict) and (feedback.get("blockReason")
                                           or feedback.get("block_reason")):
            return True
    return False


def openai_body_is_empty(body: Any) -> bool:
    """True when a 2xx OpenAI-shaped body should have had choices or data and has none.

    Streamed ``chat.completion.chunk`` objects are never judged (the usage
    chunk has ``"choices": []`` by design); model lists may be empty; an
    embeddings answer (it carries ``usage``) must have data.
    """
    if not isinstance(body, dict):
        return False
    if not body:
        return True
    if has_block_reason(body):
        return False
    kind = body.get("object")
    if kind == "chat.completion.chunk":
        return False
    if "choices" in body or kind in ("chat.completion", "text_completion"):
        choices = body.get("choices")
        return not (isinstance(choices, list) and choices)
    if "data" in body and "usage" in body:
        data = body.get("data")
        return not (isinstance(data, list) and data)
    return False
