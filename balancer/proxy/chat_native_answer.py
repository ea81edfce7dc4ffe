"""Gemini's native answers as OpenAI chat completions: whole (``to_chat``) or streamed.

The other half of ``chat_native.py``: an answer from ``generateContent`` becomes a
``chat.completion``; a ``streamGenerateContent?alt=sse`` stream becomes
``chat.completion.chunk`` events ending with ``data: [DONE]``, each sent as soon as
the native event it comes from is complete.
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Optional

from balancer.proxy.gemini_stream import GeminiSSETap, _data_of
from balancer.proxy.json_scan import loads
from balancer.upstream.providers import openai_error_from_upstream

#: Gemini finish reasons that mean a filter stopped the answer.
_FILTERED = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                       "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"})
DONE = b"data: [DONE]\n\n"


def finish_reason(reason: Optional[str]) -> str:
    """An OpenAI ``finish_reason`` for a Gemini ``finishReason``."""
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "stop"


class PartRenderer:
    """Turns one candidate's parts into text, piece by piece (streams render as they go).

    Thought summaries are left out (clients asked for an answer); an image becomes a
    markdown image with a data URL, set off from text by blank lines.
    """

    def __init__(self) -> None:
        self.wrote = False
        self._after_image = False

    def render(self, parts: Any) -> str:
        out: list[str] = []
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, dict) or part.get("thought"):
                continue
            text = part.get("text")
            inline = part.get("inlineData") or part.get("inline_data")
            if isinstance(text, str) and text:
                if self._after_image and not text.startswith("\n"):
                    text = "\n\n" + text
                out.append(text)
                self._after_image = False
            elif isinstance(inline, dict) and inline.get("data") and _is_image(inline):
                mime = inline.get("mimeType") or inline.get("mime_type")
                lead = "\n\n" if self.wrote or out else ""
                out.append(f"{lead}![image](data:{mime};base64,{inline['data']})")
                self._after_image = True
            else:
                continue
            self.wrote = True
        return "".join(out)


def _is_image(inline: dict) -> bool:
    # Other inline data (audio) has no markdown form a chat client would show.
    return str(inline.get("mimeType") or inline.get("mime_type") or "").startswith("image/")


def parts_of(candidate: dict) -> Any:
    """The ``content.parts`` of a candidate (None when it has none)."""
    content = candidate.get("content")
    return content.get("parts") if isinstance(content, dict) else None


def sources(candidate: dict) -> list[tuple[str, str]]:
    """(title, uri) of the web sources a search-grounded candidate cites, once each."""
    meta = candidate.get("groundingMetadata") or candidate.get("grounding_metadata")
    found: list[tuple[str, str]] = []
    chunks = meta.get("groundingChunks") if isinstance(meta, dict) else None
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


def chat_usage(meta: Any) -> Optional[dict]:
    """OpenAI ``usage`` from a Gemini ``usageMetadata``; thinking counts as completion.

    Search results read by the model (``toolUsePromptTokenCount``) are prompt tokens.
    """
    if not isinstance(meta, dict):
        return None
    prompt = _count(meta.get("promptTokenCount")) + _count(meta.get("toolUsePromptTokenCount"))
    thoughts = _count(meta.get("thoughtsTokenCount"))
    completion = _count(meta.get("candidatesTokenCount")) + thoughts
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if thoughts:
        usage["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    if meta.get("cachedContentTokenCount"):
        usage["prompt_tokens_details"] = {"cached_tokens": _count(meta["cachedContentTokenCount"])}
    return usage


def _count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def completion_id() -> str:
    """A fresh ``chatcmpl-`` id."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def to_chat(native: dict, model: str) -> dict:
    """An OpenAI ``chat.completion`` for a Gemini ``generateContent`` answer.

    :param model: the model name the client asked for (suffix included).
    """
    if not isinstance(native, dict):
        native = {}
    choices = []
    candidates = native.get("candidates")
    for i, cand in enumerate(candidates if isinstance(candidates, list) else ()):
        if not isinstance(cand, dict):
            continue
        renderer = PartRenderer()
        text = renderer.render(parts_of(cand))
        text += sources_text(sources(cand), renderer.wrote)
        index = cand.get("index")
        choices.append({
            "index": index if isinstance(index, int) else i,
            "message": {"role": "assistant", "content": text, "refusal": None},
            "logprobs": None, "finish_reason": finish_reason(cand.get("finishReason"))})
    if not choices:
        # A blocked prompt: HTTP 200 with promptFeedback.blockReason and no candidates.
        choices.append({"index": 0, "message": {"role": "assistant", "content": "",
                                                 "refusal": None},
                        "logprobs": None, "finish_reason": "content_filter"})
    answer: dict[str, Any] = {"id": completion_id(), "object": "chat.completion",
                              "created": int(time.time()), "model": model, "choices": choices,
                              "system_fingerprint": None}
    usage = chat_usage(native.get("usageMetadata"))
    if usage is not None:
        answer["usage"] = usage
    return answer


class ChatNativeTap(GeminiSSETap):
    """Reads a native ``alt=sse`` stream and writes OpenAI ``chat.completion.chunk`` events.

    The framing, bare-JSON errors, usage and "did it finish" bookkeeping are
    ``GeminiSSETap``'s; this class only replaces what each complete event turns into.
    ``done`` (a finish reason or block reason was seen) and ``error`` (an in-band
    error) keep their meaning for the relay: a stream that ends without either is an
    interruption, and the relay then adds an OpenAI error event.
    """

    def __init__(self, model: str, include_usage: bool) -> None:
        super().__init__()
        self.model = model
        self.include_usage = include_usage
        self._id = completion_id()
        self._created = int(time.time())
        self._renderers: dict[int, PartRenderer] = {}  # one per choice; its key = role sent
        self._sources: dict[int, list[tuple[str, str]]] = {}
        self._finished: set[int] = set()
        self._ended = False  # [DONE] or an error event went out: nothing may follow

    def finish(self) -> bytes:
        """The upstream ended: a last unterminated event, then usage and ``[DONE]`` if the
        answer finished (if it did not, the relay ends the stream with an error event)."""
        out = super().finish()
        if not out.strip():
            out = b""
        if self.done and self.error is None and not self._ended:
            self._ended = True
            if self.include_usage:
                usage = chat_usage(self.usage) or {"prompt_tokens": 0, "completion_tokens": 0,
                                                   "total_tokens": 0}
                out += self._send([], usage=usage)
            out += DONE
        return out

    def _event(self, event: bytes) -> bytes:
        payload = _data_of(event)
        if payload is None or self._ended:
            return b""  # comments and blank lines have no OpenAI counterpart
        return self._translate(payload)

    def _bare_value(self, raw: bytes) -> bytes:
        # A bare JSON value between events: Gemini's way of ending a stream with an error.
        return b"" if self._ended else self._translate(raw)

    def _translate(self, payload: bytes) -> bytes:
        self._note(payload)
        if self.error is not None:
            self._ended = True
            return stream_error_event(self.error)
        obj = loads(payload)
        if not isinstance(obj, dict):
            return b""
        out: list[bytes] = []
        candidates = obj.get("candidates")
        for i, cand in enumerate(candidates if isinstance(candidates, list) else ()):
            if isinstance(cand, dict):
                index = cand.get("index")
                out.extend(self._candidate(index if isinstance(index, int) else i, cand))
        feedback = obj.get("promptFeedback")
        if not out and isinstance(feedback, dict) and feedback.get("blockReason"):
            # A blocked prompt: no candidates, so an empty answer stopped by the filter.
            out.extend(self._candidate(0, {"finishReason": "PROHIBITED_CONTENT"}))
        return b"".join(out)

    def _candidate(self, index: int, cand: dict) -> list[bytes]:
        if index in self._finished:
            return []
        out = []
        first = index not in self._renderers
        renderer = self._renderers.setdefault(index, PartRenderer())
        text = renderer.render(parts_of(cand))
        if first or text:
            delta = {"role": "assistant", "content": text} if first else {"content": text}
            out.append(self._send([_choice(index, delta)]))
        # Grounding may come in pieces over several events; the list goes out once, at the end.
        cited = self._sources.setdefault(index, [])
        for source in sources(cand):
            if all(source[1] != uri for _, uri in cited):
                cited.append(source)
        reason = cand.get("finishReason")
        if reason:
            self._finished.add(index)
            tail = sources_text(cited, renderer.wrote)
            if tail:
                out.append(self._send([_choice(index, {"content": tail})]))
            out.append(self._send([_choice(index, {}, finish_reason(reason))]))
        return out

    def _send(self, choices: list[dict], usage: Optional[dict] = None) -> bytes:
        chunk: dict[str, Any] = {"id": self._id, "object": "chat.completion.chunk",
                                 "created": self._created, "model": self.model,
                                 "choices": choices}
        if self.include_usage:
            chunk["usage"] = usage  # null on every chunk but the last, as OpenAI sends it
        return b"data: " + json.dumps(chunk, ensure_ascii=False,
                                      separators=(",", ":")).encode() + b"\n\n"


def _choice(index: int, delta: dict, reason: Optional[str] = None) -> dict:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": reason}


def stream_error_event(error: dict) -> bytes:
    """An upstream error object as the OpenAI event that makes SDKs raise mid-stream
    (message redacted: upstream messages may echo a key)."""
    code = error.get("code")
    status = code if isinstance(code, int) and 400 <= code < 600 else 500
    return b"data: " + openai_error_from_upstream(status, json.dumps({"error": error}).encode()) \
        + b"\n\n"
