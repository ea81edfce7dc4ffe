"""A model ``Answer`` as native GenerateContentResponse objects (one, or a stream's chunks).

Streams follow reference section 1.5 and dialects.md 2.3-2.4: thought summaries come first in
a chunk of their own, function calls whole in one chunk (signature on the first call part),
text in ``pieces`` chunks with the signature on the last piece; early chunks carry partial
``usageMetadata`` (prompt and total), the last one everything and ``finishReason``.
"""

from __future__ import annotations

import copy
from typing import Any

from . import content, schemas
from .answers import Answer
from .thinking import generation_config

#: A 1x1 PNG: what an ``inlineData`` image part carries when image output was asked for.
PNG_1X1 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYPj/HwADAgH/"
    "eLWvJQAAAABJRU5ErkJggg=="
)
#: Prompt tokens the Google Search tool adds (``toolUsePromptTokenCount``).
SEARCH_TOKENS = 30


def searches(body: dict[str, Any]) -> bool:
    """Whether the request offers the Google Search tool."""
    tools = body.get("tools")
    return isinstance(tools, list) and any(
        isinstance(t, dict) and ("googleSearch" in t or "google_search" in t) for t in tools
    )


def wants_image(body: dict[str, Any]) -> bool:
    """Whether ``responseModalities`` asks for an image."""
    modalities = schemas.field(generation_config(body), "responseModalities") or []
    return isinstance(modalities, list) and any(str(m).upper() == "IMAGE" for m in modalities)


def draws(model: str) -> bool:
    """Whether a model can answer with images (the rest refuse the IMAGE modality with 400)."""
    return "image" in model or model == "gemini-2.0-flash-exp"


def grounding(query: str) -> dict[str, Any]:
    """``groundingMetadata`` as a Google Search grounded answer carries it (two web sources)."""
    redirect = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/"
    return {
        "webSearchQueries": [query],
        "searchEntryPoint": {"renderedContent": "<style>.container{}</style><div></div>"},
        "groundingChunks": [
            {"web": {"uri": redirect + "AUZIYQFake1", "title": "example.com"}},
            {"web": {"uri": redirect + "AUZIYQFake2", "title": "example.org"}},
        ],
        "groundingSupports": [
            {
                "segment": {"startIndex": 0, "endIndex": 5, "text": "Echo:"},
                "groundingChunkIndices": [0, 1],
                "confidenceScores": [0.9, 0.8],
            }
        ],
    }


def usage(prompt: int, answer: int = 0, thoughts: int = 0, final: bool = True) -> dict:
    """``usageMetadata``: prompt and total only on early stream chunks, everything at the end."""
    meta: dict[str, Any] = {"promptTokenCount": prompt}
    total = prompt
    if final:
        meta["candidatesTokenCount"] = answer
        total += answer + thoughts
    meta["totalTokenCount"] = total
    meta["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if final and thoughts:
        meta["thoughtsTokenCount"] = thoughts
    return meta


def _add_tool_output(last: dict[str, Any], body: dict[str, Any], query: str) -> None:
    """What the search tool and image output add to an answer's last chunk.

    Grounding metadata comes with the candidate that finishes the answer, and the search adds
    ``toolUsePromptTokenCount`` to the usage; an image arrives as one ``inlineData`` part
    after the text.
    """
    candidate = last["candidates"][0]
    if wants_image(body):
        image = {"inlineData": {"mimeType": "image/png", "data": PNG_1X1}}
        candidate["content"]["parts"].append(image)
    if searches(body):
        candidate["groundingMetadata"] = grounding(query)
        meta = last["usageMetadata"]
        meta["toolUsePromptTokenCount"] = SEARCH_TOKENS
        meta["totalTokenCount"] += SEARCH_TOKENS


def _part_groups(answer: Answer, pieces: int) -> list[list[dict[str, Any]]]:
    """The parts of each chunk; ``pieces`` 0 means one whole answer."""
    if not pieces:
        return [answer.parts()]
    groups = [answer.thought_parts()] if answer.thoughts else []
    if answer.calls:
        return groups + [answer.call_parts()]
    texts = content.split(answer.text, pieces)
    return groups + [
        [answer.text_part(text, last=i == len(texts) - 1)] for i, text in enumerate(texts)
    ]


def candidate_count(body: dict[str, Any]) -> int:
    """``generationConfig.candidateCount``, 1 when absent or not a positive integer."""
    count = schemas.field(generation_config(body), "candidateCount")
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 1 else 1


def _more_candidates(whole: dict[str, Any], count: int) -> None:
    """Make a whole answer's one candidate ``count`` alike ones, their tokens all counted."""
    only = whole["candidates"][0]
    whole["candidates"] = [{**copy.deepcopy(only), "index": i} for i in range(count)]
    meta = whole["usageMetadata"]
    extra = meta["candidatesTokenCount"] * (count - 1)
    meta["candidatesTokenCount"] += extra
    meta["totalTokenCount"] += extra


def responses(
    answer: Answer, body: dict[str, Any], stamp: dict[str, str], pieces: int = 0
) -> list[dict[str, Any]]:
    """The GenerateContentResponse objects of ``answer``: one, or a stream of chunks.

    ``stamp`` holds ``modelVersion`` and ``responseId`` (every chunk repeats them);
    ``pieces`` is how many chunks streamed text takes (0: not a stream). A whole answer has
    ``candidateCount`` candidates (a stream keeps one).
    """
    groups = _part_groups(answer, pieces)
    objects = []
    for index, parts in enumerate(groups):
        last = index == len(groups) - 1
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if last:
            candidate["finishReason"] = "STOP"
        if not pieces:
            candidate["index"] = 0
        meta = usage(answer.prompt_tokens, answer.answer_tokens, answer.thought_tokens, last)
        objects.append({"candidates": [candidate], "usageMetadata": meta, **stamp})
    _add_tool_output(objects[-1], body, answer.query)
    count = candidate_count(body)
    if count > 1 and not pieces:
        _more_candidates(objects[0], count)
    return objects
