"""Structured output: ``responseMimeType`` with ``responseSchema`` or ``responseJsonSchema``.

Gemini accepts the MIME types below; ``responseSchema`` is the OpenAPI subset (checked key by
key like function ``parameters``), ``responseJsonSchema`` JSON Schema; the two exclude each
other and need a JSON or enum MIME type. The fake's answers: ``application/json`` without a
schema is ``{"echo": <last user text>}``; with a schema, the schema's minimal instance
(``schemas.instance``) as compact JSON; ``text/x.enum`` is the schema's first ``enum`` value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

from . import google_errors as gerr
from . import schemas
from .google_errors import Envelope
from .thinking import generation_config

MIME_TYPES = (
    "text/plain",
    "application/json",
    "application/xml",
    "application/yaml",
    "text/x.enum",
)
_SCHEMA_MIME_TYPES = ("application/json", "text/x.enum")


@dataclass(frozen=True)
class Output:
    """What shape the answer text takes."""

    mime: str = "text/plain"
    schema: Any = None

    def render(self, said: str, plain: str) -> str:
        """The answer text: ``plain`` as plain text, ``{"echo": said}`` or the schema's instance
        as JSON, the first enum value as an enum."""
        if self.mime == "application/json":
            value = {"echo": said} if self.schema is None else schemas.instance(self.schema)
            return json.dumps(value, separators=(",", ":"))
        if self.mime == "text/x.enum":
            enum = schemas.field(self.schema, "enum")
            if isinstance(enum, list) and enum:
                return str(enum[0])
        return plain


def read_output(body: dict[str, Any]) -> tuple[Output, Optional[Envelope]]:
    """The requested output shape, or the 400 Gemini gives for it."""
    config = generation_config(body)
    mime = schemas.field(config, "responseMimeType") or "text/plain"
    schema = schemas.field(config, "responseSchema")
    json_schema = schemas.field(config, "responseJsonSchema")
    if schema is not None:
        errors = schemas.check(schema, "generation_config.response_schema")
        if errors:
            return Output(), gerr.payload_errors(errors)
    problems = []
    if mime not in MIME_TYPES:
        allowed = ", ".join(f"`{m}`" for m in MIME_TYPES[:-1]) + f" and `{MIME_TYPES[-1]}`"
        problems.append(
            ("generation_config.response_mime_type", f"allowed mimetypes are {allowed}.")
        )
    if schema is not None and json_schema is not None:
        text = "response_schema and response_json_schema cannot both be set."
        problems.append(("generation_config.response_schema", text))
    elif (schema is not None or json_schema is not None) and mime not in _SCHEMA_MIME_TYPES:
        text = (
            "response_mime_type must be application/json or text/x.enum when a response schema "
            "is set."
        )
        problems.append(("generation_config.response_mime_type", text))
    if problems:
        return Output(), gerr.request_invalid(problems)
    return Output(mime, schema if schema is not None else json_schema), None
