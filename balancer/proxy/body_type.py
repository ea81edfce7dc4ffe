"""The proxy takes JSON bodies only (and an upload's chunks as they come).

A web page can make a browser send a POST elsewhere without asking first only
with a ``text/plain``, form or multipart body; refusing every body that is not
``application/json`` leaves such a page nothing to send. The chunks of a
resumable upload carry the file's own bytes, but they go to a signed URL that
only the client that started the upload knows.
"""
from __future__ import annotations

from typing import Optional

from flask import Request, Response

from balancer.proxy.errors import anthropic_error, google_error, openai_error

JSON = "application/json"


def has_body(request: Request) -> bool:
    """Whether a request carries a body (by length, or sent in chunks)."""
    return bool(request.content_length) or \
        "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def refusal(request: Request, api_format: str, upload_chunk: bool = False) -> Optional[Response]:
    """A 415 in the caller's API format for a body that is not JSON, or None."""
    if upload_chunk or not has_body(request) or request.mimetype == JSON:
        return None
    sent = (request.mimetype or "none")[:100]
    message = f"Request bodies must be JSON: send 'Content-Type: {JSON}' (got {sent!r})."
    if api_format == "gemini":
        return google_error(415, message)
    if api_format == "anthropic":
        return anthropic_error(415, message)
    return openai_error(415, message, code="unsupported_media_type")
