"""Model-name suffixes: ``-search``, ``-image``, ``-non-thinking``.

A client that cannot set Gemini's options names a model with a suffix
instead; Balancer strips it, routes the base model and adds the option to the
request. Each suffix can be switched off in the settings.
"""
from __future__ import annotations

from typing import Optional

from balancer.proxy.validate import BadRequest, health_model
from balancer.runtime import Catalog
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


def split_unlisted(model: str, settings: Settings, catalog: Catalog) -> tuple[str, Optional[str]]:
    """Like ``split``, but a name some enabled pool lists is that model, whatever its end:
    ``gemini-2.5-flash-image`` is a model, not ``gemini-2.5-flash`` + ``-image``."""
    base, suffix = split(model, settings)
    if suffix is not None and any(health_model(model) in pool.models
                                  for pool in catalog.pools.values() if pool.enabled):
        return model, None
    return base, suffix


#: Name parts of Gemini models that do not answer with text (speech, live audio).
_NOT_TEXT = ("-tts", "-live", "live-", "native-audio")


def variants(model: str, active: list[str]) -> list[str]:
    """The ``active`` suffixes worth listing after ``model`` in a model list.

    Only Gemini models that write text take suffixes (not embeddings, Imagen, Veo,
    speech); ``-image`` only for the models that draw (their names say ``image``),
    ``-search`` for the others.
    """
    if not model.startswith("gemini-") or "embedding" in model \
            or any(part in model for part in _NOT_TEXT):
        return []
    draws = "image" in model
    return [s for s in active
            if (s != "-image" or draws) and (s != "-search" or not draws)]


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
    """Add the suffix's option to a chat request for Gemini's OpenAI-compatible layer.

    Only ``-non-thinking`` goes this way (as ``reasoning_effort: "none"``). That
    layer exposes neither Google Search nor image output, so chat requests with
    ``-search`` or ``-image`` are translated to the Gemini API instead
    (``openai_native.py``) and never reach this function.
    """
    if suffix is None:
        return body
    if suffix != "-non-thinking":
        raise BadRequest(f"The {suffix} suffix cannot go through Gemini's OpenAI-compatible "
                         "layer.", "model")
    body["reasoning_effort"] = "none"
    return body
