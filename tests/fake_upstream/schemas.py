"""Schemas in Gemini requests: what the API refuses in them, and minimal valid instances.

Two dialects meet here. ``parameters`` and ``responseSchema`` are Gemini's ``Schema``
message, an OpenAPI 3.0 subset parsed as protobuf JSON: any key the message lacks is an
"Unknown name" error (``additionalProperties``, ``$schema``, ``const``, ``multipleOf`` ...,
reference dialects.md 2.1). ``parametersJsonSchema`` and ``responseJsonSchema`` take JSON
Schema and are not checked key by key. ``instance`` answers both: the smallest value the
schema allows, which is what the fake puts in function-call ``args`` and JSON answers.
"""

from __future__ import annotations

import json
import math
from typing import Any, Optional

Violation = tuple[str, str]

# Fields of Gemini's Schema message (ai.google.dev/api/caching#Schema); protobuf JSON accepts
# the lowerCamelCase and the snake_case spelling of each.
_CAMEL = (
    "type format title description nullable enum maxItems minItems properties required "
    "minProperties maxProperties minLength maxLength pattern example anyOf propertyOrdering "
    "default items minimum maximum"
).split()


def snake(name: str) -> str:
    """``functionDeclarations`` -> ``function_declarations``: the other protobuf JSON spelling."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def field(obj: Any, camel: str) -> Any:
    """``obj[camel]``, or its snake_case twin (protobuf JSON accepts both); None if absent."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(camel)
    return obj.get(snake(camel)) if value is None else value


SCHEMA_FIELDS = frozenset(_CAMEL) | frozenset(snake(name) for name in _CAMEL)
TYPES = frozenset(
    {"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
)
_TYPE_MESSAGE = "type.googleapis.com/google.ai.generativelanguage.v1beta.Type"
_SCHEMA_MESSAGE = "type.googleapis.com/google.ai.generativelanguage.v1beta.Schema"


def unknown(name: str, where: str) -> Violation:
    """The protobuf JSON error for a key the message at ``where`` does not have."""
    text = (
        f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field."
    )
    return where, text


def invalid(where: str, kind: str, value: Any) -> Violation:
    """The protobuf JSON error for a value that is not a ``kind`` (a type or enum name)."""
    shown = json.dumps(value, separators=(",", ":"))
    return where, f"Invalid JSON payload received. Invalid value at '{where}' ({kind}), {shown}"


def _strings(value: Any, where: str) -> list[Violation]:
    if not isinstance(value, list):
        return [invalid(where, "TYPE_STRING", value)]
    return [
        invalid(f"{where}[{i}]", "TYPE_STRING", item)
        for i, item in enumerate(value)
        if not isinstance(item, str)
    ]


def check(schema: Any, where: str) -> list[Violation]:
    """Every protobuf-JSON parse error in an OpenAPI-subset ``schema`` found at ``where``.

    ``where`` is the proto path of the schema (``tools[0].function_declarations[1].parameters``);
    nested paths follow Google's spelling: ``properties[<i>].value`` (the i-th entry of the
    map), ``items``, ``any_of[<i>]``. Each violation is ``(field, description)``.
    """
    if not isinstance(schema, dict):
        return [invalid(where, _SCHEMA_MESSAGE, schema)]
    found: list[Violation] = []
    for name, value in schema.items():
        if name not in SCHEMA_FIELDS:
            found.append(unknown(name, where))
        elif name == "type":
            if not isinstance(value, str) or value.upper() not in TYPES:
                found.append(invalid(f"{where}.type", _TYPE_MESSAGE, value))
        elif name in ("enum", "required", "propertyOrdering", "property_ordering"):
            found += _strings(value, f"{where}.{snake(name)}")
        elif name == "properties":
            if not isinstance(value, dict):
                found.append(invalid(f"{where}.properties", _SCHEMA_MESSAGE, value))
                continue
            for index, sub in enumerate(value.values()):
                found += check(sub, f"{where}.properties[{index}].value")
        elif name == "items":
            found += check(value, f"{where}.items")
        elif name in ("anyOf", "any_of"):
            subs = value if isinstance(value, list) else [value]
            for index, sub in enumerate(subs):
                found += check(sub, f"{where}.any_of[{index}]")
    return found


# -- minimal instances ------------------------------------------------------------------

_MAX_DEPTH = 12


def _type_of(schema: dict[str, Any]) -> Optional[str]:
    kind = schema.get("type")
    if isinstance(kind, list):  # JSON Schema: ["string", "null"] -> the first real type
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    if isinstance(kind, str):
        return kind.lower()
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return None


def _count(value: Any) -> int:
    """An int64 field: protobuf JSON writes them as numbers or as decimal strings."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(0, value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def _number(schema: dict[str, Any], integer: bool) -> Any:
    low, high = field(schema, "minimum"), field(schema, "maximum")
    exclusive = schema.get("exclusiveMinimum")
    if isinstance(exclusive, (int, float)) and not isinstance(exclusive, bool):
        low = exclusive + 1  # JSON Schema 2020-12: the bound itself is excluded
    value: Any = 0
    if isinstance(low, (int, float)) and not isinstance(low, bool):
        value = low
    elif isinstance(high, (int, float)) and not isinstance(high, bool) and high < 0:
        value = high
    return math.ceil(value) if integer else value


def _string(schema: dict[str, Any]) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return "1970-01-01T00:00:00Z"
    if fmt == "date":
        return "1970-01-01"
    return "x" * _count(field(schema, "minLength"))


class _Instances:
    """Builds instances of one root schema, resolving its ``$ref``s into ``$defs``."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.defs = root.get("$defs") or root.get("definitions") or {}

    def build(self, schema: Any, depth: int = 0) -> Any:
        if not isinstance(schema, dict) or depth > _MAX_DEPTH:
            return None
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self.build(self.defs.get(ref.rsplit("/", 1)[-1]), depth + 1)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[0]
        for name in ("anyOf", "any_of", "oneOf", "allOf"):
            options = schema.get(name)
            if isinstance(options, list) and options:
                real = [o for o in options if not (isinstance(o, dict) and _type_of(o) == "null")]
                return self.build((real or options)[0], depth + 1)
        kind = _type_of(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind in ("integer", "number"):
            return _number(schema, kind == "integer")
        if kind == "string":
            return _string(schema)
        if kind == "boolean":
            return False
        return None

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        names = [n for n in required if n in properties] if isinstance(required, list) else []
        least = _count(field(schema, "minProperties"))
        for name in properties:
            if len(names) < least and name not in names:
                names.append(name)
        return {name: self.build(properties[name], depth + 1) for name in names}

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            return [self.build(item, depth + 1) for item in prefix]
        count = _count(field(schema, "minItems"))
        return [self.build(schema.get("items"), depth + 1) for _ in range(count)]


def instance(schema: Any) -> Any:
    """The smallest value ``schema`` allows (OpenAPI subset or JSON Schema).

    Objects get their ``required`` properties only (plus more to reach ``minProperties``),
    arrays ``minItems`` elements, strings ``""`` (``minLength`` x's; a fixed date for
    ``date``/``date-time``), numbers ``0`` or their minimum, booleans ``false``; ``const``,
    then the first ``enum`` value, then the first non-null ``anyOf``/``oneOf`` branch win.
    """
    if not isinstance(schema, dict):
        return None
    return _Instances(schema).build(schema)
