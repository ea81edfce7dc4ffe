"""Model-name suffixes: ``-search``, ``-image``, ``-non-thinking``.

A client that cannot set Gemini's options names a model with a suffix
instead; Balancer strips it, routes the base model and adds the option to the
request. Each suffix can be switched off in the settings.
"""
from __future__ import annotations

from typing import Optional

from balancer.proxy.validate import BadRequest
from balancer.settings import Settings

#: suffix -> the setting that switches it on.
SUFFIXES = {"-search": "suffix_search", "-image": "suffix_image",
            "-non-thinking": "suffix_non_thinking"}


def active(settings: Settings) -> list[str]:
    """The suffixes switched on."""
    return [suffix for suffix, name in SUFFIXES.items() if getattr(settings, name)]


def split(model: str, settings: Settings) -> tuple[str, Optional[str]]:
    """(base model, suffix) when the name ends in a suffix that is on, else (model, None)."""
    for suffix in active(settings):
        if model.endswith(suffix) and len(model) > len(suffix):
            return model[: -len(suffix)], suffix
    return model, None


def apply_native(body: dict, suffix: Optional[str]) -> dict:
    """Add the suffix's option to a Gemini ``generateContent`` request body."""
    if suffix is None:
        return body
    config = body.setdefault("generationConfig", {})
    if not isinstance(config, dict):
        raise BadRequest("'generationConfig' must be an object.", "generationConfig")
    if suffix == "-search":
        tools = body.setdefault("tools", [])
        if not isinstance(tools, list):
            raise BadRequest("'tools' must be an array.", "tools")
        if not any(isinstance(t, dict) and ("googleSearch" in t or "google_search" in t) for t in tools):
            tools.append({"googleSearch": {}})
    elif suffix == "-image":
        config.setdefault("responseModalities", ["TEXT", "IMAGE"])
    else:
        thinking = config.setdefault("thinkingConfig", {})
        if not isinstance(thinking, dict):
            raise BadRequest("'thinkingConfig' must be an object.", "generationConfig")
        thinking["thinkingBudget"] = 0
    return body


def apply_openai(body: dict, suffix: Optional[str]) -> dict:
    """Add the suffix's option to an OpenAI-format request for a Gemini pool.

    Gemini's OpenAI layer turns thinking off with ``reasoning_effort: "none"``;
    search and image output are only exposed by the Gemini API itself.
    """
    if suffix is None:
        return body
    if suffix != "-non-thinking":
        raise BadRequest(f"The {suffix} suffix works with the Gemini API "
                         "(models/...:generateContent), not with chat completions.", "model")
    body["reasoning_effort"] = "none"
    return body
