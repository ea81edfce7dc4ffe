"""Pieces of a Gemini answer as OpenAI chat pieces, shared by whole answers and streams.

- text parts -> ``content``; ``inlineData`` images -> markdown images with a ``data:``
  URL, set off from text by blank lines; thought parts -> ``reasoning_content`` when
  thoughts were asked for, else left out;
- ``functionCall`` parts -> ``tool_calls`` (Gemini's id, or ``call_bal_<answer>_<choice>_<n>``,
  unique across parallel calls of one name; ``arguments`` as a JSON string; the
  part's ``thoughtSignature`` -> ``extra_content.google.thought_signature``, where Google's
  own OpenAI layer puts it);
- search grounding (``groundingMetadata.groundingChunks[].web``) -> a "Sources:" list of
  links appended to the text;
- ``finishReason`` -> ``finish_reason`` (reference 7.2); ``usageMetadata`` -> ``usage``
  (7.3); ``logprobsResult`` -> ``logprobs``.

Lossy points (⚠): a signature on a text part (Gemini does not validate those) has no
place in a chat answer and is dropped; inline data that is not an image (audio) has no
markdown form and is dropped; MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL,
TOO_MANY_TOOL_CALLS, LANGUAGE, OTHER and NO_IMAGE all read ``stop``.
"""
from __future__ import annotations

import json
import re
from typing import Any, Optional

from balancer.dialects.chat_messages import CALL_ID_PREFIX
from balancer.dialects.chat_request import ChatContext

#: Gemini finish reasons that mean a filter stopped the answer.
FILTERED = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                      "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION",
                      "IMAGE_OTHER"})
_SEED_CHARS = re.compile(r"[^A-Za-z0-9]")
# Arguments as OpenAI writes them (compact); built once, as json.dumps with options is not.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def finish_reason(reason: Optional[str], has_calls: bool) -> str:
    """An OpenAI ``finish_reason`` for a Gemini ``finishReason``."""
    if has_calls:
        return "tool_calls"
    if reason == "MAX_TOKENS":
        return "length"
    if reason in FILTERED:
        return "content_filter"
    return "stop"


def chat_usage(meta: Any) -> dict:
    """OpenAI ``usage`` for a Gemini ``usageMetadata`` (zeros for what it lacks).

    Thinking counts as completion (it is billed as output); tool-use prompt tokens
    (search results the model read) count as prompt.
    """
    prompt, completion = usage_tokens(meta)
    cached = _count(meta.get("cachedContentTokenCount")) if isinstance(meta, dict) else 0
    thoughts = _count(meta.get("thoughtsTokenCount")) if isinstance(meta, dict) else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": thoughts}}


def usage_tokens(meta: Any) -> tuple[int, int]:
    """(prompt, completion) tokens as the OpenAI usage reports them."""
    if not isinstance(meta, dict):
        return 0, 0
    prompt = _count(meta.get("promptTokenCount")) + _count(meta.get("toolUsePromptTokenCount"))
    return prompt, _count(meta.get("candidatesTokenCount")) + _count(meta.get("thoughtsTokenCount"))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def parts_of(candidate: dict) -> list:
    """The ``content.parts`` of a candidate ([] when it has none)."""
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return parts if isinstance(parts, list) else []


def sources(candidate: dict) -> list[tuple[str, str]]:
    """(title, uri) of the web sources a search-grounded candidate cites, once each."""
    meta = candidate.get("groundingMetadata")
    chunks = meta.get("groundingChunks") if isinstance(meta, dict) else None
    found: list[tuple[str, str]] = []
    for chunk in chunks if isinstance(chunks, list) else ():
        web = chunk.get("web") if isinstance(chunk, dict) else None
        uri = web.get("uri") if isinstance(web, dict) else None
        if isinstance(uri, str) and uri and all(uri != u for _, u in found):
            found.append((str(web.get("title") or uri), uri))
    return found


def sources_text(found: list[tuple[str, str]], after_content: bool) -> str:
    """The "Sources:" list appended to a grounded answer ('' when there are none)."""
    if not found:
        return ""
    lines = "\n".join(f"{i}. [{title.replace('[', '(').replace(']', ')')}]({uri})"
                      for i, (title, uri) in enumerate(found, 1))
    return ("\n\n" if after_content else "") + "Sources:\n" + lines


def logprobs(candidate: dict) -> Optional[dict]:
    """OpenAI ``logprobs`` for a candidate's ``logprobsResult`` (None without one)."""
    result = candidate.get("logprobsResult")
    chosen = result.get("chosenCandidates") if isinstance(result, dict) else None
    if not isinstance(chosen, list):
        return None
    top = result.get("topCandidates")
    top = top if isinstance(top, list) else []
    content = []
    for i, pick in enumerate(chosen):
        if not isinstance(pick, dict):
            continue
        entry = _token(pick)
        alternatives = top[i].get("candidates") if i < len(top) and isinstance(top[i], dict) \
            else None
        entry["top_logprobs"] = [_token(alt) for alt in alternatives or () if isinstance(alt, dict)]
        content.append(entry)
    return {"content": content, "refusal": None}


def _token(candidate: dict) -> dict:
    token = str(candidate.get("token") or "")
    return {"token": token, "logprob": candidate.get("logProbability", 0.0),
            "bytes": list(token.encode("utf-8"))}


def call_seed(completion_id: str) -> str:
    """The part of an answer id that makes its synthesized call ids unique."""
    return _SEED_CHARS.sub("", completion_id.removeprefix("chatcmpl-"))[-24:]


class CandidateReader:
    """Reads one candidate's parts as they come (a whole answer, or a stream's pieces).

    Holds only what spans pieces: whether text was written, whether an image was last
    (for the blank line after it) and how many calls were read.
    """

    __slots__ = ("_ctx", "_seed", "wrote", "_after_image", "calls")

    def __init__(self, ctx: ChatContext, seed: str, choice: int) -> None:
        self._ctx = ctx
        self._seed = f"{seed}_{choice}"
        self.wrote = False
        self._after_image = False
        self.calls = 0

    def read(self, parts: list) -> tuple[str, str, list[dict]]:
        """(text, thoughts, tool calls) of the next parts; each call with its ``index``."""
        text: list[str] = []
        thoughts: list[str] = []
        calls: list[dict] = []
        for part in parts:
            if not isinstance(part, dict):
                continue
            call = part.get("functionCall")
            if isinstance(call, dict):
                if not (self._ctx.single_call and self.calls):
                    calls.append(self._tool_call(part, call))
                continue
            piece = part.get("text")
            if part.get("thought"):
                if self._ctx.thoughts and isinstance(piece, str):
                    thoughts.append(piece)
            elif isinstance(piece, str) and piece:
                if self._after_image and not piece.startswith("\n"):
                    piece = "\n\n" + piece
                text.append(piece)
                self._after_image = False
                self.wrote = True
            else:
                image = _image(part.get("inlineData"))
                if image:
                    text.append(("\n\n" if self.wrote else "") + image)
                    self._after_image = self.wrote = True
        return "".join(text), "".join(thoughts), calls

    def _tool_call(self, part: dict, call: dict) -> dict:
        index = self.calls
        self.calls += 1
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = f"{CALL_ID_PREFIX}{self._seed}_{index}"
        name = call.get("name")
        args = call.get("args")
        out: dict[str, Any] = {
            "index": index, "id": call_id, "type": "function",
            "function": {"name": self._ctx.client_name(name) if isinstance(name, str) else "",
                         "arguments": _encode(args if isinstance(args, dict) else {})}}
        signature = part.get("thoughtSignature")
        if isinstance(signature, str) and signature:
            out["extra_content"] = {"google": {"thought_signature": signature}}
        return out


def _image(inline: Any) -> str:
    """A markdown image for image ``inlineData`` ('' for anything else)."""
    if not isinstance(inline, dict):
        return ""
    mime = inline.get("mimeType")
    data = inline.get("data")
    if not isinstance(mime, str) or not mime.startswith("image/") or not data:
        return ""
    return f"![image](data:{mime};base64,{data})"
