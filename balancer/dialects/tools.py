"""OpenAI chat ``tools``/``tool_choice`` as Gemini ``functionDeclarations``/``toolConfig``.

Function names: Gemini takes ``^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`` (the narrower of the
rules Google has published, reference 2.1). Another name is renamed reversibly with
``native_name`` (deterministic, so a renamed tool and the calls to it in the history
agree), and the answer translators map it back with the context's ``names``.

``tool_choice``: ``auto`` -> AUTO, ``none`` -> NONE, ``required`` -> ANY, a named
function -> ANY + ``allowedFunctionNames``, ``allowed_tools`` -> VALIDATED (mode
``auto``) or ANY (mode ``required``) + ``allowedFunctionNames``.

Lossy points (⚠): ``strict`` is not enforced (Gemini has no strict mode for calls);
schemas lose what ``schema.to_parameters`` drops. Refused: ``custom`` tools and any
tool type but ``function``.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any, Optional

from balancer.dialects.errors import Untranslatable
from balancer.dialects.schema import to_parameters
from balancer.text import quoted

_VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def native_name(name: str) -> str:
    """The name Gemini gets for a client function name (itself when Gemini takes it).

    A renamed name ends in ``_`` + 8 hex digits of a hash of the original, so two
    client names never meet in one Gemini name.
    """
    if _VALID_NAME.fullmatch(name):
        return name
    base = _INVALID_CHARS.sub("_", name)
    if not base or not (base[0].isalpha() or base[0] == "_"):
        base = "_" + base
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{base[:54]}_{digest}"


def declarations(tools: Any, names: dict[str, str]) -> list[dict]:
    """``functionDeclarations`` for the client's ``tools``; renamed names go into ``names``
    (Gemini name -> client name).

    :raises Untranslatable: for a tool that is not a function, or a malformed one.
    """
    if not isinstance(tools, list):
        raise Untranslatable("'tools' must be an array of function tools.", "tools")
    out = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise Untranslatable(f"'{where}.type' is {quoted(kind)}: only function tools can be "
                                 "translated to the Gemini API.", f"{where}.type")
        function = tool.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise Untranslatable(f"'{where}.function.name' must be a non-empty string.",
                                 f"{where}.function.name")
        out.append(declaration(name, function.get("description"), function.get("parameters"),
                               f"{where}.function.parameters", names))
    return out


def declaration(name: str, description: Any, schema: Any, where: str,
                names: dict[str, str]) -> dict:
    """A ``functionDeclaration``: the name made one Gemini takes (``remember``), the
    description if there is one, the JSON schema as ``parameters`` (``where`` names it in
    errors)."""
    declared: dict[str, Any] = {"name": remember(name, names)}
    if isinstance(description, str) and description:
        declared["description"] = description
    parameters = to_parameters(schema, where)
    if parameters is not None:
        declared["parameters"] = parameters
    return declared


def remember(name: str, names: dict[str, str]) -> str:
    """``native_name(name)``, noting the pair in ``names`` when it differs."""
    native = native_name(name)
    if native != name:
        names[native] = name
    return native


def tool_config(choice: Any) -> Optional[dict]:
    """Gemini ``toolConfig`` for an OpenAI ``tool_choice`` (None when it is absent).

    :raises Untranslatable: for a choice Gemini has no mode for (a custom tool).
    """
    if choice is None:
        return None
    modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
    if isinstance(choice, str):
        if choice not in modes:
            raise Untranslatable(f"'tool_choice' {quoted(choice)} is not one of none, auto, "
                                 "required.", "tool_choice")
        return {"functionCallingConfig": {"mode": modes[choice]}}
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "function":
        name = _function_name(choice, "tool_choice")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    if kind == "allowed_tools":
        allowed = choice.get("allowed_tools")
        mode = allowed.get("mode") if isinstance(allowed, dict) else None
        listed = allowed.get("tools") if isinstance(allowed, dict) else None
        if mode not in ("auto", "required") or not isinstance(listed, list) or not listed:
            raise Untranslatable("'tool_choice.allowed_tools' needs a mode (auto or required) "
                                 "and a non-empty tools array.", "tool_choice.allowed_tools")
        allowed_names = [_function_name(t, f"tool_choice.allowed_tools.tools[{i}]")
                         for i, t in enumerate(listed)]
        # VALIDATED: text or calls, calls limited to the names; ANY: calls only.
        return {"functionCallingConfig": {"mode": "VALIDATED" if mode == "auto" else "ANY",
                                          "allowedFunctionNames": allowed_names}}
    raise Untranslatable(f"'tool_choice' of type {quoted(kind)} cannot be translated to the Gemini "
                         "API (function and allowed_tools can).", "tool_choice")


def _function_name(choice: Any, where: str) -> str:
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if isinstance(choice, dict) and choice.get("type") != "function" or not isinstance(name, str):
        raise Untranslatable(f"'{where}' must name a function: "
                             '{"type": "function", "function": {"name": ...}}.', where)
    return native_name(name)
