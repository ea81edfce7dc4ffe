"""Chat completions and embeddings shared by both OpenAI-shaped flavours (section 4.1).

Gemini's OpenAI-compatible layer and the plain provider answer successes alike; they differ
in errors, headers, models and a few stream details, which the subclasses supply.
"""

from __future__ import annotations

import io
import json
import re
import time
import wave
from dataclasses import dataclass
from typing import Any, Optional, Union

from . import content, schemas, tts
from .behaviours import KIND_GENERATE, KIND_META, KIND_OTHER, KIND_STREAM, Script
from .flavour import Flavour
from .wire import JSON_TYPE, SSE_TYPE, Call, Headers, Reply, dumps, stream

_DONE = b"data: [DONE]\n\n"
_SPEECH_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac",
                 "flac": "audio/flac", "wav": "audio/wav", "pcm": "audio/pcm"}


def wav_bytes(pcm: bytes) -> bytes:
    """``pcm`` (16-bit mono at ``tts.RATE``) as a WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(tts.RATE)
        writer.writeframes(pcm)
    return out.getvalue()


def _messages_text(messages: Any) -> tuple[list[str], str]:
    """All message texts (for token counts) and the last user text (for the echo)."""
    texts, last_user = [], ""
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        text = content.text_of_parts(message.get("content"))
        texts.append(text)
        if message.get("role") == "user":
            last_user = text
    return texts, last_user


def _provider_calls(body: dict[str, Any], last_user: str) -> list[dict[str, Any]]:
    """The provider's stand-in for a model's tool choice: with function ``tools`` and a
    ``tool_choice`` other than ``none``, a conversation that ends with a user message gets
    calls of the tools its text names as words (else the first), with the smallest
    arguments their schema allows; after tool results it answers text."""
    tools = [t.get("function") for t in body.get("tools") or []
             if isinstance(t, dict) and t.get("type") == "function"
             and isinstance(t.get("function"), dict)]
    messages = body.get("messages") or []
    if not tools or body.get("tool_choice") == "none" or not messages \
            or not isinstance(messages[-1], dict) or messages[-1].get("role") != "user":
        return []
    named = [t for t in tools
             if re.search(rf"(?<![\w.-]){re.escape(str(t.get('name')))}(?![\w-])", last_user)]
    return [{"id": f"call_{content.serial():08d}", "type": "function",
             "function": {"name": t["name"],
                          "arguments": json.dumps(schemas.instance(t.get("parameters") or {}))}}
            for t in named or tools[:1]]


def _inputs(raw: Any) -> list[str]:
    """Embedding inputs as strings: a string, a list of strings, or token lists."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        return [" ".join(map(str, raw))]
    if isinstance(raw, list):
        return [x if isinstance(x, str) else " ".join(map(str, x)) for x in raw]
    return []


@dataclass
class Turn:
    """One assistant answer: text, or tool calls (OpenAI shape, ``arguments`` a JSON string)."""

    text: str
    tool_calls: list[dict[str, Any]]
    prompt_tokens: int
    completion_tokens: int

    @property
    def finish(self) -> str:
        """``tool_calls`` when the model called functions, else ``stop``."""
        return "tool_calls" if self.tool_calls else "stop"


class OpenAIShaped(Flavour):
    """Routes and success bodies of ``chat/completions``, ``embeddings`` and ``models``."""

    #: True: finish_reason rides on the last content chunk (Gemini); False: its own chunk.
    finish_in_last_chunk = False

    # -- hooks for subclasses ------------------------------------------------------------

    def error(self, call: Call, envelope: Any, mode: str = "good") -> Reply:
        """Turn a flavour-specific error envelope into a reply."""
        raise NotImplementedError

    def headers(self, content_type: str) -> Headers:
        """Headers of a successful answer."""
        return [("Content-Type", content_type)]

    def check_model(self, call: Call, endpoint: str) -> Optional[Reply]:
        """An error reply when ``call.model`` cannot serve ``endpoint``, else None."""
        raise NotImplementedError

    def check_body(self, call: Call) -> Optional[Reply]:
        """An error reply for body fields the service refuses, else None."""
        return None

    def stream_error(self, call: Call, script: Script) -> Optional[bytes]:
        """Bytes that end a broken stream (None drops the connection)."""
        raise NotImplementedError

    def list_models(self, call: Call) -> Reply:
        """``GET models``."""
        raise NotImplementedError

    def get_model(self, call: Call) -> Reply:
        """``GET models/{id}``."""
        raise NotImplementedError

    def extra_fields(self) -> dict[str, Any]:
        """Fields added to completion bodies and chunks."""
        return {}

    # -- plumbing ------------------------------------------------------------------------

    def route(self, call: Call) -> bool:
        """Map ``chat/completions``, ``embeddings``, ``models`` and ``models/{id}``."""
        sub, method = call.sub, call.method
        if sub == "chat/completions" and method == "POST":
            call.action, call.kind = "chat", KIND_GENERATE
        elif sub == "embeddings" and method == "POST":
            call.action, call.kind = "embeddings", KIND_OTHER
        elif sub == "images/generations" and method == "POST":
            call.action, call.kind = "images", KIND_OTHER
        elif sub == "models" and method == "GET":
            call.action, call.kind = "list", KIND_META
        elif sub.startswith("models/") and len(sub) > len("models/") and method == "GET":
            call.action, call.kind = "get", KIND_META
            call.model = self.model_id(sub[len("models/") :])
        else:
            return False
        return True

    def model_id(self, name: str) -> str:
        """The model id as this flavour compares it."""
        return name

    def classify(self, call: Call) -> None:
        """Model from the body; ``stream: true`` makes a chat call a stream."""
        if not isinstance(call.body, dict):
            return
        if call.action in ("chat", "embeddings", "images", "speech") \
                and isinstance(call.body.get("model"), str):
            call.model = self.model_id(call.body["model"])
        if call.action == "chat" and call.body.get("stream") is True:
            call.kind = KIND_STREAM

    def _json(self, obj: Any) -> Reply:
        return Reply(200, dumps(obj), self.headers(JSON_TYPE))

    # -- endpoints -----------------------------------------------------------------------

    def answer(self, call: Call, script: Script) -> Reply:
        """Dispatch to the endpoint."""
        if call.action == "list":
            return self.list_models(call)
        if call.action == "get":
            return self.get_model(call)
        refusal = self.check_body(call) or self.check_model(call, call.action)
        if refusal is not None:
            return refusal
        if call.action == "embeddings":
            return self._embeddings(call)
        if call.action == "images":
            return self._images(call)
        if call.action == "speech":
            return self._speech(call)
        return self._chat(call, script)

    def _speech(self, call: Call) -> Reply:
        # The tone as WAV or raw PCM; the compressed formats as a marked stand-in (the
        # fake has no encoder), with the Content-Type OpenAI sends for them.
        pcm = tts.tone()
        fmt = call.body.get("response_format") or "mp3"
        if fmt == "wav":
            audio = wav_bytes(pcm)
        elif fmt == "pcm":
            audio = pcm
        else:
            audio = b"FAKE-" + fmt.encode() + b"-" + pcm[:64]
        kind = _SPEECH_TYPES.get(fmt, "application/octet-stream")
        return Reply(200, audio, self.headers(kind))

    def _images(self, call: Call) -> Reply:
        # A 1x1 transparent PNG per image: real bytes, tiny bodies.
        png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
               "60e6kgAAAABJRU5ErkJggg==")
        count = call.body.get("n") if isinstance(call.body.get("n"), int) else 1
        return self._json({"created": 1700000000,
                           "data": [{"b64_json": png} for _ in range(max(1, min(count, 4)))]})

    def _embeddings(self, call: Call) -> Reply:
        body = call.body
        inputs = _inputs(body.get("input"))
        dims = int(body.get("dimensions") or self.state.config.embed_dim)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(inputs):
            values = content.vector(text, dims)
            embedding: Any = content.floats_base64(values) if as_base64 else values
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        used = content.tokens(inputs)
        return self._json(
            {
                "object": "list",
                "data": data,
                "model": call.body["model"],
                "usage": {"prompt_tokens": used, "total_tokens": used},
            }
        )

    def chat_turn(self, call: Call) -> Union["Turn", Reply]:
        """What the model answers a chat request (the provider echoes the last user text)."""
        texts, last_user = _messages_text(call.body.get("messages"))
        calls = _provider_calls(call.body, last_user)
        if calls:
            return Turn("", calls, content.tokens(texts), content.answer_tokens(json.dumps(calls)))
        text = content.echo(last_user)
        return Turn(text, [], content.tokens(texts), content.answer_tokens(text))

    def _chat(self, call: Call, script: Script) -> Reply:
        turn = self.chat_turn(call)
        if isinstance(turn, Reply):
            return turn
        totals = {
            "prompt_tokens": turn.prompt_tokens,
            "completion_tokens": turn.completion_tokens,
            "total_tokens": turn.prompt_tokens + turn.completion_tokens,
        }
        head = {
            "id": f"chatcmpl-{content.serial():024x}",
            "created": int(time.time()),
            "model": call.body["model"],
        }
        if call.kind == KIND_STREAM:
            return self._chat_stream(call, script, head, turn, totals)
        if script.mode == "empty":
            choices: list[dict[str, Any]] = []
        else:
            blocked = script.mode == "blocked"
            message: dict[str, Any] = {"role": "assistant", "content": turn.text}
            if blocked or turn.tool_calls:
                message["content"] = None
            if turn.tool_calls and not blocked:
                message["tool_calls"] = turn.tool_calls
            finish = "content_filter" if blocked else turn.finish
            choices = [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}]
        return self._json(
            {
                "id": head["id"],
                "object": "chat.completion",
                "created": head["created"],
                "model": head["model"],
                "choices": choices,
                "usage": totals,
                **self.extra_fields(),
            }
        )

    def _deltas(self, turn: "Turn") -> list[dict[str, Any]]:
        """The deltas of a streamed answer: each tool call whole, or text in pieces."""
        if turn.tool_calls:
            return [
                {"tool_calls": [{"index": index, **tool_call}]}
                for index, tool_call in enumerate(turn.tool_calls)
            ]
        return [{"content": piece} for piece in content.split(turn.text, self.state.config.chunks)]

    def _chat_stream(
        self, call: Call, script: Script, head: dict, turn: "Turn", totals: dict
    ) -> Reply:
        chunks: list[dict[str, Any]] = []

        def chunk(choices: list, usage: Optional[dict] = None) -> None:
            chunks.append(
                {
                    **head,
                    "object": "chat.completion.chunk",
                    **self.extra_fields(),
                    "choices": choices,
                    "usage": usage,
                }
            )

        if script.mode == "blocked":
            chunk([{"index": 0, "delta": {"role": "assistant"}, "finish_reason": "content_filter"}])
        elif script.mode != "empty":
            deltas = self._deltas(turn)
            for index, delta in enumerate(deltas):
                if index == 0:
                    delta = {"role": "assistant", **delta}
                last = index == len(deltas) - 1 and self.finish_in_last_chunk
                finish = turn.finish if last else None
                chunk([{"index": 0, "delta": delta, "finish_reason": finish}])
            if not self.finish_in_last_chunk:
                chunk([{"index": 0, "delta": {}, "finish_reason": turn.finish}])
        options = call.body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        if script.mode == "empty" or include_usage:
            # The usage-only chunk comes only when asked for; "empty" is just choices: [].
            chunk([], totals if include_usage else None)
        pieces = [b"data: " + dumps(c) + b"\n\n" for c in chunks]
        ending = self.stream_error(call, script) if script.mode == "break_stream" else None
        body = stream(pieces, _DONE, self.state.config.chunk_delay, script, ending)
        return Reply(200, body, self.headers(SSE_TYPE))
