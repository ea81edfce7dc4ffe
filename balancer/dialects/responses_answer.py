"""A Gemini ``generateContent`` answer as an OpenAI Responses ``Response`` object.

A whole answer is read as a stream of one event (``responses_stream.ResponsesStream``), so
that a response is the same whether the client streamed it or not: the same output items in
the same order (reasoning summaries, message with ``output_text``, ``function_call`` items,
each signed call preceded by a ``reasoning`` item carrying its thought signature in
``encrypted_content``), the same ids, the same status and usage. A blocked prompt
(``promptFeedback.blockReason``, no candidates) is a 200 with ``status: incomplete``,
``incomplete_details.reason: content_filter`` and no output.

Lossy points (⚠): those of ``responses_stream``; extra candidates are not read.
"""
from __future__ import annotations

from balancer.dialects.responses_request import ResponsesContext
from balancer.dialects.responses_stream import ResponsesStream


def to_response(native: dict, ctx: ResponsesContext, *, created: int, id: str) -> dict:
    """The Response for a ``generateContent`` answer.

    :param created: the answer's Unix time (the caller's clock).
    :param id: the response id (``resp_...``); item and synthesized call ids derive from it.
    """
    stream = ResponsesStream(ctx, created=created, id=id)
    stream.feed(native if isinstance(native, dict) else {})
    stream.end()
    return stream.response()
