"""Function calling on the native API: declarations, ``toolConfig``, history rules, the call rule.

What Gemini checks (reference dialects.md 2.1-2.4) and the fake's deterministic stand-in for
the model's choice:

- ``tools[].functionDeclarations``: unknown keys there or in ``parameters``/``response``
  (the OpenAPI subset) are protobuf "Unknown name" errors; ``parametersJsonSchema`` is not
  checked key by key; names must match ``^[A-Za-z_][A-Za-z0-9_.-]{0,63}$``.
- ``toolConfig.functionCallingConfig``: ``mode`` AUTO (default), ANY, NONE or VALIDATED;
  ``allowedFunctionNames`` only with ANY/VALIDATED and only declared names.
- History: roles are ``user`` or ``model``; after a model Content with N ``functionCall``
  parts comes one Content with N ``functionResponse`` parts, whose ids match the calls' ids
  when the calls had ids.
- The call rule (``choose``): with declarations and a mode other than NONE, when the last
  Content is the user's ordinary text, the model calls every callable function whose name
  the text mentions as a word (declaration order; several = parallel calls), else the first
  callable one. After function responses it answers text (AUTO, VALIDATED) or calls again
  by the same rule on the last ordinary user text (ANY).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from . import google_errors as gerr
from . import schemas
from .content import text_of_parts
from .google_errors import Envelope

MODES = ("AUTO", "ANY", "NONE", "VALIDATED")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_NAME_RULE = (
    "Invalid function name. Must start with a letter or an underscore. Must be alphameric "
    "(a-z, A-Z, 0-9), underscores (_), dots (.) or dashes (-), with a maximum length of 64."
)
_DECLARATION_FIELDS = frozenset(
    {
        "name",
        "description",
        "parameters",
        "parametersJsonSchema",
        "parameters_json_schema",
        "response",
        "responseJsonSchema",
        "response_json_schema",
        "behavior",
    }
)
_MODE_MESSAGE = "type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode"


@dataclass(frozen=True)
class Declaration:
    """One declared function: its name and its parameter schema (None: no parameters)."""

    name: str
    schema: Any = None


@dataclass(frozen=True)
class Tools:
    """The request's functions and how the model may use them."""

    declarations: tuple[Declaration, ...] = ()
    mode: str = "AUTO"
    allowed: tuple[str, ...] = ()  # empty: every declared function

    def callable(self) -> list[Declaration]:
        """The functions a call may name."""
        if self.mode == "NONE":
            return []
        if not self.allowed:
            return list(self.declarations)
        return [d for d in self.declarations if d.name in self.allowed]


def _declarations(tools: Any) -> tuple[list[tuple[str, dict]], list[schemas.Violation]]:
    """Every declaration with its proto path, and the parse errors found on the way."""
    found: list[tuple[str, dict]] = []
    errors: list[schemas.Violation] = []
    for t, tool in enumerate(tools if isinstance(tools, list) else []):
        declared = schemas.field(tool, "functionDeclarations")
        for i, declaration in enumerate(declared if isinstance(declared, list) else []):
            where = f"tools[{t}].function_declarations[{i}]"
            if not isinstance(declaration, dict):
                errors.append((where, f"Invalid JSON payload received. Invalid value at '{where}'"))
                continue
            for name in declaration:
                if name not in _DECLARATION_FIELDS:
                    errors.append(schemas.unknown(name, where))
            for name in ("parameters", "response"):
                if declaration.get(name) is not None:
                    errors += schemas.check(declaration[name], f"{where}.{name}")
            found.append((where, declaration))
    return found, errors


def _config(body: dict[str, Any]) -> tuple[str, tuple[str, ...], list[schemas.Violation]]:
    """``(mode, allowed names, parse errors)`` from ``toolConfig.functionCallingConfig``."""
    config = schemas.field(schemas.field(body, "toolConfig"), "functionCallingConfig") or {}
    mode = schemas.field(config, "mode") or "AUTO"
    if not isinstance(mode, str) or mode.upper() not in MODES + ("MODE_UNSPECIFIED",):
        where = "tool_config.function_calling_config.mode"
        return "AUTO", (), [schemas.invalid(where, _MODE_MESSAGE, mode)]
    mode = "AUTO" if mode.upper() == "MODE_UNSPECIFIED" else mode.upper()
    allowed = schemas.field(config, "allowedFunctionNames") or []
    allowed = tuple(a for a in allowed if isinstance(a, str)) if isinstance(allowed, list) else ()
    return mode, allowed, []


def _allowed_problems(mode: str, allowed: tuple[str, ...], names: list[str]) -> list:
    where = "tool_config.function_calling_config.allowed_function_names"
    problems = []
    if allowed and mode not in ("ANY", "VALIDATED"):
        problems.append(
            (where, "allowed_function_names may be set only when mode is ANY or VALIDATED.")
        )
    for index, name in enumerate(allowed):
        if names and name not in names:
            problems.append((f"{where}[{index}]", f"Function `{name}` is not declared."))
    return problems


def read_tools(body: dict[str, Any]) -> tuple[Tools, Optional[Envelope]]:
    """The request's functions and calling config, or the 400 Gemini gives for them."""
    found, errors = _declarations(body.get("tools"))
    mode, allowed, config_errors = _config(body)
    if errors or config_errors:
        return Tools(), gerr.payload_errors(errors + config_errors)
    declarations, invalid = [], []
    for where, declaration in found:
        name = declaration.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            invalid.append((f"{where}.name", _NAME_RULE))
        params = declaration.get("parameters")
        json_params = schemas.field(declaration, "parametersJsonSchema")
        if params is not None and json_params is not None:
            invalid.append(
                (f"{where}.parameters", "parameters and parameters_json_schema cannot both be set.")
            )
        declarations.append(Declaration(str(name), params if params is not None else json_params))
    invalid += _allowed_problems(mode, allowed, [d.name for d in declarations])
    if invalid:
        return Tools(), gerr.request_invalid(invalid)
    if (allowed or mode in ("ANY", "VALIDATED")) and not declarations:
        message = "Function calling config is set without function_declarations."
        return Tools(), gerr.invalid_argument(message)
    return Tools(tuple(declarations), mode, allowed), None


# -- history --------------------------------------------------------------------------------


def _parts(content: Any) -> list[dict[str, Any]]:
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _role(content: Any) -> Any:
    return content.get("role", "user") if isinstance(content, dict) else "user"


def calls_of(content: Any) -> list[dict[str, Any]]:
    """The ``functionCall`` objects of a Content, in order."""
    calls = (schemas.field(p, "functionCall") for p in _parts(content))
    return [c for c in calls if isinstance(c, dict)]


def responses_of(content: Any) -> list[dict[str, Any]]:
    """The ``functionResponse`` objects of a Content, in order."""
    responses = (schemas.field(p, "functionResponse") for p in _parts(content))
    return [r for r in responses if isinstance(r, dict)]


def is_ordinary(content: Any) -> bool:
    """A user Content with something besides function responses (a new user turn)."""
    parts = _parts(content)
    return _role(content) == "user" and any(
        schemas.field(p, "functionResponse") is None for p in parts
    )


_COUNTS = (
    "Please ensure that the number of function response parts is equal to the number of "
    "function call parts of the function call turn."
)


def check_history(contents: list[Any]) -> Optional[Envelope]:
    """Roles, and one matching response per call of the previous model turn."""
    for content in contents:
        if _role(content) not in ("user", "model"):
            return gerr.invalid_argument("Please use a valid role: user, model.")
    for index, content in enumerate(contents):
        previous = contents[index - 1] if index else None
        calls = calls_of(previous) if _role(previous) == "model" and index else []
        if _role(content) == "model":
            if calls:  # a model turn whose calls got no responses
                return gerr.invalid_argument(_COUNTS)
            continue
        responses = responses_of(content)
        if len(responses) != len(calls):
            return gerr.invalid_argument(_COUNTS)
        call_ids = sorted(str(c["id"]) for c in calls if c.get("id"))
        if call_ids and call_ids != sorted(str(r.get("id")) for r in responses):
            return gerr.invalid_argument("functionResponse.id does not match functionCall.id")
    return None


def current_steps(contents: list[Any]) -> list[tuple[int, dict[str, Any]]]:
    """Model Contents after the last ordinary user Content, with their indexes."""
    start = 0
    for index, content in enumerate(contents):
        if is_ordinary(content):
            start = index + 1
    return [(i, c) for i, c in enumerate(contents) if i >= start and _role(c) == "model"]


def first_call_part(content: Any) -> Optional[dict[str, Any]]:
    """The first part of a Content that holds a ``functionCall``."""
    return next((p for p in _parts(content) if schemas.field(p, "functionCall")), None)


# -- the model's choice -------------------------------------------------------------------


def _mentioned(name: str, text: str) -> bool:
    return re.search(rf"(?<![\w.:-]){re.escape(name)}(?![\w.:-])", text) is not None


def last_user_text(contents: list[Any]) -> str:
    """The text of the last ordinary user Content."""
    for content in reversed(contents):
        if is_ordinary(content):
            return text_of_parts(content.get("parts"))
    return ""


def choose(tools: Tools, contents: list[Any]) -> list[Declaration]:
    """The functions the model calls now (empty: it answers text); see the module docstring."""
    callable_ = tools.callable()
    if not callable_ or not contents:
        return []
    last = contents[-1]
    if not is_ordinary(last) and not (responses_of(last) and tools.mode == "ANY"):
        return []
    text = last_user_text(contents)
    return [d for d in callable_ if _mentioned(d.name, text)] or callable_[:1]
