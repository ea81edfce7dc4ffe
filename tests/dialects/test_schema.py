"""Client JSON Schemas -> what Gemini's parameters and responseJsonSchema accept (golden)."""
from __future__ import annotations

import pytest

from balancer.dialects import Untranslatable
from balancer.dialects.schema import to_parameters, to_response_schema


def obj(**properties):
    return {"type": "object", "properties": properties}


# (name, JSON Schema, Gemini parameters)
PARAMETERS = [
    ("keywords Gemini refuses are dropped",
     {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
      "additionalProperties": False, "propertyNames": {"pattern": "^a"},
      "properties": {"n": {"type": "number", "multipleOf": 2, "exclusiveMinimum": 0,
                           "exclusiveMaximum": 10, "uniqueItems": True, "not": {}}}},
     {"type": "OBJECT", "properties": {"n": {"type": "NUMBER", "minimum": 0, "maximum": 10}}}),
    ("a type array with null is nullable",
     obj(a={"type": ["string", "null"], "description": "A"}),
     {"type": "OBJECT", "properties": {"a": {"type": "STRING", "description": "A",
                                             "nullable": True}}}),
    ("anyOf with null is nullable, one branch folds in",
     obj(a={"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "A"}),
     {"type": "OBJECT", "properties": {"a": {"type": "INTEGER", "description": "A",
                                             "nullable": True}}}),
    ("oneOf becomes anyOf; several types too",
     obj(a={"oneOf": [{"type": "string"}, {"type": "integer"}]}, b={"type": ["string", "number"]}),
     {"type": "OBJECT", "properties": {
         "a": {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]},
         "b": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]}}}),
    ("const is a one-value enum; a string enum gets its STRING type",
     obj(a={"const": "x"}, b={"enum": ["p", "q"]}),
     {"type": "OBJECT", "properties": {"a": {"enum": ["x"], "type": "STRING"},
                                       "b": {"enum": ["p", "q"], "type": "STRING"}}}),
    ("a numeric enum is said in the description (Gemini takes string enums only)",
     obj(a={"type": "integer", "enum": [1, 2, 3], "description": "Level."},
         b={"type": "integer", "const": 5}),
     {"type": "OBJECT", "properties": {
         "a": {"type": "INTEGER", "description": "Level. One of: 1, 2, 3."},
         "b": {"type": "INTEGER", "description": "Must be 5."}}}),
    ("an enum with null is nullable",
     obj(a={"type": ["string", "null"], "enum": ["x", None]}),
     {"type": "OBJECT", "properties": {"a": {"type": "STRING", "enum": ["x"], "nullable": True}}}),
    ("string formats other than enum and date-time go; number formats stay",
     obj(u={"type": "string", "format": "uri"}, d={"type": "string", "format": "date-time"},
         i={"type": "integer", "format": "int64"}),
     {"type": "OBJECT", "properties": {"u": {"type": "STRING"},
                                       "d": {"type": "STRING", "format": "date-time"},
                                       "i": {"type": "INTEGER", "format": "int64"}}}),
    ("$ref is inlined from $defs and definitions, siblings win",
     {"type": "object", "$defs": {"City": {"type": "string", "description": "a city"}},
      "definitions": {"Day": {"type": "string", "format": "date-time"}},
      "properties": {"from": {"$ref": "#/$defs/City", "description": "departure"},
                     "when": {"$ref": "#/definitions/Day"}}},
     {"type": "OBJECT", "properties": {
         "from": {"type": "STRING", "description": "departure"},
         "when": {"type": "STRING", "format": "date-time"}}}),
    ("a recursive $ref stops at a plain object",
     {"type": "object", "$defs": {"Node": {"type": "object", "properties": {
         "name": {"type": "string"}, "child": {"$ref": "#/$defs/Node"}}}},
      "properties": {"root": {"$ref": "#/$defs/Node"}}},
     {"type": "OBJECT", "properties": {"root": {"type": "OBJECT", "properties": {
         "name": {"type": "STRING"}, "child": {"type": "OBJECT"}}}}}),
    ("allOf merges properties and required",
     {"allOf": [obj(a={"type": "string"}), {"properties": {"b": {"type": "boolean"}},
                                           "required": ["b"]}], "required": ["a"]},
     {"type": "OBJECT", "properties": {"a": {"type": "STRING"}, "b": {"type": "BOOLEAN"}},
      "required": ["a", "b"]}),
    ("arrays: items cleaned, missing items are strings, tuples are anyOf",
     obj(tags={"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
         any={"type": "array"}, pair={"type": "array", "prefixItems": [{"type": "string"},
                                                                          {"type": "integer"}]}),
     {"type": "OBJECT", "properties": {
         "tags": {"type": "ARRAY", "items": {"type": "STRING", "minLength": 1}, "minItems": 1},
         "any": {"type": "ARRAY", "items": {"type": "STRING"}},
         "pair": {"type": "ARRAY", "items": {"anyOf": [{"type": "STRING"},
                                                       {"type": "INTEGER"}]}}}}),
    ("required names that are not properties go; nested refused keywords too",
     {"type": "object", "required": ["a", "ghost"], "properties": {"a": {
         "type": "object", "additionalProperties": {"type": "string"},
         "properties": {"b": {"anyOf": [{"type": "array", "items": {
             "type": "string", "$schema": "x", "additionalProperties": False}}]}}}}},
     {"type": "OBJECT", "required": ["a"], "properties": {"a": {"type": "OBJECT", "properties": {
         "b": {"type": "ARRAY", "items": {"type": "STRING"}}}}}}),
    ("examples become an example; title, default and pattern stay",
     obj(a={"type": "string", "examples": ["x1", "x2"], "title": "A", "default": "x",
            "pattern": "^x"}),
     {"type": "OBJECT", "properties": {"a": {"type": "STRING", "example": "x1", "title": "A",
                                             "default": "x", "pattern": "^x"}}}),
]


@pytest.mark.parametrize("schema,expected", [c[1:] for c in PARAMETERS],
                         ids=[c[0] for c in PARAMETERS])
def test_parameters_golden(schema, expected):
    assert to_parameters(schema, "tools[0].function.parameters") == expected


@pytest.mark.parametrize("schema", [None, {"type": "object"}, {"type": "object", "properties": {}},
                                    {"type": "object", "additionalProperties": True}])
def test_a_function_without_properties_declares_no_parameters(schema):
    assert to_parameters(schema, "p") is None


def test_a_schema_that_is_not_an_object_is_refused():
    with pytest.raises(Untranslatable) as caught:
        to_parameters("string", "tools[0].function.parameters")
    assert caught.value.param == "tools[0].function.parameters"


# (name, JSON Schema, responseJsonSchema)
RESPONSE = [
    ("off-list keywords stripped, listed ones kept",
     {"$schema": "x", "type": "object", "title": "T", "additionalProperties": False,
      "propertyOrdering": ["a"], "properties": {"a": {"type": "string", "minLength": 2,
                                                      "pattern": "x", "format": "email"}},
      "required": ["a"]},
     {"type": "object", "title": "T", "additionalProperties": False, "propertyOrdering": ["a"],
      "properties": {"a": {"type": "string", "format": "email"}}, "required": ["a"]}),
    ("definitions join $defs; a $ref node keeps only $ keywords",
     {"type": "object", "definitions": {"A": {"type": "integer", "multipleOf": 3}},
      "properties": {"a": {"$ref": "#/definitions/A", "description": "dropped"}}},
     {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}},
      "$defs": {"A": {"type": "integer"}}}),
    ("const, exclusive bounds, nullable, allOf, tuple items",
     {"allOf": [{"type": "object", "properties": {"k": {"const": 1}}},
                {"properties": {"n": {"type": "number", "exclusiveMaximum": 5, "nullable": True},
                                "t": {"type": "array", "items": [{"type": "string"}]}}}]},
     {"type": "object", "properties": {
         "k": {"enum": [1]}, "n": {"type": ["number", "null"], "maximum": 5},
         "t": {"type": "array", "prefixItems": [{"type": "string"}]}}}),
    ("anyOf and oneOf kept (Gemini reads oneOf as anyOf)",
     {"anyOf": [{"type": "string"}, {"type": "null"}],
      "oneOf": [{"type": "string", "uniqueItems": True}]},
     {"anyOf": [{"type": "string"}, {"type": "null"}], "oneOf": [{"type": "string"}]}),
]


@pytest.mark.parametrize("schema,expected", [c[1:] for c in RESPONSE], ids=[c[0] for c in RESPONSE])
def test_response_schema_golden(schema, expected):
    assert to_response_schema(schema, "response_format.json_schema.schema") == expected
