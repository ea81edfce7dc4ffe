"""OpenAI ``POST /v1/embeddings`` as Gemini ``batchEmbedContents``, and its answer back.

Request: ``input`` (a string or an array of strings) -> one request per string, in
order, each ``{"model": "models/<model>", "content": {"parts": [{"text"}]}}``;
``dimensions`` -> ``outputDimensionality``; ``encoding_format`` ``float`` or ``base64``
(openai-python asks for base64 when its caller did not choose: little-endian float32,
base64-encoded) is remembered for the answer; ``user`` is ignored. Refused with a 400
naming the field: token arrays (Gemini embeds text, and Balancer has no tokenizer to
decode them), empty strings (Gemini refuses an empty part), other fields.

Answer: ``embeddings[i].values`` -> ``data[i]`` (``object: embedding``, ``index``), plus
``usage``. Gemini's API reports no token count for embeddings; when the answer carries
none (``usageMetadata.promptTokenCount``, or Vertex's per-embedding
``statistics.tokenCount``), usage is an estimate made at request time: one token per 4
bytes of UTF-8, at least one per input.

Lossy points (⚠): Gemini's ``taskType``/``title`` are not set (OpenAI has no such
fields); the estimated token count.
"""
from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any

from balancer.dialects.errors import Untranslatable
from balancer.text import quoted

_KNOWN = frozenset({"model", "input", "dimensions", "encoding_format", "user"})


@dataclass(frozen=True)
class EmbeddingsContext:
    """What the answer translation needs of the request."""

    model: str
    base64: bool
    inputs: int
    estimated_tokens: int


def to_native(body: dict, *, model: str) -> tuple[dict, EmbeddingsContext]:
    """(``batchEmbedContents`` body, context) for an OpenAI embeddings ``body``.

    :raises Untranslatable: naming the field Gemini cannot be given.
    """
    if not isinstance(body, dict):
        raise Untranslatable("The request body must be a JSON object.")
    for key in body:
        if key not in _KNOWN:
            raise Untranslatable(f"{quoted(key)} has no counterpart in Gemini's embeddings API.",
                                 key)
    texts = _texts(body.get("input"))
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise Untranslatable(f"'encoding_format' {quoted(encoding)} is not one of float, base64.",
                             "encoding_format")
    dimensions = body.get("dimensions")
    if dimensions is not None and (isinstance(dimensions, bool) or not isinstance(dimensions, int)
                                   or dimensions < 1):
        raise Untranslatable("'dimensions' must be a positive integer.", "dimensions")
    model = model.removeprefix("models/")
    requests = []
    for text in texts:
        request: dict[str, Any] = {"model": f"models/{model}",
                                   "content": {"parts": [{"text": text}]}}
        if dimensions is not None:
            request["outputDimensionality"] = dimensions
        requests.append(request)
    estimate = sum(max(1, (len(text.encode("utf-8")) + 3) // 4) for text in texts)
    ctx = EmbeddingsContext(model=str(body.get("model") or model), base64=encoding == "base64",
                            inputs=len(texts), estimated_tokens=estimate)
    return {"requests": requests}, ctx


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise Untranslatable("'input' must be a string or a non-empty array of strings.", "input")
    for i, text in enumerate(value):
        if not isinstance(text, str):
            # A list of ints is one token array: the field at fault is input itself.
            raise Untranslatable("'input' holds tokens or other non-text values: Gemini embeds "
                                 "text only; send strings.",
                                 "input" if isinstance(text, int) else f"input[{i}]")
        if not text:
            raise Untranslatable(f"'input[{i}]' is empty; Gemini cannot embed an empty string.",
                                 f"input[{i}]")
    return value


def to_openai(native: dict, ctx: EmbeddingsContext) -> dict:
    """OpenAI's embeddings list for a ``batchEmbedContents`` answer."""
    embeddings = native.get("embeddings") if isinstance(native, dict) else None
    data = []
    reported = 0
    for i, embedding in enumerate(embeddings if isinstance(embeddings, list) else ()):
        values = embedding.get("values") if isinstance(embedding, dict) else None
        values = values if isinstance(values, list) else []
        statistics = embedding.get("statistics") if isinstance(embedding, dict) else None
        if isinstance(statistics, dict) and isinstance(statistics.get("tokenCount"), (int, float)):
            reported += int(statistics["tokenCount"])
        data.append({"object": "embedding", "index": i,
                     "embedding": _base64(values) if ctx.base64 else values})
    meta = native.get("usageMetadata") if isinstance(native, dict) else None
    if isinstance(meta, dict) and isinstance(meta.get("promptTokenCount"), int):
        reported = meta["promptTokenCount"]
    tokens = reported or ctx.estimated_tokens
    return {"object": "list", "data": data, "model": ctx.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _base64(values: list) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")
