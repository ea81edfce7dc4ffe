"""An Anthropic Messages request's ``system`` and ``messages`` as Gemini Contents.

The rules are listed in ``anthropic_request``'s docstring (blocks, tool calls and results,
thinking signatures); this module applies them, one block at a time.
"""
from __future__ import annotations

from typing import Any, Optional

from balancer.dialects.errors import Untranslatable
from balancer.dialects.tools import remember
from balancer.text import quoted

#: Tool ids Balancer (or Anthropic) made: never sent to Gemini as a call id.
TOOL_ID_PREFIX = "toolu_"

_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def _append(contents: list[dict], role: str, parts: list[dict]) -> None:
    if not parts:
        return  # an empty turn says nothing, and Gemini refuses a Content without parts
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def system_parts(system: Any) -> list[dict]:
    if system is None:
        return []
    if isinstance(system, str):
        return [{"text": system}] if system else []
    if not isinstance(system, list):
        raise Untranslatable("'system' must be a string or an array of text blocks.", "system")
    parts = []
    for i, block in enumerate(system):
        text = block.get("text") if isinstance(block, dict) and block.get("type") == "text" \
            else None
        if not isinstance(text, str):
            raise Untranslatable(f"'system[{i}]' must be a text block.", f"system[{i}]")
        if text:
            parts.append({"text": text})
    return parts


def contents(messages: Any, names: dict[str, str]) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise Untranslatable("'messages' must be a non-empty array.", "messages")
    contents: list[dict] = []
    calls: dict[str, tuple[str, Optional[str], int]] = {}  # tool id -> (name, Gemini id, order)
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise Untranslatable(f"'{where}.role' {quoted(role)} is not one of user, assistant.",
                                 f"{where}.role")
        blocks = message.get("content")
        if isinstance(blocks, str):
            blocks = [{"type": "text", "text": blocks}]
        if not isinstance(blocks, list):
            raise Untranslatable(f"'{where}.content' must be a string or an array of blocks.",
                                 f"{where}.content")
        if role == "user":
            _append(contents, "user", _user_parts(blocks, where, calls))
        else:
            _append(contents, "model", _assistant_parts(blocks, where, names, calls))
    if not contents:
        raise Untranslatable("'messages' needs at least one message with content.", "messages")
    return contents


def _block_type(block: Any, param: str) -> str:
    kind = block.get("type") if isinstance(block, dict) else None
    if not isinstance(kind, str):
        raise Untranslatable(f"'{param}' must be a content block with a type.", param)
    return kind


def _text(block: dict, param: str) -> list[dict]:
    text = block.get("text")
    if not isinstance(text, str):
        raise Untranslatable(f"'{param}.text' must be a string.", f"{param}.text")
    return [{"text": text}] if text else []


def _user_parts(blocks: list, where: str,
                calls: dict[str, tuple[str, Optional[str], int]]) -> list[dict]:
    results: list[tuple[int, dict]] = []
    parts: list[dict] = []
    for j, block in enumerate(blocks):
        param = f"{where}.content[{j}]"
        kind = _block_type(block, param)
        if kind == "tool_result":
            order, response, media = _tool_result(block, param, calls)
            results.append((order, response))
            parts.extend(media)
        else:
            parts.extend(_media_or_text(block, kind, param))
    # Gemini wants one response per call, in the calls' order, ahead of anything else.
    return [response for _, response in sorted(results, key=lambda pair: pair[0])] + parts


def _media_or_text(block: dict, kind: str, param: str) -> list[dict]:
    if kind == "text":
        return _text(block, param)
    if kind == "image":
        return [_inline(block.get("source"), f"{param}.source", _IMAGE_TYPES, "images")]
    if kind == "document":
        return _document(block.get("source"), f"{param}.source")
    raise Untranslatable(f"'{param}' of type {quoted(kind)} cannot be translated to the Gemini "
                         "API (text, image, document, tool_use, tool_result and thinking can).",
                         param)


def _inline(source: Any, param: str, types: tuple[str, ...], what: str) -> dict:
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "url":
        # Gemini does not fetch URLs for inline parts, and a gateway that fetched them
        # would be an open web client: the client sends the bytes itself.
        raise Untranslatable(f"'{param}': {what} must be sent as base64 sources; URLs are not "
                             "fetched.", param)
    if kind != "base64":
        raise Untranslatable(f"'{param}.type' {quoted(kind)} cannot be translated (base64 can).",
                             f"{param}.type")
    mime, data = source.get("media_type"), source.get("data")
    if mime not in types:
        raise Untranslatable(f"'{param}.media_type' {quoted(mime)} is not one of "
                             f"{', '.join(types)}.", f"{param}.media_type")
    if not isinstance(data, str) or not data:
        raise Untranslatable(f"'{param}.data' must be base64 data.", f"{param}.data")
    return {"inlineData": {"mimeType": mime, "data": data}}


def _document(source: Any, param: str) -> list[dict]:
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "text":
        data = source.get("data")
        if not isinstance(data, str):
            raise Untranslatable(f"'{param}.data' must be a string.", f"{param}.data")
        return [{"text": data}] if data else []
    if kind == "content":
        inner = source.get("content")
        if isinstance(inner, str):
            return [{"text": inner}] if inner else []
        if not isinstance(inner, list):
            raise Untranslatable(f"'{param}.content' must be a string or an array of blocks.",
                                 f"{param}.content")
        parts: list[dict] = []
        for k, block in enumerate(inner):
            where = f"{param}.content[{k}]"
            kind = _block_type(block, where)
            if kind not in ("text", "image"):
                raise Untranslatable(f"'{where}' must be a text or image block.", where)
            parts.extend(_media_or_text(block, kind, where))
        return parts
    return [_inline(source, param, ("application/pdf",), "documents")]


def _tool_result(block: dict, param: str, calls: dict[str, tuple[str, Optional[str], int]]
                 ) -> tuple[int, dict, list[dict]]:
    tool_id = block.get("tool_use_id")
    if not isinstance(tool_id, str) or tool_id not in calls:
        raise Untranslatable(f"'{param}.tool_use_id' {quoted(tool_id)} matches no tool_use "
                             "block of an earlier assistant message.", f"{param}.tool_use_id")
    name, gemini_id, order = calls[tool_id]
    content = block.get("content")
    texts: list[str] = []
    media: list[dict] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, inner in enumerate(content):
            where = f"{param}.content[{k}]"
            kind = _block_type(inner, where)
            for part in _media_or_text(inner, kind, where):
                if "text" in part:
                    texts.append(part["text"])
                else:
                    media.append(part)
    elif content is not None:
        raise Untranslatable(f"'{param}.content' must be a string or an array of blocks.",
                             f"{param}.content")
    key = "error" if block.get("is_error") is True else "output"
    response: dict[str, Any] = {"id": gemini_id} if gemini_id else {}
    response["name"] = name
    response["response"] = {key: "\n".join(texts)}
    return order, {"functionResponse": response}, media


def _assistant_parts(blocks: list, where: str, names: dict[str, str],
                     calls: dict[str, tuple[str, Optional[str], int]]) -> list[dict]:
    parts: list[dict] = []
    signature: Optional[str] = None
    for j, block in enumerate(blocks):
        param = f"{where}.content[{j}]"
        kind = _block_type(block, param)
        if kind == "text":
            parts.extend(_text(block, param))
        elif kind == "thinking":
            given = block.get("signature")
            signature = given if isinstance(given, str) and given else signature
        elif kind == "redacted_thinking":
            continue
        elif kind == "tool_use":
            part = _tool_use(block, param, names, calls)
            if signature:
                part["thoughtSignature"] = signature
                signature = None
            parts.append(part)
        else:
            raise Untranslatable(f"'{param}' of type {quoted(kind)} cannot be translated to the "
                                 "Gemini API (text, thinking and tool_use can).", param)
    return parts


def _tool_use(block: dict, param: str, names: dict[str, str],
              calls: dict[str, tuple[str, Optional[str], int]]) -> dict:
    name, tool_id, args = block.get("name"), block.get("id"), block.get("input")
    if not isinstance(name, str) or not name:
        raise Untranslatable(f"'{param}.name' must be a non-empty string.", f"{param}.name")
    if not isinstance(tool_id, str) or not tool_id:
        raise Untranslatable(f"'{param}.id' must be a non-empty string.", f"{param}.id")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise Untranslatable(f"'{param}.input' must be an object.", f"{param}.input")
    native = remember(name, names)
    gemini_id = None if tool_id.startswith(TOOL_ID_PREFIX) else tool_id
    call: dict[str, Any] = {"id": gemini_id} if gemini_id else {}
    call["name"] = native
    call["args"] = args
    calls[tool_id] = (native, gemini_id, len(calls))
    return {"functionCall": call}
