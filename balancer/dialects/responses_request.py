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

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from balancer.dialects import chat_request
from balancer.dialects.errors import Untranslatable
from balancer.text import quoted

#: How Balancer marks the ``encrypted_content`` it writes (thought signatures by call id).
SEAL = "balancer.v1:"

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


def seal(signatures: Mapping[str, str]) -> str:
    """``encrypted_content`` holding thought signatures by call id (Balancer's own format)."""
    raw = json.dumps(dict(signatures), separators=(",", ":")).encode()
    return SEAL + base64.urlsafe_b64encode(raw).decode("ascii")


def unseal(content: Any) -> dict[str, str]:
    """The signatures by call id in an ``encrypted_content`` Balancer wrote ({} otherwise)."""
    if not isinstance(content, str) or not content.startswith(SEAL):
        return {}
    try:
        found = json.loads(base64.urlsafe_b64decode(content[len(SEAL):].encode("ascii")))
    except (ValueError, TypeError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str) and v}


def input_items(body: dict) -> list[dict]:
    """The request's ``input`` as a list of items (a string is one user message).

    :raises Untranslatable: when ``input`` is neither.
    """
    given = body.get("input")
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    if isinstance(given, list) and all(isinstance(item, dict) for item in given):
        return list(given)
    raise Untranslatable("'input' must be a string or an array of input items.", "input")


def to_native(body: dict, *, model: str, history: Optional[list[dict]] = None
              ) -> tuple[dict, ResponsesContext]:
    """(``generateContent`` body, context) for a Responses ``body``.

    :param model: the Gemini model the body goes to.
    :param history: the items of a stored response chain (inputs and outputs) that come
        before this request's ``input`` (``previous_response_id``).
    :raises Untranslatable: naming the first field with no faithful Gemini counterpart.
    """
    if not isinstance(body, dict):
        raise Untranslatable("The request body must be a JSON object.")
    for key, value in body.items():
        if value is not None and key not in _HANDLED and key not in _IGNORED:
            if key in _REFUSED:
                raise Untranslatable(f"'{key}': {_REFUSED[key]}.", key)
            raise Untranslatable(f"{quoted(key)} has no counterpart in the Gemini API, so it "
                                 "cannot be honoured.", key)
    if body.get("background") not in (None, False):
        raise Untranslatable("'background': background responses are not offered; send the "
                             "request without it (or stream it).", "background")
    stored = list(history or ())
    given = input_items(body)
    if not given:
        raise Untranslatable("'input' must hold at least one item.", "input")
    items = stored + given
    messages = _messages(body, items)
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


def _messages(body: dict, items: list[dict]) -> list[dict]:
    messages: list[dict] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise Untranslatable("'instructions' must be a string.", "instructions")
        if instructions:
            messages.append({"role": "system", "content": instructions})
    signatures: dict[str, str] = {}
    for item in items:
        if item.get("type") == "reasoning":
            signatures.update(unseal(item.get("encrypted_content")))
    for i, item in enumerate(items):
        where = f"input[{i}]"
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            messages.append(_call(item, where, signatures))
        elif kind == "function_call_output":
            messages.append(_output(item, where))
        elif kind == "reasoning":
            continue  # summaries are not sent back; signatures were read above
        elif kind == "item_reference":
            raise Untranslatable(f"'{where}': item references are not resolved; send the item "
                                 "itself or use previous_response_id.", where)
        else:
            raise Untranslatable(f"'{where}' of type {quoted(kind)} cannot be translated to the "
                                 "Gemini API (message, function_call, function_call_output and "
                                 "reasoning can).", f"{where}.type")
    return messages


def _message(item: dict, where: str) -> dict:
    role = item.get("role")
    if role not in ("user", "system", "developer", "assistant"):
        raise Untranslatable(f"'{where}.role' {quoted(role)} is not one of user, system, "
                             "developer, assistant.", f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise Untranslatable(f"'{where}.content' must be a string or an array of parts.",
                             f"{where}.content")
    return {"role": role, "content": [_part(part, f"{where}.content[{j}]", role)
                                      for j, part in enumerate(content)]}


def _part(part: Any, where: str, role: str) -> dict:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text"):
        text = part.get("text")
        if not isinstance(text, str):
            raise Untranslatable(f"'{where}.text' must be a string.", f"{where}.text")
        return {"type": "text", "text": text}
    if kind == "refusal" and role == "assistant":
        return {"type": "refusal", "refusal": str(part.get("refusal") or "")}
    if kind == "input_image" and role not in ("assistant", "system", "developer"):
        if part.get("file_id") is not None:
            raise Untranslatable(f"'{where}.file_id': uploaded OpenAI files cannot be sent to "
                                 "the Gemini API; send the image as a data: URL.",
                                 f"{where}.file_id")
        url = part.get("image_url")
        if not isinstance(url, str) or not url.startswith("data:"):
            raise Untranslatable(f"'{where}.image_url': images must be sent as base64 data: "
                                 "URLs; remote URLs are not fetched.", f"{where}.image_url")
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in ("low", "high"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file" and role not in ("assistant", "system", "developer"):
        for key, why in (("file_id", "uploaded OpenAI files cannot be sent to the Gemini API; "
                                     "send the file as file_data"),
                         ("file_url", "remote files are not fetched; send the file as "
                                      "file_data")):
            if part.get(key) is not None:
                raise Untranslatable(f"'{where}.{key}': {why}.", f"{where}.{key}")
        file: dict[str, Any] = {"file_data": part.get("file_data")}
        if isinstance(part.get("filename"), str):
            file["filename"] = part["filename"]
        return {"type": "file", "file": file}
    raise Untranslatable(f"'{where}' of type {quoted(kind)} cannot be translated in a "
                         f"{role} message (input_text, input_image and input_file can in user "
                         "messages; output_text and refusal in assistant ones).", where)


def _call(item: dict, where: str, signatures: Mapping[str, str]) -> dict:
    call_id, name = item.get("call_id"), item.get("name")
    if not isinstance(call_id, str) or not call_id:
        raise Untranslatable(f"'{where}.call_id' must be a non-empty string.", f"{where}.call_id")
    if not isinstance(name, str) or not name:
        raise Untranslatable(f"'{where}.name' must be a non-empty string.", f"{where}.name")
    arguments = item.get("arguments")
    call: dict[str, Any] = {"id": call_id, "type": "function",
                            "function": {"name": name,
                                         "arguments": arguments if arguments is not None else ""}}
    signature = signatures.get(call_id)
    if signature:
        call["extra_content"] = {"google": {"thought_signature": signature}}
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def _output(item: dict, where: str) -> dict:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise Untranslatable(f"'{where}.call_id' must be a non-empty string.", f"{where}.call_id")
    output = item.get("output")
    if isinstance(output, list):
        # Parts: their text is what a chat tool result can carry (⚠ images are dropped).
        output = "".join(p.get("text", "") for p in output
                         if isinstance(p, dict) and p.get("type") in ("input_text", "output_text")
                         and isinstance(p.get("text"), str))
    if not isinstance(output, str):
        raise Untranslatable(f"'{where}.output' must be a string or an array of parts.",
                             f"{where}.output")
    return {"role": "tool", "tool_call_id": call_id, "content": output}


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
