"""A Gemini ``generateContent`` body as an OpenAI chat completions request.

The hub's way out to OpenAI-kind upstreams (Groq, OpenRouter, Mistral, OpenAI...): any
dialect translated to native can then be served by chat completions. Messages are
``native_messages``'s; this module owns the rest:

- ``tools[].functionDeclarations`` -> function ``tools`` (``parametersJsonSchema`` as it
  is; ``parameters``, Gemini's OpenAPI subset, as JSON Schema: lower-case types,
  ``nullable`` -> a ``null`` type, ``example`` -> ``examples``, ``format: enum``
  dropped); a declaration without
  parameters gets an empty object schema (some providers require one);
- ``toolConfig.functionCallingConfig``: AUTO -> ``auto``, NONE -> ``none``, ANY ->
  ``required`` (one allowed name -> that named function); ``allowedFunctionNames`` with
  ANY or VALIDATED keep only those tools (the portable form of OpenAI's ``allowed_tools``,
  which few providers take); VALIDATED -> ``auto``;
- ``generationConfig``: ``temperature``; ``topP`` -> ``top_p``; ``maxOutputTokens`` ->
  ``max_tokens`` (what Groq, OpenRouter, Mistral, DeepSeek and vLLM all take, and OpenAI on
  every non-reasoning model; Mistral refuses ``max_completion_tokens``; OpenAI's reasoning
  models refuse ``max_tokens``, so a caller that knows its upstream is OpenAI passes
  ``max_tokens_field="max_completion_tokens"``); ``stopSequences`` -> ``stop``;
  ``candidateCount`` -> ``n``; ``seed``; ``presencePenalty``/``frequencyPenalty``;
  ``responseLogprobs``/``logprobs`` -> ``logprobs``/``top_logprobs``; ``responseMimeType``
  ``application/json`` -> ``response_format`` ``json_schema`` (``responseJsonSchema`` as it
  is, ``responseSchema`` as JSON Schema; named ``response``) or ``json_object`` without a
  schema; ``thinkingConfig`` -> ``reasoning_effort``: a level as it is in lower case, a
  budget 0 -> ``none``, up to 1024 -> ``low``, up to 8192 -> ``medium``, more ->
  ``high`` (-1, dynamic, and ``includeThoughts`` alone send nothing: the provider's default);
- ``stream=True`` adds ``stream_options.include_usage`` so that the last chunk counts tokens.

Lossy points (⚠): ``topK`` (no chat counterpart); ``safetySettings`` (the provider's own
moderation applies); ``includeThoughts``; ``mediaResolution``; ``labels``; a VALIDATED
mode's schema check; a declaration's ``response``/``responseJsonSchema`` and ``behavior``;
``propertyOrdering``; those of ``native_messages``.
Refused (``Untranslatable``): tools other than function declarations (``googleSearch``,
``codeExecution``, ``urlContext``... run at Google alone), ``cachedContent``,
``responseModalities`` other than text, ``speechConfig``, ``responseMimeType`` other than
text and JSON (``text/x.enum``), a schema without ``application/json``, and any field
Balancer does not know (it may change the answer; one set to null asks for nothing).
"""
from __future__ import annotations

from typing import Any, Optional

from balancer.dialects.errors import Untranslatable
from balancer.dialects.native_messages import to_messages
from balancer.text import quoted

_TOP = frozenset({"contents", "systemInstruction", "tools", "toolConfig", "generationConfig",
                  "model"})
_DROPPED_TOP = frozenset({"safetySettings", "labels"})
_CONFIG = frozenset({"temperature", "topP", "topK", "maxOutputTokens", "stopSequences",
                     "candidateCount", "seed", "presencePenalty", "frequencyPenalty",
                     "responseLogprobs", "logprobs", "responseMimeType", "responseSchema",
                     "responseJsonSchema", "thinkingConfig", "responseModalities",
                     "mediaResolution", "enableEnhancedCivicAnswers"})
_NUMBERS = (("temperature", "temperature", float), ("topP", "top_p", float),
            ("candidateCount", "n", int), ("seed", "seed", int),
            ("presencePenalty", "presence_penalty", float),
            ("frequencyPenalty", "frequency_penalty", float))
_LEVELS = {"MINIMAL": "minimal", "LOW": "low", "MEDIUM": "medium", "HIGH": "high",
           "XHIGH": "xhigh"}
#: Schema keywords of Gemini's OpenAPI subset that JSON Schema spells the same.
_SAME = frozenset({"format", "title", "description", "enum", "minItems", "maxItems",
                   "minProperties", "maxProperties", "minLength", "maxLength", "pattern",
                   "minimum", "maximum", "default", "required"})


def chat_request_from_native(body: dict, model: str, stream: bool, *,
                             max_tokens_field: str = "max_tokens",
                             signatures: bool = False) -> dict:
    """The OpenAI chat completions body for a Gemini ``generateContent`` ``body``.

    :param model: the upstream's model name (the body's ``model``).
    :param stream: ask for a stream (with ``stream_options.include_usage``).
    :param max_tokens_field: where ``maxOutputTokens`` goes (``max_tokens`` or
        ``max_completion_tokens``).
    :param signatures: carry thought signatures as ``extra_content`` (Google's OpenAI
        layer reads them; other providers ignore or refuse them).
    :raises Untranslatable: naming the first field with no faithful chat counterpart.
    :raises ValueError: for another ``max_tokens_field``.
    """
    if max_tokens_field not in ("max_tokens", "max_completion_tokens"):
        raise ValueError(f"max_tokens_field {max_tokens_field!r}")  # a caller's mistake
    if not isinstance(body, dict):
        raise Untranslatable("The request body must be a JSON object.")
    for key, value in body.items():
        if value is not None and key not in _TOP and key not in _DROPPED_TOP:
            raise Untranslatable(f"{quoted(key)} has no counterpart in OpenAI chat "
                                 "completions, so it cannot be honoured.", key)
    out: dict[str, Any] = {"model": model,
                           "messages": to_messages(body.get("systemInstruction"),
                                                   body.get("contents"), signatures=signatures)}
    tools = _tools(body.get("tools"))
    choice, tools = _tool_choice(body.get("toolConfig"), tools)
    if tools:
        out["tools"] = tools
    if choice is not None and tools:
        out["tool_choice"] = choice
    out.update(_options(body.get("generationConfig"), max_tokens_field))
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def json_schema(schema: Any, where: str) -> Any:
    """JSON Schema for a schema of Gemini's OpenAPI subset (``Schema``)."""
    if isinstance(schema, list):
        return [json_schema(s, f"{where}[{i}]") for i, s in enumerate(schema)]
    if not isinstance(schema, dict):
        raise Untranslatable(f"'{where}' must be a schema object.", where)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out["type"] = value.lower()
        elif key == "format" and value == "enum":
            continue  # Gemini's mark of a string enum; JSON Schema says it with enum alone
        elif key in _SAME:
            out[key] = value
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: json_schema(sub, f"{where}.properties.{name}")
                        for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = json_schema(value, f"{where}.{key}")
        elif key == "anyOf" and isinstance(value, list):
            out[key] = json_schema(value, f"{where}.anyOf")
        elif key == "example":
            out["examples"] = [value]
        elif key == "ref" and isinstance(value, str):
            out["$ref"] = value
        elif key == "defs" and isinstance(value, dict):
            out["$defs"] = {name: json_schema(sub, f"{where}.defs.{name}")
                            for name, sub in value.items()}
        elif key == "additionalProperties" and isinstance(value, bool):
            out[key] = value
        # propertyOrdering and nullable (below) have no JSON Schema keyword of their own
    if schema.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    return out


def _tools(tools: Any) -> list[dict]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise Untranslatable("'tools' must be an array.", "tools")
    out = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise Untranslatable(f"'{where}' must be an object.", where)
        for kind, declared in tool.items():
            if kind != "functionDeclarations":
                if declared is None:
                    continue
                raise Untranslatable(f"'{where}.{kind}': this tool runs at Google alone and has "
                                     "no OpenAI chat counterpart (function declarations do).",
                                     f"{where}.{kind}")
            if not isinstance(declared, list):
                raise Untranslatable(f"'{where}.functionDeclarations' must be an array.",
                                     f"{where}.functionDeclarations")
            for j, decl in enumerate(declared):
                out.append(_function(decl, f"{where}.functionDeclarations[{j}]"))
    return out


def _function(decl: Any, where: str) -> dict:
    name = decl.get("name") if isinstance(decl, dict) else None
    if not isinstance(name, str) or not name:
        raise Untranslatable(f"'{where}.name' must be a non-empty string.", f"{where}.name")
    function: dict[str, Any] = {"name": name}
    description = decl.get("description")
    if isinstance(description, str) and description:
        function["description"] = description
    if decl.get("parametersJsonSchema") is not None:
        schema = decl["parametersJsonSchema"]
        if not isinstance(schema, dict):
            raise Untranslatable(f"'{where}.parametersJsonSchema' must be a schema object.",
                                 f"{where}.parametersJsonSchema")
        function["parameters"] = schema
    elif decl.get("parameters") is not None:
        function["parameters"] = json_schema(decl["parameters"], f"{where}.parameters")
    else:
        function["parameters"] = {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


def _tool_choice(config: Any, tools: list[dict]) -> tuple[Any, list[dict]]:
    """(``tool_choice``, the tools it leaves) for a native ``toolConfig``."""
    if config is None:
        return None, tools
    calling = config.get("functionCallingConfig") if isinstance(config, dict) else None
    if calling is None:
        return None, tools  # retrievalConfig alone: for Google's own tools
    if not isinstance(calling, dict):
        raise Untranslatable("'toolConfig.functionCallingConfig' must be an object.",
                             "toolConfig.functionCallingConfig")
    mode = str(calling.get("mode") or "AUTO").upper()
    where = "toolConfig.functionCallingConfig"
    if mode in ("AUTO", "MODE_UNSPECIFIED"):
        return "auto", tools
    if mode == "NONE":
        return "none", tools
    if mode not in ("ANY", "VALIDATED"):
        raise Untranslatable(f"'{where}.mode' {quoted(mode)} is not one of AUTO, ANY, NONE, "
                             "VALIDATED.", f"{where}.mode")
    names = calling.get("allowedFunctionNames")
    if names:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise Untranslatable(f"'{where}.allowedFunctionNames' must be an array of names.",
                                 f"{where}.allowedFunctionNames")
        tools = [t for t in tools if t["function"]["name"] in names]
        if not tools:
            raise Untranslatable(f"'{where}.allowedFunctionNames' names no declared function.",
                                 f"{where}.allowedFunctionNames")
    if mode == "VALIDATED":
        return "auto", tools
    if len(tools) == 1 and names:
        return {"type": "function", "function": {"name": tools[0]["function"]["name"]}}, tools
    return "required", tools


def _options(config: Any, max_tokens_field: str) -> dict:
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise Untranslatable("'generationConfig' must be an object.", "generationConfig")
    for key, value in config.items():
        if value is not None and key not in _CONFIG:
            raise Untranslatable(f"{quoted('generationConfig.' + key)} has no counterpart in "
                                 "OpenAI chat completions, so it cannot be honoured.",
                                 f"generationConfig.{key}")
    out: dict[str, Any] = {}
    for src, dst, kind in _NUMBERS:
        if config.get(src) is not None:
            out[dst] = _number(config[src], src, kind)
    if config.get("maxOutputTokens") is not None:
        out[max_tokens_field] = _number(config["maxOutputTokens"], "maxOutputTokens", int)
    stops = config.get("stopSequences")
    if stops:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise Untranslatable("'generationConfig.stopSequences' must be an array of strings.",
                                 "generationConfig.stopSequences")
        out["stop"] = stops
    if config.get("responseLogprobs") is True:
        out["logprobs"] = True
        if config.get("logprobs") is not None:
            out["top_logprobs"] = _number(config["logprobs"], "logprobs", int)
    modalities = config.get("responseModalities")
    if modalities is not None and (not isinstance(modalities, list) or any(
            str(m).upper() != "TEXT" for m in modalities)):
        raise Untranslatable("'generationConfig.responseModalities': only text output has an "
                             "OpenAI chat counterpart here.", "generationConfig.responseModalities")
    fmt = _response_format(config)
    if fmt:
        out["response_format"] = fmt
    effort = _effort(config.get("thinkingConfig"))
    if effort:
        out["reasoning_effort"] = effort
    return out


def _number(value: Any, name: str, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or (kind is int and value != int(value)):
        raise Untranslatable(f"'generationConfig.{name}' must be "
                             f"{'an integer' if kind is int else 'a number'}.",
                             f"generationConfig.{name}")
    return int(value) if kind is int else value


def _response_format(config: dict) -> Optional[dict]:
    mime = config.get("responseMimeType")
    json_schema_given = config.get("responseJsonSchema")
    schema_given = config.get("responseSchema")
    where = "generationConfig.responseMimeType"
    if mime in (None, "text/plain"):
        if json_schema_given is not None or schema_given is not None:
            raise Untranslatable("A response schema needs 'generationConfig.responseMimeType' "
                                 "application/json.", where)
        return None
    if mime != "application/json":
        raise Untranslatable(f"'{where}' {quoted(mime)} has no OpenAI chat counterpart "
                             "(text/plain and application/json do).", where)
    if json_schema_given is not None:
        if not isinstance(json_schema_given, dict):
            raise Untranslatable("'generationConfig.responseJsonSchema' must be a schema "
                                 "object.", "generationConfig.responseJsonSchema")
        schema = json_schema_given
    elif schema_given is not None:
        schema = json_schema(schema_given, "generationConfig.responseSchema")
    else:
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def _effort(thinking: Any) -> Optional[str]:
    if thinking is None:
        return None
    if not isinstance(thinking, dict):
        raise Untranslatable("'generationConfig.thinkingConfig' must be an object.",
                             "generationConfig.thinkingConfig")
    level = thinking.get("thinkingLevel")
    if level is not None:
        effort = _LEVELS.get(str(level).upper())
        if effort is None:
            raise Untranslatable(f"'generationConfig.thinkingConfig.thinkingLevel' "
                                 f"{quoted(level)} is not one of {', '.join(_LEVELS)}.",
                                 "generationConfig.thinkingConfig.thinkingLevel")
        return effort
    budget = thinking.get("thinkingBudget")
    if budget is None:
        return None
    budget = _number(budget, "thinkingConfig.thinkingBudget", int)
    if budget < 0:
        return None  # dynamic: the provider's default
    if budget == 0:
        return "none"
    return "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"
