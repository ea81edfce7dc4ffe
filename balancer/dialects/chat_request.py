"""An OpenAI chat completions request as a Gemini ``generateContent`` body.

``to_native(body, model=...)`` returns the native body and a ``ChatContext``, the small
frozen value the answer and stream translators need. Messages are ``chat_messages``'s,
tools ``tools``'s, schemas ``schema``'s; this module owns the rest:

- ``temperature``, ``top_p`` (``topP``), ``top_k`` (``topK``, an extension), ``seed``,
  ``presence_penalty``, ``frequency_penalty``, ``n`` (``candidateCount``),
  ``max_completion_tokens`` ?? ``max_tokens`` (``maxOutputTokens``), ``stop``
  (``stopSequences``), ``logprobs``/``top_logprobs`` (``responseLogprobs``/``logprobs``);
- ``response_format``: ``json_object`` -> ``responseMimeType: application/json``;
  ``json_schema`` -> that plus ``responseJsonSchema``;
- ``reasoning_effort``: a ``thinkingBudget`` (none 0, minimal 512, low 1024, medium
  8192, high/xhigh/max 24576: in range for every 2.5 model) for models before Gemini 3
  and for names without a version (aliases such as ``gemini-flash-latest``; budgets work
  on 3 too); a ``thinkingLevel`` for Gemini 3 and later: none/minimal -> MINIMAL, low,
  medium, high, xhigh/max -> XHIGH, each then raised to the nearest level the model takes
  (or lowered to its highest). Levels differ per model and Google adds some: 3 Pro takes
  LOW and HIGH, 3 Flash MINIMAL to HIGH, later models (3.1 Pro, 3.8 Flash, 4) are taken
  as LOW to HIGH (none of them MINIMAL; XHIGH only on a few, asked for through
  ``thinking_level`` itself);
- ``extra_body.google`` (or a top-level ``google``, which is what openai-python's
  ``extra_body={"google": ...}`` sends): ``thinking_config`` (``thinking_budget``,
  ``thinking_level``, ``include_thoughts``; a budget or level given here replaces the one
  ``reasoning_effort`` gave), ``cached_content``, ``safety_settings``;
- ``web_search_options`` -> the ``googleSearch`` tool; ``modalities`` with ``image`` ->
  ``responseModalities: [TEXT, IMAGE]``;
- ``parallel_tool_calls: false``: Gemini has no such switch, so the answer translators
  keep only the first call of each answer (``ChatContext.single_call``), which is the
  contract the client asked for; the model repeats a dropped call next turn if needed.

Ignored (no effect on the answer): ``user``, ``safety_identifier``, ``metadata``,
``store``, ``service_tier``, ``prompt_cache_key``, ``prompt_cache_retention``,
``stream``, ``stream_options`` (read for ``include_usage``), ``verbosity: medium``.
Refused with a 400 naming the field: ``logit_bias``, ``audio`` and audio output,
``prediction``, the legacy ``functions``/``function_call`` (send ``tools``), other
``verbosity`` values, and any field Balancer does not know (it may change the answer;
one set to null asks for nothing and is ignored).

Lossy points (⚠): ``web_search_options``' location and context size; ``strict`` of a
JSON schema; ``json_schema.name``; thinking ranges per model are Gemini's to enforce.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional

from balancer.dialects.chat_messages import to_contents
from balancer.dialects.errors import Untranslatable, refuse_unknown, request_object
from balancer.dialects.schema import to_response_schema
from balancer.dialects.tools import declarations, tool_config
from balancer.text import quoted

_IGNORED = frozenset({"model", "user", "safety_identifier", "metadata", "store", "service_tier",
                      "prompt_cache_key", "prompt_cache_retention", "stream", "stream_options"})
_REFUSED = {
    "logit_bias": "token biases have no Gemini counterpart",
    "audio": "audio output has no counterpart in the Gemini chat translation",
    "prediction": "predicted outputs have no Gemini counterpart",
    "functions": "legacy functions are not translated; send them as tools",
    "function_call": "legacy function_call is not translated; send tool_choice",
}
_HANDLED = frozenset({"messages", "tools", "tool_choice", "parallel_tool_calls",
                      "web_search_options", "temperature", "top_p", "top_k", "seed",
                      "presence_penalty", "frequency_penalty", "n", "max_tokens",
                      "max_completion_tokens", "stop", "logprobs", "top_logprobs",
                      "response_format", "reasoning_effort", "modalities", "verbosity",
                      "extra_body", "google"})
_NUMBERS = (("temperature", "temperature", float), ("top_p", "topP", float),
            ("top_k", "topK", int), ("seed", "seed", int),
            ("presence_penalty", "presencePenalty", float),
            ("frequency_penalty", "frequencyPenalty", float))
_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576,
            "xhigh": 24576, "max": 24576}
#: Thinking levels, lowest first, and the effort each OpenAI value asks for.
SCALE = ("MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH")
_EFFORT_LEVEL = {"none": 0, "minimal": 0, "low": 1, "medium": 2, "high": 3, "xhigh": 4, "max": 4}
#: (model name pattern, the levels it takes); the first match wins.
_MODEL_LEVELS = ((re.compile(r"gemini-3(?:\.0)?-pro"), ("LOW", "HIGH")),
                 (re.compile(r"gemini-3(?:\.0)?-flash"), ("MINIMAL", "LOW", "MEDIUM", "HIGH")),
                 (re.compile(r""), ("LOW", "MEDIUM", "HIGH")))
_VERSION = re.compile(r"gemini-(\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class ChatContext:
    """What the answer and stream translators need to know of the request."""

    #: The model name the client asked for; answers report it.
    model: str
    include_usage: bool = False
    n: int = 1
    #: Thought summaries were asked for: they come back as ``reasoning_content``.
    thoughts: bool = False
    #: Gemini name -> client name, for the function names Gemini would have refused.
    names: Mapping[str, str] = field(default_factory=dict)
    #: ``parallel_tool_calls: false``: keep only the first call of each answer.
    single_call: bool = False

    def client_name(self, native: str) -> str:
        """The client's name for a function Gemini called."""
        return self.names.get(native, native)


def to_native(body: dict, *, model: str) -> tuple[dict, ChatContext]:
    """(``generateContent`` body, context) for an OpenAI chat completions ``body``.

    :param model: the Gemini model the body goes to (decides thinking and signatures).
    :raises Untranslatable: naming the first field with no faithful Gemini counterpart.
    """
    refuse_unknown(request_object(body), _HANDLED, _IGNORED, _REFUSED)
    for key, why in _REFUSED.items():
        if body.get(key) not in (None, [], {}):
            raise Untranslatable(f"'{key}': {why}.", key)  # a name of our own table
    if body.get("verbosity") not in (None, "medium"):
        raise Untranslatable("'verbosity' has no Gemini counterpart (only 'medium', the "
                             "default, can be honoured).", "verbosity")
    model = model.removeprefix("models/")
    version = model_version(model)
    names: dict[str, str] = {}
    system, contents = to_contents(body.get("messages"), names,
                                   gemini3=version is not None and version >= 3)
    native: dict[str, Any] = {"contents": contents}
    if system:
        native["systemInstruction"] = {"parts": system}
    tools = []
    if body.get("tools"):
        tools.append({"functionDeclarations": declarations(body["tools"], names)})
    if body.get("web_search_options") is not None:
        tools.append({"googleSearch": {}})
    if tools:
        native["tools"] = tools
    choice = body.get("tool_choice")
    if choice is not None and not body.get("tools"):
        if choice not in ("auto", "none"):
            raise Untranslatable("'tool_choice' needs 'tools'.", "tool_choice")
    elif choice is not None:
        native["toolConfig"] = tool_config(choice)
    google = _google_extras(body)
    config = _generation_config(body, version, model, google)
    if config:
        native["generationConfig"] = config
    for key, native_key in (("cached_content", "cachedContent"),
                            ("safety_settings", "safetySettings")):
        if key in google[1]:
            native[native_key] = google[1][key]
    options = body.get("stream_options")
    thinking = config.get("thinkingConfig") or {}
    ctx = ChatContext(
        model=str(body.get("model") or model),
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        n=config.get("candidateCount", 1), thoughts=thinking.get("includeThoughts") is True,
        names=MappingProxyType(names), single_call=body.get("parallel_tool_calls") is False)
    return native, ctx


def model_version(model: str) -> Optional[float]:
    """The Gemini version in a model name (3.0 for ``gemini-3-pro``), None without one."""
    match = _VERSION.search(model)
    return float(match.group(1)) if match else None


def _google_extras(body: dict) -> tuple[str, dict]:
    """(where, extras) of ``extra_body.google`` merged over a top-level ``google``."""
    extras: dict[str, Any] = {}
    where = "google"
    top = body.get("google")
    if top is not None:
        if not isinstance(top, dict):
            raise Untranslatable("'google' must be an object.", "google")
        extras.update(top)
    extra_body = body.get("extra_body")
    if extra_body is not None:
        if not isinstance(extra_body, dict):
            raise Untranslatable("'extra_body' must be an object.", "extra_body")
        for key in extra_body:
            if key != "google":
                raise Untranslatable(f"{quoted('extra_body.' + key)} has no Gemini counterpart "
                                     "(only extra_body.google is read).", f"extra_body.{key}")
        nested = extra_body.get("google")
        if not isinstance(nested, dict):
            raise Untranslatable("'extra_body.google' must be an object.", "extra_body.google")
        extras.update(nested)
        where = "extra_body.google"
    for key in extras:
        if key not in ("thinking_config", "cached_content", "safety_settings"):
            raise Untranslatable(f"{quoted(where + '.' + key)} cannot be translated "
                                 "(thinking_config, cached_content and safety_settings can).",
                                 f"{where}.{key}")
    if "cached_content" in extras and not isinstance(extras["cached_content"], str):
        raise Untranslatable(f"'{where}.cached_content' must be a string.",
                             f"{where}.cached_content")
    if "safety_settings" in extras and not isinstance(extras["safety_settings"], list):
        raise Untranslatable(f"'{where}.safety_settings' must be an array.",
                             f"{where}.safety_settings")
    return where, extras


def _generation_config(body: dict, version: Optional[float], model: str,
                       google: tuple[str, dict]) -> dict:
    config: dict[str, Any] = {}
    for src, dst, kind in _NUMBERS:
        if body.get(src) is not None:
            config[dst] = _number(body[src], src, kind)
    if body.get("n") is not None:
        config["candidateCount"] = _number(body["n"], "n", int)
    for src in ("max_completion_tokens", "max_tokens"):
        if body.get(src) is not None:
            config["maxOutputTokens"] = _number(body[src], src, int)
            break
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise Untranslatable("'stop' must be a string or an array of strings.", "stop")
        if stops:
            config["stopSequences"] = stops
    if body.get("logprobs") is True:
        config["responseLogprobs"] = True
        if body.get("top_logprobs"):
            config["logprobs"] = _number(body["top_logprobs"], "top_logprobs", int)
    _response_format(body.get("response_format"), config)
    modalities = body.get("modalities")
    if modalities is not None:
        if not isinstance(modalities, list) or not all(isinstance(m, str) for m in modalities) \
                or not set(modalities) <= {"text", "image"}:
            raise Untranslatable("'modalities' may hold only text and image (audio output has "
                                 "no counterpart in the Gemini chat translation).", "modalities")
        if "image" in modalities:
            config["responseModalities"] = ["TEXT", "IMAGE"]
    thinking = _thinking(body.get("reasoning_effort"), version, model, google)
    if thinking:
        config["thinkingConfig"] = thinking
    return config


def _number(value: Any, param: str, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or (kind is int and value != int(value)):
        raise Untranslatable(f"'{param}' must be {'an integer' if kind is int else 'a number'}.",
                             param)
    return int(value) if kind is int else value


def _response_format(fmt: Any, config: dict) -> None:
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
        return
    if kind != "json_schema":
        raise Untranslatable(f"'response_format.type' {quoted(kind)} is not one of text, "
                             "json_object, json_schema.", "response_format.type")
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict):
        raise Untranslatable("'response_format.json_schema' must be an object.",
                             "response_format.json_schema")
    config["responseMimeType"] = "application/json"
    if spec.get("schema") is not None:
        schema = to_response_schema(spec["schema"], "response_format.json_schema.schema")
        description = spec.get("description")
        if isinstance(description, str) and description and "description" not in schema:
            schema["description"] = description
        config["responseJsonSchema"] = schema


def thinking_level(wanted: int, model: str) -> str:
    """The lowest level the model takes at or above ``wanted`` (an index of ``SCALE``: 0
    MINIMAL to 4 XHIGH), else its highest."""
    taken = next(levels for pattern, levels in _MODEL_LEVELS if pattern.search(model))
    for level in SCALE[wanted:]:
        if level in taken:
            return level
    return taken[-1]


def _thinking(effort: Any, version: Optional[float], model: str,
              google: tuple[str, dict]) -> dict:
    config: dict[str, Any] = {}
    if effort is not None:
        if effort not in _BUDGETS:
            raise Untranslatable(f"'reasoning_effort' {quoted(effort)} is not one of "
                                 f"{', '.join(_BUDGETS)}.", "reasoning_effort")
        if version is not None and version >= 3:
            config["thinkingLevel"] = thinking_level(_EFFORT_LEVEL[effort], model)
        elif version is None or version >= 2.5 or effort != "none":
            # Before 2.5 there is no thinking to switch off; asked for, Gemini says so.
            config["thinkingBudget"] = _BUDGETS[effort]
    where, extras = google
    given = extras.get("thinking_config")
    if given is None:
        return config
    where = f"{where}.thinking_config"
    if not isinstance(given, dict):
        raise Untranslatable(f"'{where}' must be an object.", where)
    if "thinking_budget" in given or "thinking_level" in given:
        config.pop("thinkingBudget", None)
        config.pop("thinkingLevel", None)
    for key, value in given.items():
        if key == "thinking_budget":
            config["thinkingBudget"] = _number(value, f"{where}.thinking_budget", int)
        elif key == "thinking_level":
            if not isinstance(value, str):
                raise Untranslatable(f"'{where}.thinking_level' must be a string.",
                                     f"{where}.thinking_level")
            config["thinkingLevel"] = value.upper()
        elif key == "include_thoughts":
            if not isinstance(value, bool):
                raise Untranslatable(f"'{where}.include_thoughts' must be true or false.",
                                     f"{where}.include_thoughts")
            config["includeThoughts"] = value
        else:
            raise Untranslatable(f"{quoted(where + '.' + key)} cannot be translated "
                                 "(thinking_budget, thinking_level and include_thoughts can).",
                                 f"{where}.{key}")
    return config
