"""Client JSON Schemas cleaned into the two schema dialects Gemini accepts.

- ``to_parameters``: the OpenAPI 3.0 subset of Gemini's ``Schema`` that
  ``functionDeclarations[].parameters`` takes (reference ``dialects.md`` 2.1). Gemini
  refuses the whole request for one keyword it does not know, so everything off its
  list goes: ``$schema``, ``additionalProperties``, ``propertyNames``, ``multipleOf``,
  ``uniqueItems``, ``not``, ``patternProperties``, ``if``/``then``/``else``... ``$ref``
  is inlined from ``$defs``/``definitions``; ``allOf`` is merged; ``oneOf`` becomes
  ``anyOf``; a ``null`` member of a type array or of ``anyOf`` becomes ``nullable``.
- ``to_response_schema``: the JSON Schema subset ``responseJsonSchema`` takes (the
  keyword list google-genai documents for it: ``$id $defs $ref $anchor type format
  title description enum items prefixItems minItems maxItems minimum maximum anyOf
  oneOf properties additionalProperties required propertyOrdering``).

Lossy points (⚠), all loosening what the model is told, never what it may send:
- dropped validation keywords (above; ``pattern``, ``minLength``... also go from a
  response schema, which does not take them);
- ``exclusiveMinimum``/``exclusiveMaximum`` become inclusive ``minimum``/``maximum``;
- non-string ``enum``/``const`` in ``parameters`` (Gemini takes string enums only):
  dropped, the allowed values said in ``description`` instead;
- string ``format`` other than ``enum``/``date-time`` in ``parameters`` dropped;
- a recursive ``$ref`` in ``parameters`` is cut after one expansion into a plain
  object; ``allOf`` members merge shallowly (first one wins on a conflict);
- an ``array`` without ``items`` in ``parameters`` gets string items (Gemini requires
  ``items``); ``required`` names that are not declared properties are dropped.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from balancer.dialects.errors import Untranslatable

#: Plain values ``Schema`` takes as they are.
_PARAM_SCALARS = frozenset({"title", "description", "minItems", "maxItems", "minProperties",
                            "maxProperties", "minLength", "maxLength", "pattern", "minimum",
                            "maximum", "default", "example", "propertyOrdering"})
_STRING_FORMATS = frozenset({"enum", "date-time"})
_NUMBER_FORMATS = frozenset({"float", "double", "int32", "int64"})
#: Keywords ``responseJsonSchema`` documents; the others are stripped.
_JSON_KEYS = frozenset({"$id", "$defs", "$ref", "$anchor", "type", "format", "title",
                        "description", "enum", "items", "prefixItems", "minItems", "maxItems",
                        "minimum", "maximum", "anyOf", "oneOf", "properties",
                        "additionalProperties", "required", "propertyOrdering"})
#: How many ``$ref`` expansions may nest before a recursive type is cut.
_MAX_REF_DEPTH = 16


# --- functionDeclarations[].parameters: the OpenAPI subset ------------------------------


def to_parameters(schema: Any, where: str) -> Optional[dict]:
    """Gemini ``parameters`` for a function's JSON Schema; None when it declares none.

    :param where: the client field holding the schema, for error messages.
    :raises Untranslatable: for a schema that is not an object or a ``$ref`` that points
        nowhere.
    """
    if schema is None:
        return None
    if not isinstance(schema, dict):
        raise Untranslatable(f"'{where}' must be a JSON Schema object.", where)
    out = _param_node(schema, _definitions(schema), where, ())
    # A function without parameters: Gemini refuses an OBJECT with empty properties.
    if not out.get("properties") and out.get("type", "OBJECT") == "OBJECT" \
            and "anyOf" not in out:
        return None
    return out


def _param_node(node: Any, defs: dict, where: str, refs: tuple[str, ...]) -> dict:
    if node is True:
        return {}
    if not isinstance(node, dict):
        raise Untranslatable(f"'{where}' must be a JSON Schema object.", where)
    if "$ref" in node or "allOf" in node:
        node, refs = _expand(node, defs, where, refs)
    out: dict[str, Any] = {}
    rest = False
    # One pass copies what Gemini takes as it is; most nodes hold nothing else.
    for key, value in node.items():
        if key in _PARAM_SCALARS:
            out[key] = value
        elif key == "type" and isinstance(value, str) and value != "null":
            out["type"] = value.upper()
        else:
            rest = True
    if rest:
        _param_rest(node, out, defs, where, refs)
    elif out.get("type") == "ARRAY":
        out["items"] = {"type": "STRING"}  # Gemini requires items
    return out


def _param_rest(node: dict, out: dict, defs: dict, where: str, refs: tuple[str, ...]) -> None:
    """The keywords of a node that need more than a copy (each step only when present)."""
    nullable = node.get("nullable") is True
    types: list[str] = []
    kind = node.get("type")
    if isinstance(kind, list):
        types = [t for t in kind if isinstance(t, str)]
        if "null" in types:
            nullable = True
            types = [t for t in types if t != "null"]
        if len(types) == 1:
            out["type"] = types[0].upper()
        elif types:
            out["anyOf"] = [{"type": t.upper()} for t in types]
    elif kind == "null":
        nullable = True
    if "anyOf" in node or "oneOf" in node:
        nullable = _param_branches(node, out, bool(types), defs, where, refs) or nullable
    if "exclusiveMinimum" in node or "exclusiveMaximum" in node:
        for exclusive, inclusive in (("exclusiveMinimum", "minimum"),
                                     ("exclusiveMaximum", "maximum")):
            if _is_number(node.get(exclusive)) and inclusive not in node:
                out[inclusive] = node[exclusive]
    examples = node.get("examples")
    if isinstance(examples, list) and examples and "example" not in node:
        out["example"] = examples[0]
    if "enum" in node or "const" in node:
        _param_enum(node, out)
        nullable = nullable or None in (node.get("enum") or ())
    if out.pop("nullable", False) or nullable:
        out["nullable"] = True
    fmt = node.get("format")
    if isinstance(fmt, str):
        kind = out.get("type")
        if (kind == "STRING" and fmt in _STRING_FORMATS) \
                or (kind in ("NUMBER", "INTEGER") and fmt in _NUMBER_FORMATS):
            out["format"] = fmt
        else:
            out.pop("format", None)
    props = node.get("properties")
    if isinstance(props, dict) and props:
        out["properties"] = {name: _param_node(sub, defs, f"{where}.properties.{name}", refs)
                             for name, sub in props.items()}
        required = node.get("required")
        if isinstance(required, list):
            kept_names = [name for name in required if name in props]
            if kept_names:
                out["required"] = kept_names
    elif out.get("properties") == {}:
        del out["properties"]
    if "items" in node or "prefixItems" in node:
        items = node.get("items")
        if isinstance(items, list):  # draft-4 tuple form
            items = {"anyOf": items} if items else None
        if items is None and isinstance(node.get("prefixItems"), list) and node["prefixItems"]:
            items = {"anyOf": node["prefixItems"]}
        if isinstance(items, dict) or items is True:
            out["items"] = _param_node(items, defs, f"{where}.items", refs)
    if out.get("type") == "ARRAY" and "items" not in out:
        out["items"] = {"type": "STRING"}


def _param_branches(node: dict, out: dict, typed: bool, defs: dict, where: str,
                    refs: tuple[str, ...]) -> bool:
    """``anyOf``/``oneOf`` into ``out``; True when a ``null`` branch made it nullable."""
    branches = node.get("anyOf", node.get("oneOf"))
    if not isinstance(branches, list):
        return False
    nullable = False
    kept = []
    for i, branch in enumerate(branches):
        if isinstance(branch, dict) and branch.get("type") == "null":
            nullable = True
            continue
        kept.append(_param_node(branch, defs, f"{where}.anyOf[{i}]", refs))
    if len(kept) == 1 and not typed:
        for key, value in kept[0].items():
            out.setdefault(key, value)  # the node's own keys (description...) win
    elif kept:
        out["anyOf"] = kept
    return nullable


def _param_enum(node: dict, out: dict) -> None:
    """``enum``/``const`` as Gemini takes them: strings under a STRING type, else a hint."""
    values = node.get("enum")
    if "const" in node and not isinstance(values, list):
        values = [node["const"]]
    if not isinstance(values, list):
        return
    values = [v for v in values if v is not None]
    if values and all(isinstance(v, str) for v in values):
        out["enum"] = values
        out.setdefault("type", "STRING")
        return
    out.pop("enum", None)
    if values:
        said = ", ".join(json.dumps(v, ensure_ascii=False) for v in values)
        hint = f"Must be {said}." if len(values) == 1 else f"One of: {said}."
        text = out.get("description")
        out["description"] = f"{text} {hint}" if isinstance(text, str) and text else hint


def _expand(node: dict, defs: dict, where: str,
            refs: tuple[str, ...]) -> tuple[dict, tuple[str, ...]]:
    """The node with its ``$ref`` inlined and its ``allOf`` merged into it."""
    ref = node.get("$ref")
    if isinstance(ref, str):
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        if ref in refs or len(refs) >= _MAX_REF_DEPTH:
            # A recursive type: Gemini's Schema has no references, so it stops here.
            cut = {"type": "object"}
            if isinstance(siblings.get("description"), str):
                cut["description"] = siblings["description"]
            return cut, refs
        target = _lookup(ref, defs, where)
        return _expand({**target, **siblings}, defs, where, refs + (ref,))
    members = node.get("allOf")
    if isinstance(members, list):
        merged = {k: v for k, v in node.items() if k != "allOf"}
        for i, member in enumerate(members):
            if not isinstance(member, dict):
                continue
            member, _ = _expand(member, defs, f"{where}.allOf[{i}]", refs)
            merged = _merge(merged, member)
        return merged, refs
    return node, refs


def _merge(into: dict, member: dict) -> dict:
    """Shallow ``allOf`` merge: properties and required are joined, else the first wins."""
    out = dict(into)
    for key, value in member.items():
        if key == "properties" and isinstance(value, dict):
            out["properties"] = {**value, **(out.get("properties") or {})}
        elif key == "required" and isinstance(value, list):
            have = list(out.get("required") or [])
            out["required"] = have + [name for name in value if name not in have]
        else:
            out.setdefault(key, value)
    return out


def _definitions(root: dict) -> dict:
    defs: dict[str, Any] = {"#": root}
    for key in ("$defs", "definitions"):
        table = root.get(key)
        if isinstance(table, dict):
            for name, sub in table.items():
                defs[f"#/{key}/{name}"] = sub
    return defs


def _lookup(ref: str, defs: dict, where: str) -> dict:
    found = defs.get(ref.replace("~1", "/").replace("~0", "~"))
    if not isinstance(found, dict):
        raise Untranslatable(f"'{where}' refers to '{ref}', which the schema does not define "
                             "under $defs or definitions.", where)
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- generationConfig.responseJsonSchema: the JSON Schema subset ------------------------


def to_response_schema(schema: Any, where: str) -> dict:
    """A JSON Schema cut down to the keywords ``responseJsonSchema`` documents.

    :raises Untranslatable: for a schema that is not an object.
    """
    if not isinstance(schema, dict):
        raise Untranslatable(f"'{where}' must be a JSON Schema object.", where)
    out = _json_node(schema, where)
    assert isinstance(out, dict)
    return out


def _json_node(node: Any, where: str) -> Any:
    if isinstance(node, bool):
        return node
    if not isinstance(node, dict):
        raise Untranslatable(f"'{where}' must be a JSON Schema object.", where)
    if isinstance(node.get("$ref"), str):
        # Gemini: beside $ref, only keywords starting with "$" may be set.
        out = {"$ref": _json_ref(node["$ref"])}
        for key in ("$id", "$anchor"):
            if key in node:
                out[key] = node[key]
        defs = _json_defs(node, where)
        if defs:
            out["$defs"] = defs
        return out
    members = node.get("allOf")
    if isinstance(members, list):
        merged = {k: v for k, v in node.items() if k != "allOf"}
        for member in members:
            if isinstance(member, dict):
                merged = _merge(merged, member)
        node = merged
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _json_node(sub, f"{where}.properties.{name}")
                        for name, sub in value.items()}
        elif key in ("$defs", "definitions"):
            continue  # below, under one name
        elif key in ("items", "additionalProperties") and isinstance(value, (dict, bool)):
            out[key] = _json_node(value, f"{where}.{key}")
        elif key == "items" and isinstance(value, list):
            out["prefixItems"] = [_json_node(s, f"{where}.items[{i}]")
                                  for i, s in enumerate(value)]
        elif key in ("anyOf", "oneOf", "prefixItems") and isinstance(value, list):
            out[key] = [_json_node(s, f"{where}.{key}[{i}]") for i, s in enumerate(value)]
        elif key in _JSON_KEYS:
            out[key] = value
    if "const" in node and "enum" not in node:
        out["enum"] = [node["const"]]
    for exclusive, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if _is_number(node.get(exclusive)) and inclusive not in node:
            out[inclusive] = node[exclusive]
    if node.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    defs = _json_defs(node, where)
    if defs:
        out["$defs"] = defs
    return out


def _json_defs(node: dict, where: str) -> dict:
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        table = node.get(key)
        if isinstance(table, dict):
            for name, sub in table.items():
                defs[name] = _json_node(sub, f"{where}.{key}.{name}")
    return defs


def _json_ref(ref: str) -> str:
    # "definitions" is merged into "$defs" (the one name Gemini documents).
    return "#/$defs/" + ref[len("#/definitions/"):] if ref.startswith("#/definitions/") else ref
