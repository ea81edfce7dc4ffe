"""An Anthropic Messages request as a Gemini ``generateContent`` body.

``to_native(body, model=...)`` returns the native body and an ``AnthropicContext``, what
the answer and stream translators need; ``anthropic_messages`` turns the messages into
Contents. Tools and schemas are ``tools``'s and
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

from balancer.dialects import anthropic_messages
from balancer.dialects.chat_messages import sign_current_turn
from balancer.dialects.chat_request import model_version, thinking_level
from balancer.dialects.errors import Untranslatable, refuse_unknown, request_object
from balancer.dialects.schema import to_response_schema
from balancer.dialects.tools import declaration, native_name
from balancer.text import quoted

_IGNORED = frozenset({"model", "metadata", "service_tier", "cache_control", "context_management",
                      "inference_geo", "speed", "diagnostics", "stream"})
_HANDLED = frozenset({"max_tokens", "messages", "system", "stop_sequences", "temperature",
                      "top_p", "top_k", "tools", "tool_choice", "thinking", "output_config"})
_NUMBERS = (("temperature", "temperature", float), ("top_p", "topP", float),
            ("top_k", "topK", int), ("max_tokens", "maxOutputTokens", int))


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
    refuse_unknown(request_object(body), _HANDLED, _IGNORED)
    model = model.removeprefix("models/")
    version = model_version(model)
    names: dict[str, str] = {}
    contents = anthropic_messages.contents(body.get("messages"), names)
    if version is not None and version >= 3:
        sign_current_turn(contents)
    native: dict[str, Any] = {"contents": contents}
    system = anthropic_messages.system_parts(body.get("system"))
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
        out.append(declaration(name, tool.get("description"), tool.get("input_schema"),
                               f"{where}.input_schema", names))
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

