"""The shape of a client's body, checked before anything reads it deeply.

Both ways a body can take, translated for Gemini's own API or sent on as it is,
rely on these checks: a translator or a file lookup that meets a number where it
expects an object must never fail with a traceback, and a body sent on as it is
must not cost an upstream call (and a key's quota) to be told it is malformed.
Only the structure is checked here (objects, arrays, strings where the APIs
require them); what the values mean is the translators' and the upstream's
business. Pure: no Flask, no I/O.
"""
from __future__ import annotations

from typing import Any

from balancer.proxy.validate import BadRequest


def _where(*path: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _object(value: Any, *path: Any) -> dict:
    if not isinstance(value, dict):
        raise BadRequest(f"'{_where(*path)}' must be an object.", _where(*path))
    return value


def _objects(value: Any, *path: Any) -> list:
    """An array of objects, or None (as an empty one)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"'{_where(*path)}' must be an array of objects.", _where(*path))
    for i, item in enumerate(value):
        _object(item, *path, i)
    return value


def _strings(value: Any, *path: Any) -> None:
    """None, a string, or a list of strings."""
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"'{_where(*path)}' must be a string or an array of strings.",
                         _where(*path))


def _optional(body: dict, name: str, kinds: tuple, what: str) -> None:
    value = body.get(name)
    if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)
                              and bool not in kinds):
        raise BadRequest(f"'{name}' must be {what}.", name)


# --- OpenAI ---------------------------------------------------------------------------


def openai_chat(body: dict) -> None:
    """The structure of a chat completion request."""
    for i, message in enumerate(_objects(body.get("messages"), "messages")):
        if not isinstance(message.get("role"), str):
            raise BadRequest(f"'messages[{i}].role' must be a string.", f"messages[{i}].role")
        content = message.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                _content_part(part, "messages", i, "content", j)
        elif content is not None and not isinstance(content, str):
            raise BadRequest(f"'messages[{i}].content' must be a string or an array of "
                             "content parts.", f"messages[{i}].content")
        for j, call in enumerate(_objects(message.get("tool_calls"), "messages", i,
                                          "tool_calls")):
            if call.get("function") is not None:
                _object(call["function"], "messages", i, "tool_calls", j, "function")
    for i, tool in enumerate(_objects(body.get("tools"), "tools")):
        if "function" in tool or tool.get("type") == "function":
            _object(tool.get("function"), "tools", i, "function")
    modalities = body.get("modalities")
    if modalities is not None and (not isinstance(modalities, list)
                                   or not all(isinstance(m, str) for m in modalities)):
        raise BadRequest("'modalities' must be an array of strings.", "modalities")
    _strings(body.get("stop"), "stop")
    choice = body.get("tool_choice")
    if choice is not None and not isinstance(choice, (str, dict)):
        raise BadRequest("'tool_choice' must be a string or an object.", "tool_choice")
    for name in ("response_format", "stream_options", "audio", "prediction",
                 "web_search_options", "logit_bias", "metadata", "extra_body"):
        if body.get(name) is not None:
            _object(body[name], name)
    for name in ("n", "max_tokens", "max_completion_tokens", "seed", "top_logprobs",
                 "temperature", "top_p", "presence_penalty", "frequency_penalty"):
        _optional(body, name, (int, float), "a number")


def _content_part(part: Any, *path: Any) -> None:
    part = _object(part, *path)
    kind = part.get("type")
    if kind is not None and not isinstance(kind, str):
        raise BadRequest(f"'{_where(*path, 'type')}' must be a string.", _where(*path, "type"))
    image = part.get("image_url")
    if image is not None and not isinstance(image, (str, dict)):  # a bare URL is common too
        raise BadRequest(f"'{_where(*path, 'image_url')}' must be an object or a URL.",
                         _where(*path, "image_url"))
    for name in ("input_audio", "file"):
        if part.get(name) is not None:
            _object(part[name], *path, name)


def openai_embeddings(body: dict) -> None:
    """``input``: a string, an array of strings, of token ids, or of token-id arrays."""
    value = body.get("input")
    if isinstance(value, str):
        return
    ok = isinstance(value, list) and (
        all(isinstance(v, str) for v in value)
        or all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or all(isinstance(v, list) and all(isinstance(t, int) and not isinstance(t, bool)
                                           for t in v) for v in value))
    if not ok:
        raise BadRequest("'input' must be a string, an array of strings or an array of "
                         "token ids.", "input")


def openai_images(body: dict) -> None:
    """The structure of an image generation request."""
    _optional(body, "n", (int, float), "a number")
    for name in ("size", "quality", "style", "response_format", "background",
                 "output_format", "moderation", "user"):
        _optional(body, name, (str,), "a string")


# --- Gemini ---------------------------------------------------------------------------


def _repeated(value: Any, *path: Any) -> list:
    """A repeated field: Google's JSON takes one object in place of an array of them
    (its own examples send ``"parts": {"text": ...}``)."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise BadRequest(f"'{_where(*path)}' must be an object or an array of objects.",
                         _where(*path))
    return value


def _gemini_content(value: Any, *path: Any) -> None:
    content = _object(value, *path)
    if content.get("role") is not None and not isinstance(content["role"], str):
        raise BadRequest(f"'{_where(*path, 'role')}' must be a string.", _where(*path, "role"))
    _repeated(content.get("parts"), *path, "parts")


def gemini_generate(body: dict) -> None:
    """The structure of a generateContent (or stream, or countTokens) request."""
    for i, content in enumerate(_repeated(body.get("contents"), "contents")):
        _gemini_content(content, "contents", i)
    for name in ("systemInstruction", "system_instruction"):
        if body.get(name) is not None:
            _gemini_content(body[name], name)
    for name in ("tools", "safetySettings", "safety_settings"):
        _repeated(body.get(name), name)
    for name in ("generationConfig", "generation_config", "toolConfig", "tool_config",
                 "generateContentRequest"):
        if body.get(name) is not None:
            _object(body[name], name)
    _optional(body, "cachedContent", (str,), "a string")
    _optional(body, "cached_content", (str,), "a string")


def gemini_embed(body: dict) -> None:
    """The structure of an embedContent request."""
    if body.get("content") is not None:
        _gemini_content(body["content"], "content")


def gemini_batch_embed(body: dict) -> None:
    """The structure of a batchEmbedContents request."""
    for request in _repeated(body.get("requests"), "requests"):
        gemini_embed(request)


GEMINI_ACTIONS = {"generateContent": gemini_generate, "streamGenerateContent": gemini_generate,
                  "countTokens": gemini_generate, "embedContent": gemini_embed,
                  "batchEmbedContents": gemini_batch_embed}


def gemini_action(action: str, body: dict) -> None:
    """The structure of a ``models/{model}:{action}`` request body."""
    check = GEMINI_ACTIONS.get(action)
    if check is not None:
        check(body)
