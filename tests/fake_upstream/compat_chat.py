"""Chat completions on Gemini's OpenAI layer: the request as a native one, the answer back.

Google's layer runs the same model as the native API, so the fake turns a chat request into
a native ``generateContent`` body, lets ``answers.respond`` check and answer it, and renders
the answer in OpenAI's shape (reference dialects.md 3 and 7.1):

- ``system``/``developer`` -> ``systemInstruction``; ``assistant`` -> a ``model`` Content
  (``tool_calls`` -> ``functionCall`` parts with ``extra_content.google.thought_signature``
  as their ``thoughtSignature``); consecutive ``tool`` messages -> one ``user`` Content of
  ``functionResponse`` parts ``{"output": <content>}`` named after the call they answer;
- ``tools`` -> ``parametersJsonSchema`` declarations; ``tool_choice`` none/auto/required/a
  function/``allowed_tools`` -> NONE/AUTO/ANY/ANY + name/VALIDATED or ANY + names;
- ``response_format`` json_object/json_schema -> ``responseMimeType``/``responseJsonSchema``;
- ``reasoning_effort`` (none, low, medium, high; anything else is refused, ``minimal``
  included) -> ``thinkingLevel`` on Gemini 3 (none: the lowest level) or a budget on the
  others (0/1024/8192/24576); ``extra_body.google.thinking_config`` -> ``thinkingConfig``;
- thought summaries (``include_thoughts``) come first in ``content`` inside
  ``<thought>...</thought>`` (the tag is ``thought_tag_marker`` when given).
"""

from __future__ import annotations

import json
from typing import Any, Optional

from . import answers, catalogue, content
from . import google_errors as gerr
from .google_errors import Envelope

EFFORTS = ("none", "low", "medium", "high")
_BUDGETS = {"none": 0, "low": 1024, "medium": 8192, "high": 24576}


def _refusal(message: str) -> tuple[dict[str, Any], Envelope]:
    return {}, gerr.invalid_argument(message)


def _text(value: Any) -> str:
    return content.text_of_parts(value) if value is not None else ""


def _tool_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    calls = message.get("tool_calls")
    return [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []


def _model_parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    text = _text(message.get("content"))
    if text:
        parts.append({"text": text})
    for tool_call in _tool_calls(message):
        function = tool_call.get("function") or {}
        try:
            args = json.loads(function.get("arguments") or "{}")
        except (TypeError, ValueError):
            args = None
        call = {"name": function.get("name", ""), "args": args if isinstance(args, dict) else {}}
        if tool_call.get("id"):
            call["id"] = tool_call["id"]
        part: dict[str, Any] = {"functionCall": call}
        extra = tool_call.get("extra_content")
        signature = ((extra or {}).get("google") or {}).get("thought_signature")
        if signature is not None:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _contents(messages: list[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Native ``contents`` and the system texts of a chat ``messages`` list."""
    contents: list[dict[str, Any]] = []
    system: list[str] = []
    names: dict[str, str] = {}  # tool call id -> function name
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text(message.get("content")))
        elif role == "assistant":
            for tool_call in _tool_calls(message):
                if tool_call.get("id"):
                    names[tool_call["id"]] = (tool_call.get("function") or {}).get("name", "")
            contents.append({"role": "model", "parts": _model_parts(message)})
        elif role == "tool":
            call_id = message.get("tool_call_id")
            result = {
                "id": call_id,
                "name": names.get(call_id, message.get("name", "")),
                "response": {"output": _text(message.get("content"))},
            }
            last = contents[-1] if contents else None
            if last is not None and last["role"] == "user" and last.get("_tools"):
                last["parts"].append({"functionResponse": result})
            else:
                contents.append(
                    {"role": "user", "parts": [{"functionResponse": result}], "_tools": 1}
                )
        else:
            # user, and roles Gemini has no place for (refused downstream as Gemini does)
            native_role = "user" if role == "user" else str(role)
            contents.append(
                {"role": native_role, "parts": [{"text": _text(message.get("content"))}]}
            )
    for entry in contents:
        entry.pop("_tools", None)
    return contents, system


def _tool_config(choice: Any) -> Optional[dict[str, Any]]:
    """``tool_choice`` as ``functionCallingConfig``; None when it is not a valid choice."""
    if choice in (None, "auto"):
        return {"mode": "AUTO"}
    if choice in ("none", "required"):
        return {"mode": "NONE" if choice == "none" else "ANY"}
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        return {"mode": "ANY", "allowedFunctionNames": [name]} if name else None
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = [(t.get("function") or {}).get("name") for t in allowed.get("tools") or []]
        mode = {"auto": "VALIDATED", "required": "ANY"}.get(allowed.get("mode"))
        return {"mode": mode, "allowedFunctionNames": names} if mode and all(names) else None
    return None


def _thinking(model: dict[str, Any], body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``thinkingConfig`` from ``reasoning_effort`` and ``extra_body.google``, and the tag."""
    config: dict[str, Any] = {}
    effort = body.get("reasoning_effort")
    levels = catalogue.thinking_levels(model)
    if effort is not None:
        if levels:
            config["thinkingLevel"] = levels[0] if effort == "none" else effort
        else:
            config["thinkingBudget"] = _BUDGETS[effort]
    google = (body.get("extra_body") or {}).get("google") or {}
    extra = google.get("thinking_config") or {}
    for theirs, ours in (
        ("thinking_budget", "thinkingBudget"),
        ("thinking_level", "thinkingLevel"),
        ("include_thoughts", "includeThoughts"),
    ):
        if theirs in extra:
            config[ours] = extra[theirs]
    return config, google.get("thought_tag_marker") or "thought"


def to_native(
    model: dict[str, Any], body: dict[str, Any]
) -> tuple[dict[str, Any], Optional[Envelope]]:
    """The native request a chat request stands for, or the 400 the layer gives for it."""
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in EFFORTS:
        return _refusal(
            f"Invalid reasoning_effort: {effort}. Valid values are: high, low, medium, none"
        )
    messages = body.get("messages")
    contents, system = _contents(messages if isinstance(messages, list) else [])
    native: dict[str, Any] = {"contents": contents}
    if system:
        native["systemInstruction"] = {"parts": [{"text": "\n".join(system)}]}
    declarations = [
        {"name": t["function"].get("name"), "parametersJsonSchema": t["function"].get("parameters")}
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    if declarations:
        native["tools"] = [{"functionDeclarations": declarations}]
        calling = _tool_config(body.get("tool_choice"))
        if calling is None:
            return _refusal("Request contains an invalid argument.")
        native["toolConfig"] = {"functionCallingConfig": calling}
    config: dict[str, Any] = {}
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema is None:
            return _refusal("Request contains an invalid argument.")
        config["responseJsonSchema"] = schema
    thinking, _ = _thinking(model, body)
    if thinking:
        config["thinkingConfig"] = thinking
    if config:
        native["generationConfig"] = config
    return native, None


def tool_calls(answer: answers.Answer) -> list[dict[str, Any]]:
    """The answer's function calls as OpenAI ``tool_calls``; the signature rides on the first."""
    found = []
    for index, call in enumerate(answer.calls):
        tool_call: dict[str, Any] = {
            "id": call.get("id") or f"call_{content.serial():08d}",
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call["args"])},
        }
        if index == 0 and answer.signature:
            tool_call["extra_content"] = {"google": {"thought_signature": answer.signature}}
        found.append(tool_call)
    return found


def message_text(answer: answers.Answer, body: dict[str, Any], model: dict[str, Any]) -> str:
    """The ``content`` of a text answer: tagged thought summaries, then the text."""
    _, tag = _thinking(model, body)
    thoughts = "".join(f"<{tag}>{text}</{tag}>" for text in answer.thoughts)
    return thoughts + answer.text
