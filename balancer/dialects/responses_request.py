"""An OpenAI Responses request as a Gemini ``generateContent`` body.

The Responses API carries the same facts as chat completions in other clothes, so this
module rewrites the request as a chat body and hands it to ``chat_request.to_native``
(one translation of messages, tools, schemas and thinking for both dialects):

- ``instructions`` -> a first ``system`` message (it is not carried over from a
  ``previous_response_id``; the caller prepends only the stored items);
- ``input``: a string -> one user message; items: ``message`` (roles user, system,
  developer, assistant; parts ``input_text``/``output_text`` -> text, ``refusal``,
  ``input_image`` -> ``image_url``, ``input_file`` -> ``file``), ``function_call`` ->
  an assistant ``tool_calls`` entry (its ``call_id`` is the call's id), and
  ``function_call_output`` -> a ``tool`` message; ``reasoning`` items give back the
  thought signatures Balancer put in their ``encrypted_content`` (``seal``/``unseal``),
  which go on the calls they belong to (by ``call_id``);
- ``tools`` (flat ``function`` tools) -> chat tools; ``tool_choice`` (``none``, ``auto``,
  ``required``, ``{"type": "function", "name"}``, ``allowed_tools``);
- ``text.format`` (``text``, ``json_object``, ``json_schema`` with ``name``,
  ``schema``, ``strict``, ``description``) -> ``response_format``; ``text.verbosity``;
- ``reasoning.effort`` -> ``reasoning_effort``; ``reasoning.summary`` (any value) asks
  for thought summaries (``includeThoughts``), which come back as reasoning items;
- ``max_output_tokens``, ``temperature``, ``top_p``, ``parallel_tool_calls``.

Ignored: ``model``, ``stream``, ``store`` and ``previous_response_id`` (the route's),
``include``, ``metadata`` (echoed), ``user``, ``safety_identifier``, ``service_tier``,
``prompt_cache_key``, ``prompt_cache_retention``, ``truncation``, ``background: false``,
``top_logprobs``, ``stream_options``. Refused with a 400 naming the field: tools other than
``function`` (hosted tools run on OpenAI's side), ``background: true``, ``conversation``,
``prompt``, ``item_reference`` items, ``file_id`` and remote ``file_url``/``image_url``
(Balancer fetches nothing), and any field Balancer does not know.

A refusal found by the chat translation is renamed to the Responses field it came from
(``messages[3]`` -> ``input[2]``, ``max_completion_tokens`` -> ``max_output_tokens``, ...);
one about an item of a stored chain names ``previous_response_id``.

Lossy points (⚠): reasoning summaries sent back are dropped (Gemini takes no thought text);
a ``function_call_output`` given as parts keeps only its text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from balancer.dialects import chat_request, responses_items
from balancer.dialects.errors import Untranslatable, refuse_unknown, request_object
from balancer.text import quoted


_IGNORED = frozenset({"model", "stream", "store", "previous_response_id", "include", "metadata",
                      "user", "safety_identifier", "service_tier", "prompt_cache_key",
                      "prompt_cache_retention", "truncation", "top_logprobs", "stream_options"})
_HANDLED = frozenset({"input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
                      "text", "reasoning", "max_output_tokens", "temperature", "top_p",
                      "background"})
_REFUSED = {"conversation": "conversations live on OpenAI's side; send previous_response_id "
                            "or the whole input",
            "prompt": "stored prompt templates live on OpenAI's side"}
_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})


@dataclass(frozen=True)
class ResponsesContext:
    """What the answer and stream translators need to know of the request."""

    chat: chat_request.ChatContext
    #: The request's fields a Response object repeats (instructions, tools, ...).
    echo: Mapping[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.chat.model


def to_native(body: dict, *, model: str, history: Optional[list[dict]] = None
              ) -> tuple[dict, ResponsesContext]:
    """(``generateContent`` body, context) for a Responses ``body``.

    :param model: the Gemini model the body goes to.
    :param history: the items of a stored response chain (inputs and outputs) that come
        before this request's ``input`` (``previous_response_id``).
    :raises Untranslatable: naming the first field with no faithful Gemini counterpart.
    """
    refuse_unknown(request_object(body), _HANDLED, _IGNORED, refused=_REFUSED)
    if body.get("background") not in (None, False):
        raise Untranslatable("'background': background responses are not offered; send the "
                             "request without it (or stream it).", "background")
    stored = list(history or ())
    given = responses_items.input_items(body)
    if not given:
        raise Untranslatable("'input' must hold at least one item.", "input")
    items = stored + given
    messages = responses_items.chat_messages(body, items)
    # Where each chat message came from, to name the client's own field in a refusal.
    origins = (["instructions"] * (len(messages) - len(items))
               + ["previous_response_id"] * len(stored)
               + [f"input[{i}]" for i in range(len(given))])
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if body.get("tools") is not None:
        chat["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    for key, chat_key in (("parallel_tool_calls", "parallel_tool_calls"),
                          ("max_output_tokens", "max_completion_tokens"),
                          ("temperature", "temperature"), ("top_p", "top_p")):
        if body.get(key) is not None:
            chat[chat_key] = body[key]
    _text(body.get("text"), chat)
    _reasoning(body.get("reasoning"), chat)
    try:
        native, ctx = chat_request.to_native(chat, model=model)
    except Untranslatable as exc:
        raise Untranslatable(_renamed(exc.message, origins),
                             _renamed(exc.param, origins) if exc.param else None) from None
    return native, ResponsesContext(chat=ctx, echo=_echo(body))


#: Chat field names -> the Responses fields they were made from (for refusals).
_CHAT_FIELDS = ((re.compile(r"\.tool_calls\[\d+\]\.function\."), "."),
                (re.compile(r"\.tool_call_id\b"), ".call_id"),
                (re.compile(r"\btools\[(\d+)\]\.function\."), r"tools[\1]."),
                (re.compile(r"\.image_url\.url\b"), ".image_url"),
                (re.compile(r"\.file\.file_data\b"), ".file_data"),
                (re.compile(r"\bmax_completion_tokens\b"), "max_output_tokens"),
                (re.compile(r"\bresponse_format\.json_schema\."), "text.format."),
                (re.compile(r"\bresponse_format\b"), "text.format"),
                (re.compile(r"\breasoning_effort\b"), "reasoning.effort"))
_MESSAGE = re.compile(r"\bmessages\[(\d+)\]")


def _renamed(text: str, origins: list[str]) -> str:
    """A chat translation's refusal in the Responses request's own field names."""
    def origin(match: "re.Match[str]") -> str:
        index = int(match.group(1))
        return origins[index] if index < len(origins) else "input"
    text = _MESSAGE.sub(origin, text)
    for pattern, replacement in _CHAT_FIELDS:
        text = pattern.sub(replacement, text)
    return text.replace("'messages'", "'input'")


def _echo(body: dict) -> dict:
    reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
    text = body.get("text") if isinstance(body.get("text"), dict) else {}
    return {
        "instructions": body.get("instructions"),
        "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "tool_choice": body.get("tool_choice") if body.get("tool_choice") is not None else "auto",
        "tools": body.get("tools") or [],
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "max_output_tokens": body.get("max_output_tokens"),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "text": {"format": text.get("format") or {"type": "text"},
                 **({"verbosity": text["verbosity"]} if text.get("verbosity") else {})},
        "truncation": body.get("truncation") or "disabled",
        "store": body.get("store") is not False,
        "background": False,
        "user": body.get("user"),
    }


def _tools(tools: Any) -> list[dict]:
    if not isinstance(tools, list):
        raise Untranslatable("'tools' must be an array.", "tools")
    out = []
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise Untranslatable(f"'tools[{i}]' of type {quoted(kind)} cannot be served over the "
                                 "Gemini API (only function tools can; hosted tools run on "
                                 "OpenAI's side).", f"tools[{i}].type")
        function = {k: tool[k] for k in ("name", "description", "parameters", "strict")
                    if tool.get(k) is not None}
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    if kind == "allowed_tools":
        listed = choice.get("tools")
        return {"type": "allowed_tools", "allowed_tools": {
            "mode": choice.get("mode"),
            "tools": [{"type": t.get("type"), "function": {"name": t.get("name")}}
                      if isinstance(t, dict) else t for t in listed]
            if isinstance(listed, list) else listed}}
    raise Untranslatable(f"'tool_choice' of type {quoted(kind)} cannot be translated to the "
                         "Gemini API (none, auto, required, function and allowed_tools can).",
                         "tool_choice")


def _text(text: Any, chat: dict) -> None:
    if text is None:
        return
    if not isinstance(text, dict):
        raise Untranslatable("'text' must be an object.", "text")
    for key in text:
        if key not in ("format", "verbosity"):
            raise Untranslatable(f"{quoted('text.' + key)} has no Gemini counterpart.",
                                 f"text.{key}")
    if text.get("verbosity") is not None:
        chat["verbosity"] = text["verbosity"]
    fmt = text.get("format")
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind in ("text", "json_object"):
        chat["response_format"] = {"type": kind}
    elif kind == "json_schema":
        spec = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        chat["response_format"] = {"type": "json_schema", "json_schema": spec}
    else:
        raise Untranslatable(f"'text.format.type' {quoted(kind)} is not one of text, "
                             "json_object, json_schema.", "text.format.type")


def _reasoning(reasoning: Any, chat: dict) -> None:
    if reasoning is None:
        return
    if not isinstance(reasoning, dict):
        raise Untranslatable("'reasoning' must be an object.", "reasoning")
    for key in reasoning:
        if key not in ("effort", "summary", "generate_summary"):
            raise Untranslatable(f"{quoted('reasoning.' + key)} has no Gemini counterpart.",
                                 f"reasoning.{key}")
    effort = reasoning.get("effort")
    if effort is not None:
        if effort not in _EFFORTS:
            raise Untranslatable(f"'reasoning.effort' {quoted(effort)} is not one of "
                                 f"{', '.join(sorted(_EFFORTS))}.", "reasoning.effort")
        chat["reasoning_effort"] = effort
    summary = reasoning.get("summary") or reasoning.get("generate_summary")
    if summary is not None:
        if summary not in ("auto", "concise", "detailed"):
            raise Untranslatable(f"'reasoning.summary' {quoted(summary)} is not one of auto, "
                                 "concise, detailed.", "reasoning.summary")
        if effort != "none":
            chat["extra_body"] = {"google": {"thinking_config": {"include_thoughts": True}}}
