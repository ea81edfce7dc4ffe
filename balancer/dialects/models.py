"""Gemini's native model list and model as OpenAI's ``/v1/models`` shapes.

``{"models": [{"name": "models/gemini-2.5-flash", ...}]}`` ->
``{"object": "list", "data": [{"id": "gemini-2.5-flash", "object": "model", "created": 0,
"owned_by": "google"}]}``. The native list is paged (``nextPageToken``); OpenAI's is not,
so the caller gathers the pages and passes their models together.

Lossy points (⚠): Gemini gives no creation time (``created`` is the caller's value, 0 by
default); display names, token limits and methods have no OpenAI field.
"""
from __future__ import annotations

from typing import Any, Iterable

OWNER = "google"


def to_openai_model(native: Any, *, created: int = 0) -> dict:
    """One OpenAI model object for one native model."""
    name = native.get("name") if isinstance(native, dict) else None
    model_id = name.removeprefix("models/") if isinstance(name, str) else ""
    return {"id": model_id, "object": "model", "created": created, "owned_by": OWNER}


def to_openai_list(native: Any, *, created: int = 0) -> dict:
    """OpenAI's model list for a native list (one page, or ``{"models": [all pages']]}``)."""
    models: Iterable[Any] = native.get("models") or () if isinstance(native, dict) else ()
    data = [to_openai_model(model, created=created) for model in models
            if isinstance(model, dict) and isinstance(model.get("name"), str)]
    return {"object": "list", "data": data}
