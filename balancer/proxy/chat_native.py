"""Chat completions served by Gemini's own API, for the ``-search`` and ``-image`` suffixes.

Gemini's OpenAI-compatible layer offers neither the Google Search tool nor image
output, so an OpenAI chat request whose model carries one of those suffixes is
translated into a native ``generateContent`` body (``to_native``), sent to
``models/{model}:generateContent`` (or ``:streamGenerateContent?alt=sse``), and
the answer is translated back (``to_chat`` for whole answers, ``ChatNativeTap``
for streams; both live in ``chat_native_answer.py``). Anything that has no
faithful translation (tools, audio, remote image URLs) is refused up front with
a 400 rather than silently dropped: a client that sends it relies on it.

``ChatNativeFormat`` is registered in ``formats.FORMATS`` when this module is
imported (``openai_routes`` does), so ``formats`` need not know about it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Optional

from balancer.keypool.outcome import Verdict
from balancer.proxy import suffixes
from balancer.proxy.chat_native_answer import ChatNativeTap, to_chat
from balancer.proxy.formats import FORMATS, ApiFormat, GeminiFormat, Tap
from balancer.proxy.call import ProxyCall
from balancer.proxy.validate import BadRequest
from balancer.upstream.providers import Provider
from balancer.upstream.request_defaults import RequestDefaults

__all__ = ["ChatNativeCall", "ChatNativeFormat", "ChatNativeTap", "native_call", "to_chat",
           "to_native"]

#: The suffixes that need Gemini's own API, hence this translation.
NATIVE_SUFFIXES = ("-search", "-image")
#: OpenAI fields with no faithful Gemini counterpart on this path: refused, not dropped,
#: because a client that sends them relies on them.
_UNSUPPORTED_FIELDS = ("tools", "functions", "tool_choice", "function_call", "audio",
                       "logit_bias", "prediction")
#: ``reasoning_effort`` as thinking budgets, as Google's own OpenAI layer maps it.
_EFFORT_BUDGET = {"none": 0, "low": 1024, "medium": 8192, "high": 24576}
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)(?:;[^,;]*)*;base64,(.*)", re.S)


@dataclass
class ChatNativeCall(ProxyCall):
    """A ``ProxyCall`` that also keeps the model name the client asked for (with its
    suffix): the translated answer reports that name, not the routed base model."""

    client_model: str = ""


# --- request: OpenAI chat -> Gemini generateContent ----------------------------------


def to_native(body: dict, suffix: str) -> dict:
    """The Gemini ``generateContent`` body for an OpenAI chat ``body``, with ``suffix``'s option.

    :raises BadRequest: for what Gemini cannot be asked through this translation.
    """
    for name in _UNSUPPORTED_FIELDS:
        if body.get(name) not in (None, [], {}, "none"):
            raise BadRequest(f"'{name}' is not supported with the {suffix} suffix: such "
                             "requests are translated to the Gemini API, and this field has no "
                             "counterpart there.", name)
    modalities = body.get("modalities")
    allowed = {"text", "image"} if suffix == "-image" else {"text"}
    if modalities is not None and (not isinstance(modalities, list)
                                   or not set(modalities) <= allowed):
        raise BadRequest(f"'modalities' may only hold {' and '.join(sorted(allowed, reverse=True))}"
                         f" with the {suffix} suffix.", "modalities")
    if body.get("logprobs"):
        raise BadRequest(f"'logprobs' is not supported with the {suffix} suffix.", "logprobs")
    system, contents = _messages(body.get("messages"), suffix)
    native: dict[str, Any] = {"contents": contents}
    if system:
        native["systemInstruction"] = {"parts": system}
    config = _generation_config(body, suffix)
    if config:
        native["generationConfig"] = config
    return suffixes.apply_native(native, suffix)


def _messages(messages: Any, suffix: str) -> tuple[list[dict], list[dict]]:
    """(system parts, contents); consecutive turns of one role are merged into one."""
    system: list[dict] = []
    contents: list[dict] = []
    for i, message in enumerate(messages if isinstance(messages, list) else []):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise BadRequest(f"'{where}' must be an object.", where)
        role = message.get("role")
        if role in ("tool", "function") or message.get("tool_calls") \
                or message.get("function_call"):
            raise BadRequest(f"Tool and function calls are not supported with the {suffix} "
                             f"suffix ('{where}').", where)
        if role in ("system", "developer"):
            system.extend(_parts(message.get("content"), where, suffix, text_only=True))
            continue
        if role not in ("user", "assistant"):
            raise BadRequest(f"'{where}.role' must be system, developer, user or assistant.",
                             f"{where}.role")
        native_role = "user" if role == "user" else "model"
        parts = _parts(message.get("content"), where, suffix, text_only=role == "assistant")
        if not parts:
            continue  # an empty turn says nothing; Gemini refuses a turn without parts
        if contents and contents[-1]["role"] == native_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": native_role, "parts": parts})
    if not contents:
        raise BadRequest("'messages' needs at least one user or assistant message with content.",
                         "messages")
    return system, contents


def _parts(content: Any, where: str, suffix: str, text_only: bool) -> list[dict]:
    """Gemini parts for an OpenAI message content (a string or an array of parts)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise BadRequest(f"'{where}.content' must be a string or an array of parts.",
                         f"{where}.content")
    parts: list[dict] = []
    for j, part in enumerate(content):
        param = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            if part["text"]:
                parts.append({"text": part["text"]})
        elif kind in ("image_url", "file") and not text_only:
            parts.append(_inline(part, kind, param, suffix))
        else:
            raise BadRequest(f"Content part '{kind}' in '{param}' is not supported with the "
                             f"{suffix} suffix.", param)
    return parts


def _inline(part: dict, kind: str, param: str, suffix: str) -> dict:
    """An image or file given as a ``data:`` URL, as Gemini ``inlineData``."""
    inner = part.get(kind)
    if kind == "image_url":
        url = inner.get("url") if isinstance(inner, dict) else inner
    else:
        url = inner.get("file_data") if isinstance(inner, dict) else None
    if not isinstance(url, str):
        raise BadRequest(f"'{param}' has no {'url' if kind == 'image_url' else 'file_data'}.",
                         param)
    match = _DATA_URL.fullmatch(url.strip())
    if match is None:
        # Gemini does not fetch URLs for inline parts; fetching it here would make
        # Balancer an open web client. The client can send the bytes itself.
        raise BadRequest(f"'{param}': with the {suffix} suffix images and files must be sent "
                         "as base64 data: URLs; remote URLs cannot be fetched.", param)
    return {"inlineData": {"mimeType": match.group(1), "data": match.group(2)}}


def _generation_config(body: dict, suffix: str) -> dict:
    config: dict[str, Any] = {}
    for src, dst in (("temperature", "temperature"), ("top_p", "topP"), ("n", "candidateCount"),
                     ("seed", "seed"), ("presence_penalty", "presencePenalty"),
                     ("frequency_penalty", "frequencyPenalty")):
        if body.get(src) is not None:
            config[dst] = _number(body[src], src)
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        config["maxOutputTokens"] = _number(limit, "max_completion_tokens")
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise BadRequest("'stop' must be a string or an array of strings.", "stop")
        if stops:
            config["stopSequences"] = stops
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else fmt
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
    elif kind not in (None, "text"):
        raise BadRequest(f"response_format '{kind}' is not supported with the {suffix} suffix "
                         "(json_object is).", "response_format")
    effort = body.get("reasoning_effort")
    if effort is not None:
        if effort not in _EFFORT_BUDGET:
            raise BadRequest("'reasoning_effort' must be none, low, medium or high.",
                             "reasoning_effort")
        config["thinkingConfig"] = {"thinkingBudget": _EFFORT_BUDGET[effort]}
    return config


def _number(value: Any, param: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"'{param}' must be a number.", param)
    return value


# --- the call and its format ------------------------------------------------------------


def native_call(body: dict, model: str, requested: str, suffix: str, *, stream: bool,
                wants_usage: bool, defaults: Optional[RequestDefaults] = None,
                **call_args: Any) -> ChatNativeCall:
    """The call that serves an OpenAI chat ``body`` from ``models/{model}`` natively.

    :param model: the routed base model (health is kept under it).
    :param requested: the name the client asked for; the answer reports it.
    :param defaults: the pool's request defaults; they fill what the request left unset,
        as they do for the Gemini API's own clients.
    """
    model = model.removeprefix("models/")
    if "/" in model or ":" in model:
        # Either would change the upstream path (another resource or another method).
        raise BadRequest(f"'{model}' is not a Gemini model name.", "model")
    native = to_native(body, suffix)
    if defaults:
        defaults.apply_native(native, model)
    action = "streamGenerateContent" if stream else "generateContent"
    return ChatNativeCall(
        route="chat.completions", method="POST", path=f"models/{model}:{action}", model=model,
        body=json.dumps(native, ensure_ascii=False, separators=(",", ":")).encode(),
        stream=stream, wants_usage=wants_usage, api_format=ChatNativeFormat.name,
        framing="sse", query={"alt": "sse"} if stream else {}, client_model=requested,
        **call_args)


class ChatNativeFormat(ApiFormat):
    """OpenAI to the client, Gemini's native API upstream.

    URL, key header, success check, usage and a stream's leading error are the
    native API's (``GeminiFormat``); errors, answers and streams reach the client
    in OpenAI's shape (``ApiFormat``'s ``error``, ``upstream_error``, ``stream_error``).
    """

    name = "chat_native"
    #: The API the client speaks, for the request log (``name`` says how it is served).
    client_api = "openai"

    _native = GeminiFormat()

    def url(self, provider: Provider, base: str, call: ProxyCall) -> str:
        return self._native.url(provider, base, call)

    def auth_headers(self, provider: Provider, key: str) -> dict:
        return self._native.auth_headers(provider, key)

    def check_success(self, provider: Provider, parsed: Any) -> Optional[Verdict]:
        return self._native.check_success(provider, parsed)

    def usage(self, parsed: Any) -> tuple[int, int]:
        return self._native.usage(parsed)

    def leading_error(self, first: bytes, call: ProxyCall) -> Optional[dict]:
        return self._native.leading_error(first, call)

    def answered(self, start: bytes) -> bool:
        return self._native.answered(start)

    def answer(self, parsed: Any, body: bytes, call: ProxyCall) -> bytes:
        chat = to_chat(parsed, _client_model(call))
        return json.dumps(chat, ensure_ascii=False, separators=(",", ":")).encode()

    def new_tap(self, call: ProxyCall) -> Tap:
        return ChatNativeTap(_client_model(call), include_usage=call.wants_usage)


def _client_model(call: ProxyCall) -> str:
    return getattr(call, "client_model", "") or call.model or ""


FORMATS[ChatNativeFormat.name] = ChatNativeFormat()
