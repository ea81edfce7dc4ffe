"""An Anthropic Messages request as a Gemini ``generateContent`` body.

``to_native(body, model=...)`` returns the native body and an ``AnthropicContext``, what
the answer and stream translators need. Tools and schemas are ``tools``'s and
``schema``'s, thinking levels ``chat_request``'s, the signature rule ``chat_messages``'s:

- ``system`` (a string or text blocks) -> ``systemInstruction``; ``user`` -> ``user``,
  ``assistant`` -> ``model`` Contents, neighbours of one role merged, empty text blocks
  and empty turns dropped (Gemini refuses both);
- blocks: ``text``; ``image`` and ``document`` with a ``base64`` source -> ``inlineData``
  (a PDF, an image); a ``text`` document source or ``content`` blocks -> text; ``tool_use``
  -> ``functionCall`` (Gemini's own call id goes back as ``functionCall.id``; ids that
  start ``toolu_`` are Anthropic's or Balancer's and never do); ``tool_result`` ->
  ``functionResponse`` (``response: {"output": text}``, ``{"error": text}`` with
  ``is_error``), placed first in their Content in the order of the calls, images in a
  result following as ``inlineData`` parts; ``thinking`` -> its ``signature`` becomes the
  ``thoughtSignature`` of the next ``tool_use`` of that message (that is where the answer
  translators put Gemini's signature), the thought text is dropped;
  ``redacted_thinking`` is dropped;
- on Gemini 3 and later, the first call of each model step of the current turn without a
  signature gets the documented dummy (``chat_messages.sign_current_turn``);
- ``tools[].input_schema`` -> ``functionDeclarations[].parameters`` (cleaned like chat
  tools, names renamed reversibly); ``tool_choice`` ``auto``/``any``/``tool``/``none`` ->
  AUTO/ANY/ANY + ``allowedFunctionNames``/NONE; ``disable_parallel_tool_use`` keeps only
  the first call of each answer;
- ``max_tokens`` -> ``maxOutputTokens``; ``temperature``, ``top_p``, ``top_k``,
  ``stop_sequences`` -> ``temperature``, ``topP``, ``topK``, ``stopSequences``;
- ``thinking``: ``enabled`` -> ``includeThoughts`` and ``budget_tokens`` as the
  ``thinkingBudget`` (before Gemini 3; at most 32768 on a Pro, 24576 otherwise) or a
  ``thinkingLevel`` (Gemini 3: up to 4096 LOW, else HIGH, then fitted to the levels the
  model takes); ``adaptive`` -> ``includeThoughts`` only; ``disabled`` -> budget 0 (128 on a
  2.5 Pro, which cannot switch thinking off) or the model's lowest level; ``display:
  omitted`` leaves the thought text out;
- ``output_config.format`` (``json_schema``) -> ``responseMimeType`` +
  ``responseJsonSchema``.

Ignored (no effect Gemini could give): ``metadata``, ``service_tier``, ``cache_control``
(on the request and on blocks: Gemini has no prompt caching by marker ⚠),
``context_management``, ``inference_geo``, ``speed``, ``diagnostics``, ``stream``,
``output_config.effort``, ``citations``, a document's ``title`` and ``context`` ⚠. Refused
with a 400 naming the field: server tools (``web_search_…`` and the like), ``container``,
``mcp_servers``, image and document URL sources (Balancer fetches nothing, as for chat),
block types Gemini has no part for, and fields Balancer does not know.

Lossy points (⚠): the system prompt moves to the top; thought text sent back is dropped
(Gemini takes only signatures); prompt caching markers are dropped; a thinking budget above
Gemini's most is lowered to it; ``max_tokens`` above a model's own most is Gemini's to refuse.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional

from balancer.dialects.chat_messages import sign_current_turn
from balancer.dialects.chat_request import model_version, thinking_level
from balancer.dialects.errors import Untranslatable
from balancer.dialects.schema import to_parameters, to_response_schema
from balancer.dialects.tools import native_name, remember
from balancer.text import quoted

#: Tool ids Balancer (or Anthropic) made: never sent to Gemini as a call id.
TOOL_ID_PREFIX = "toolu_"

_IGNORED = frozenset({"model", "metadata", "service_tier", "cache_control", "context_management",
                      "inference_geo", "speed", "diagnostics", "stream"})
_HANDLED = frozenset({"max_tokens", "messages", "system", "stop_sequences", "temperature",
                      "top_p", "top_k", "tools", "tool_choice", "thinking", "output_config"})
_NUMBERS = (("temperature", "temperature", float), ("top_p", "topP", float),
            ("top_k", "topK", int), ("max_tokens", "maxOutputTokens", int))
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


@dataclass(frozen=True)
class AnthropicContext:
    """What the answer and stream translators need to know of the request."""

    #: The model name the client asked for; answers report it.
    model: str
    #: Thought summaries go back as ``thinking`` blocks.
    thoughts: bool = False
    #: Gemini name -> client name, for the function names Gemini would have refused.
    names: Mapping[str, str] = field(default_factory=dict)
    #: ``disable_parallel_tool_use``: keep only the first call of each answer.
    single_call: bool = False
    #: The request's ``stop_sequences`` (Gemini does not say which one stopped it).
    stop_sequences: tuple[str, ...] = ()

    def client_name(self, native: str) -> str:
        """The client's name for a function Gemini called."""
        return self.names.get(native, native)


def to_native(body: dict, *, model: str) -> tuple[dict, AnthropicContext]:
    """(``generateContent`` body, context) for an Anthropic Messages ``body``.

    :param model: the Gemini model the body goes to (decides thinking and signatures).
    :raises Untranslatable: naming the first field with no faithful Gemini counterpart.
    """
    if not isinstance(body, dict):
        raise Untranslatable("The request body must be a JSON object.")
    for key, value in body.items():
        if value is not None and key not in _HANDLED and key not in _IGNORED:
            raise Untranslatable(f"{quoted(key)} has no counterpart in the Gemini API, so it "
                                 "cannot be honoured.", key)
    model = model.removeprefix("models/")
    version = model_version(model)
    names: dict[str, str] = {}
    contents = _contents(body.get("messages"), names)
    if version is not None and version >= 3:
        sign_current_turn(contents)
    native: dict[str, Any] = {"contents": contents}
    system = _system(body.get("system"))
    if system:
        native["systemInstruction"] = {"parts": system}
    tools = body.get("tools")
    if tools:
        native["tools"] = [{"functionDeclarations": _declarations(tools, names)}]
    choice, single = _tool_choice(body.get("tool_choice"), bool(tools))
    if choice is not None:
        native["toolConfig"] = choice
    config = _generation_config(body, version, model)
    if config:
        native["generationConfig"] = config
    thinking = config.get("thinkingConfig") or {}
    stops = config.get("stopSequences") or ()
    ctx = AnthropicContext(model=str(body.get("model") or model),
                           thoughts=thinking.get("includeThoughts") is True,
                           names=MappingProxyType(names), single_call=single,
                           stop_sequences=tuple(stops))
    return native, ctx


def _append(contents: list[dict], role: str, parts: list[dict]) -> None:
    if not parts:
        return  # an empty turn says nothing, and Gemini refuses a Content without parts
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _system(system: Any) -> list[dict]:
    if system is None:
        return []
    if isinstance(system, str):
        return [{"text": system}] if system else []
    if not isinstance(system, list):
        raise Untranslatable("'system' must be a string or an array of text blocks.", "system")
    parts = []
    for i, block in enumerate(system):
        text = block.get("text") if isinstance(block, dict) and block.get("type") == "text" \
            else None
        if not isinstance(text, str):
            raise Untranslatable(f"'system[{i}]' must be a text block.", f"system[{i}]")
        if text:
            parts.append({"text": text})
    return parts


def _contents(messages: Any, names: dict[str, str]) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise Untranslatable("'messages' must be a non-empty array.", "messages")
    contents: list[dict] = []
    calls: dict[str, tuple[str, Optional[str], int]] = {}  # tool id -> (name, Gemini id, order)
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise Untranslatable(f"'{where}.role' {quoted(role)} is not one of user, assistant.",
                                 f"{where}.role")
        blocks = message.get("content")
        if isinstance(blocks, str):
            blocks = [{"type": "text", "text": blocks}]
        if not isinstance(blocks, list):
            raise Untranslatable(f"'{where}.content' must be a string or an array of blocks.",
                                 f"{where}.content")
        if role == "user":
            _append(contents, "user", _user_parts(blocks, where, calls))
        else:
            _append(contents, "model", _assistant_parts(blocks, where, names, calls))
    if not contents:
        raise Untranslatable("'messages' needs at least one message with content.", "messages")
    return contents


def _block_type(block: Any, param: str) -> str:
    kind = block.get("type") if isinstance(block, dict) else None
    if not isinstance(kind, str):
        raise Untranslatable(f"'{param}' must be a content block with a type.", param)
    return kind


def _text(block: dict, param: str) -> list[dict]:
    text = block.get("text")
    if not isinstance(text, str):
        raise Untranslatable(f"'{param}.text' must be a string.", f"{param}.text")
    return [{"text": text}] if text else []


def _user_parts(blocks: list, where: str,
                calls: dict[str, tuple[str, Optional[str], int]]) -> list[dict]:
    results: list[tuple[int, dict]] = []
    parts: list[dict] = []
    for j, block in enumerate(blocks):
        param = f"{where}.content[{j}]"
        kind = _block_type(block, param)
        if kind == "tool_result":
            order, response, media = _tool_result(block, param, calls)
            results.append((order, response))
            parts.extend(media)
        else:
            parts.extend(_media_or_text(block, kind, param))
    # Gemini wants one response per call, in the calls' order, ahead of anything else.
    return [response for _, response in sorted(results, key=lambda pair: pair[0])] + parts


def _media_or_text(block: dict, kind: str, param: str) -> list[dict]:
    if kind == "text":
        return _text(block, param)
    if kind == "image":
        return [_inline(block.get("source"), f"{param}.source", _IMAGE_TYPES, "images")]
    if kind == "document":
        return _document(block.get("source"), f"{param}.source")
    raise Untranslatable(f"'{param}' of type {quoted(kind)} cannot be translated to the Gemini "
                         "API (text, image, document, tool_use, tool_result and thinking can).",
                         param)


def _inline(source: Any, param: str, types: tuple[str, ...], what: str) -> dict:
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "url":
        # Gemini does not fetch URLs for inline parts, and a gateway that fetched them
        # would be an open web client: the client sends the bytes itself.
        raise Untranslatable(f"'{param}': {what} must be sent as base64 sources; URLs are not "
                             "fetched.", param)
    if kind != "base64":
        raise Untranslatable(f"'{param}.type' {quoted(kind)} cannot be translated (base64 can).",
                             f"{param}.type")
    mime, data = source.get("media_type"), source.get("data")
    if mime not in types:
        raise Untranslatable(f"'{param}.media_type' {quoted(mime)} is not one of "
                             f"{', '.join(types)}.", f"{param}.media_type")
    if not isinstance(data, str) or not data:
        raise Untranslatable(f"'{param}.data' must be base64 data.", f"{param}.data")
    return {"inlineData": {"mimeType": mime, "data": data}}


def _document(source: Any, param: str) -> list[dict]:
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "text":
        data = source.get("data")
        if not isinstance(data, str):
            raise Untranslatable(f"'{param}.data' must be a string.", f"{param}.data")
        return [{"text": data}] if data else []
    if kind == "content":
        inner = source.get("content")
        if isinstance(inner, str):
            return [{"text": inner}] if inner else []
        if not isinstance(inner, list):
            raise Untranslatable(f"'{param}.content' must be a string or an array of blocks.",
                                 f"{param}.content")
        parts: list[dict] = []
        for k, block in enumerate(inner):
            where = f"{param}.content[{k}]"
            kind = _block_type(block, where)
            if kind not in ("text", "image"):
                raise Untranslatable(f"'{where}' must be a text or image block.", where)
            parts.extend(_media_or_text(block, kind, where))
        return parts
    return [_inline(source, param, ("application/pdf",), "documents")]


def _tool_result(block: dict, param: str, calls: dict[str, tuple[str, Optional[str], int]]
                 ) -> tuple[int, dict, list[dict]]:
    tool_id = block.get("tool_use_id")
    if not isinstance(tool_id, str) or tool_id not in calls:
        raise Untranslatable(f"'{param}.tool_use_id' {quoted(tool_id)} matches no tool_use "
                             "block of an earlier assistant message.", f"{param}.tool_use_id")
    name, gemini_id, order = calls[tool_id]
    content = block.get("content")
    texts: list[str] = []
    media: list[dict] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, inner in enumerate(content):
            where = f"{param}.content[{k}]"
            kind = _block_type(inner, where)
            for part in _media_or_text(inner, kind, where):
                if "text" in part:
                    texts.append(part["text"])
                else:
                    media.append(part)
    elif content is not None:
        raise Untranslatable(f"'{param}.content' must be a string or an array of blocks.",
                             f"{param}.content")
    key = "error" if block.get("is_error") is True else "output"
    response: dict[str, Any] = {"id": gemini_id} if gemini_id else {}
    response["name"] = name
    response["response"] = {key: "\n".join(texts)}
    return order, {"functionResponse": response}, media


def _assistant_parts(blocks: list, where: str, names: dict[str, str],
                     calls: dict[str, tuple[str, Optional[str], int]]) -> list[dict]:
    parts: list[dict] = []
    signature: Optional[str] = None
    for j, block in enumerate(blocks):
        param = f"{where}.content[{j}]"
        kind = _block_type(block, param)
        if kind == "text":
            parts.extend(_text(block, param))
        elif kind == "thinking":
            given = block.get("signature")
            signature = given if isinstance(given, str) and given else signature
        elif kind == "redacted_thinking":
            continue
        elif kind == "tool_use":
            part = _tool_use(block, param, names, calls)
            if signature:
                part["thoughtSignature"] = signature
                signature = None
            parts.append(part)
        else:
            raise Untranslatable(f"'{param}' of type {quoted(kind)} cannot be translated to the "
                                 "Gemini API (text, thinking and tool_use can).", param)
    return parts


def _tool_use(block: dict, param: str, names: dict[str, str],
              calls: dict[str, tuple[str, Optional[str], int]]) -> dict:
    name, tool_id, args = block.get("name"), block.get("id"), block.get("input")
    if not isinstance(name, str) or not name:
        raise Untranslatable(f"'{param}.name' must be a non-empty string.", f"{param}.name")
    if not isinstance(tool_id, str) or not tool_id:
        raise Untranslatable(f"'{param}.id' must be a non-empty string.", f"{param}.id")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise Untranslatable(f"'{param}.input' must be an object.", f"{param}.input")
    native = remember(name, names)
    gemini_id = None if tool_id.startswith(TOOL_ID_PREFIX) else tool_id
    call: dict[str, Any] = {"id": gemini_id} if gemini_id else {}
    call["name"] = native
    call["args"] = args
    calls[tool_id] = (native, gemini_id, len(calls))
    return {"functionCall": call}


def _declarations(tools: Any, names: dict[str, str]) -> list[dict]:
    if not isinstance(tools, list):
        raise Untranslatable("'tools' must be an array.", "tools")
    out = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise Untranslatable(f"'{where}' must be an object.", where)
        kind = tool.get("type")
        if kind not in (None, "custom"):
            raise Untranslatable(f"'{where}.type' is {quoted(kind)}: only client tools (with an "
                                 "input_schema) can be served from the Gemini API.",
                                 f"{where}.type")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise Untranslatable(f"'{where}.name' must be a non-empty string.", f"{where}.name")
        declared: dict[str, Any] = {"name": remember(name, names)}
        description = tool.get("description")
        if isinstance(description, str) and description:
            declared["description"] = description
        parameters = to_parameters(tool.get("input_schema"), f"{where}.input_schema")
        if parameters is not None:
            declared["parameters"] = parameters
        out.append(declared)
    return out


def _tool_choice(choice: Any, has_tools: bool) -> tuple[Optional[dict], bool]:
    """(``toolConfig`` or None, whether to keep only the first call)."""
    if choice is None:
        return None, False
    kind = choice.get("type") if isinstance(choice, dict) else None
    single = isinstance(choice, dict) and choice.get("disable_parallel_tool_use") is True
    modes = {"auto": "AUTO", "any": "ANY", "tool": "ANY", "none": "NONE"}
    if not isinstance(kind, str) or kind not in modes:
        raise Untranslatable(f"'tool_choice.type' {quoted(kind)} is not one of auto, any, tool, "
                             "none.", "tool_choice.type")
    if not has_tools:
        if kind in ("auto", "none"):
            return None, False
        raise Untranslatable("'tool_choice' needs 'tools'.", "tool_choice")
    config: dict[str, Any] = {"mode": modes[kind]}
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise Untranslatable("'tool_choice.name' must name a tool.", "tool_choice.name")
        config["allowedFunctionNames"] = [native_name(name)]
    return {"functionCallingConfig": config}, single


def _number(value: Any, param: str, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or (kind is int and value != int(value)):
        raise Untranslatable(f"'{param}' must be {'an integer' if kind is int else 'a number'}.",
                             param)
    return int(value) if kind is int else value


def _generation_config(body: dict, version: Optional[float], model: str) -> dict:
    config: dict[str, Any] = {}
    for src, dst, kind in _NUMBERS:
        if body.get(src) is not None:
            config[dst] = _number(body[src], src, kind)
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise Untranslatable("'stop_sequences' must be an array of strings.",
                                 "stop_sequences")
        if stops:
            config["stopSequences"] = stops
    _output_config(body.get("output_config"), config)
    thinking = _thinking(body.get("thinking"), version, model)
    if thinking:
        config["thinkingConfig"] = thinking
    return config


def _output_config(output: Any, config: dict) -> None:
    if output is None:
        return
    if not isinstance(output, dict):
        raise Untranslatable("'output_config' must be an object.", "output_config")
    fmt = output.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" \
            or not isinstance(fmt.get("schema"), dict):
        raise Untranslatable("'output_config.format' must be {\"type\": \"json_schema\", "
                             "\"schema\": {...}}.", "output_config.format")
    config["responseMimeType"] = "application/json"
    config["responseJsonSchema"] = to_response_schema(fmt["schema"], "output_config.format.schema")


def _thinking(thinking: Any, version: Optional[float], model: str) -> dict:
    if thinking is None:
        return {}
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    gemini3 = version is not None and version >= 3
    shown = thinking.get("display") != "omitted" if isinstance(thinking, dict) else True
    if kind == "enabled":
        budget = _number(thinking.get("budget_tokens"), "thinking.budget_tokens", int)
        if gemini3:
            return {"thinkingLevel": thinking_level(1 if budget <= 4096 else 3, model),
                    "includeThoughts": shown}
        # Claude takes budgets up to max_tokens (Claude Code asks for 31999); Gemini 2.5
        # refuses more than its own most: 32768 on Pro, 24576 on Flash and Flash-Lite.
        most = 32768 if "-pro" in model else 24576
        return {"thinkingBudget": max(0, min(budget, most)), "includeThoughts": shown}
    if kind == "adaptive":
        return {"includeThoughts": shown}
    if kind == "disabled":
        if gemini3:
            return {"thinkingLevel": thinking_level(0, model)}
        if version is not None and version < 2.5:
            return {}  # no thinking to switch off
        # 2.5 Pro cannot switch thinking off; its least is 128.
        return {"thinkingBudget": 128 if "-pro" in model else 0}
    raise Untranslatable(f"'thinking.type' {quoted(kind)} is not one of enabled, adaptive, "
                         "disabled.", "thinking.type")

