"""OpenAI chat ``messages`` as Gemini ``systemInstruction`` parts and ``contents``.

- ``system``/``developer`` -> ``systemInstruction`` (all of them, in order); ``user`` and
  ``tool`` -> ``user`` Contents, ``assistant`` -> ``model``; consecutive Contents of one
  role are merged; empty text parts and empty turns are dropped (Gemini refuses both).
- user parts: ``text``; ``image_url`` with a ``data:`` URL -> ``inlineData`` (its
  ``detail`` low/high -> the part's ``mediaResolution`` on Gemini 3 and later);
  ``input_audio`` -> ``inlineData`` ``audio/<format>``; ``file`` with ``file_data`` (a
  ``data:`` URL, or bare base64 whose type the ``filename`` tells) -> ``inlineData``.
  Refused with the part named: remote URLs (Balancer fetches nothing), ``file_id``.
- assistant ``tool_calls`` -> ``functionCall`` parts (``args`` = the parsed
  ``arguments``); Gemini's own call id goes back as ``functionCall.id``, a Balancer-made
  one (``CALL_ID_PREFIX``) never does; ``extra_content.google.thought_signature`` -> the
  part's ``thoughtSignature``, where it came from.
- ``tool`` messages -> ``functionResponse`` parts, name and id from the call their
  ``tool_call_id`` names, ``response: {"output": <content parsed as JSON, else the
  string>}``; the results of one step go into one user Content in the order of the calls.
- Gemini 3 and later validate thought signatures in the current turn (reference 2.4):
  there, the first call of each model step that has no signature gets the documented
  dummy ``skip_thought_signature_validator``.

Lossy points (⚠): system messages move to the top; ``name`` on messages is dropped;
assistant ``reasoning_content`` is dropped (Gemini takes no thought text back); image
``detail`` is dropped before Gemini 3; a file's ``filename`` is not sent.
"""
from __future__ import annotations

import json
import mimetypes
import re
from typing import Any, Optional

from balancer.dialects.errors import Untranslatable
from balancer.dialects.tools import remember
from balancer.text import quoted

#: Ids Balancer makes for calls Gemini gave no id start so; they never go upstream.
CALL_ID_PREFIX = "call_bal_"
#: The signature Gemini documents for calls it did not make (reference 2.4).
DUMMY_SIGNATURE = "skip_thought_signature_validator"

_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)(?:;[^,;]*)*;base64,(.*)", re.S)
_AUDIO_FORMATS = {"wav": "audio/wav", "mp3": "audio/mp3", "aiff": "audio/aiff",
                  "aac": "audio/aac", "ogg": "audio/ogg", "flac": "audio/flac"}
_RESOLUTION = {"low": "MEDIA_RESOLUTION_LOW", "high": "MEDIA_RESOLUTION_HIGH"}


def _no_constant(name: str) -> Any:
    # NaN and Infinity parse in Python but are not JSON: Gemini would refuse the body.
    raise ValueError(name)


# Built once: json.loads with an option builds a decoder per call.
_decode = json.JSONDecoder(parse_constant=_no_constant).decode


def to_contents(messages: Any, names: dict[str, str], *,
                gemini3: bool) -> tuple[list[dict], list[dict]]:
    """(systemInstruction parts, contents) for OpenAI chat ``messages``.

    :param names: Gemini name -> client name of renamed functions; calls in the
        history add theirs.
    :param gemini3: the model validates thought signatures and takes per-part media
        resolution.
    :raises Untranslatable: naming the message or part Gemini cannot be given.
    """
    if not isinstance(messages, list) or not messages:
        raise Untranslatable("'messages' must be a non-empty array.", "messages")
    system: list[dict] = []
    contents: list[dict] = []
    calls: dict[str, tuple[str, Optional[str], int]] = {}  # id -> (name, Gemini id, order)
    results: list[tuple[int, dict]] = []  # the current run of tool results
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise Untranslatable(f"'{where}' must be an object.", where)
        role = message.get("role")
        if role == "tool":
            results.append(_tool_result(message, where, calls))
            continue
        if results:
            _append(contents, "user", [part for _, part in sorted(results, key=_first)])
            results = []
        if role in ("system", "developer"):
            system.extend(_text_parts(message.get("content"), where, ("text",)))
        elif role == "user":
            _append(contents, "user", _user_parts(message.get("content"), where, gemini3))
        elif role == "assistant":
            _append(contents, "model", _assistant_parts(message, where, names, calls))
        else:
            raise Untranslatable(f"'{where}.role' {quoted(role)} cannot be translated (system, "
                                 "developer, user, assistant and tool can).", f"{where}.role")
    if results:
        _append(contents, "user", [part for _, part in sorted(results, key=_first)])
    if not contents:
        raise Untranslatable("'messages' needs at least one user or assistant message with "
                             "content.", "messages")
    if gemini3:
        sign_current_turn(contents)
    return system, contents


def _first(pair: tuple[int, dict]) -> int:
    return pair[0]


def _append(contents: list[dict], role: str, parts: list[dict]) -> None:
    if not parts:
        return  # an empty turn says nothing, and Gemini refuses a Content without parts
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _text_parts(content: Any, where: str, kinds: tuple[str, ...]) -> list[dict]:
    """Text parts of a content that may hold only text (and, for assistants, refusals)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise Untranslatable(f"'{where}.content' must be a string or an array of parts.",
                             f"{where}.content")
    parts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        text = part.get(kind) if kind in kinds else None
        if not isinstance(text, str):
            raise Untranslatable(f"'{where}.content[{j}]' of type {quoted(kind)} cannot be "
                                 f"translated here (only {' and '.join(kinds)}).",
                                 f"{where}.content[{j}]")
        if text:
            parts.append({"text": text})
    return parts


def _user_parts(content: Any, where: str, gemini3: bool) -> list[dict]:
    if not isinstance(content, list):
        return _text_parts(content, where, ("text",))
    parts = []
    for j, part in enumerate(content):
        param = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.extend(_text_parts([part], where, ("text",)))
        elif kind == "image_url":
            parts.append(_image(part.get("image_url"), param, gemini3))
        elif kind == "input_audio":
            parts.append(_audio(part.get("input_audio"), param))
        elif kind == "file":
            parts.append(_file(part.get("file"), param))
        else:
            raise Untranslatable(f"'{param}' of type {quoted(kind)} cannot be translated to the "
                                 "Gemini API (text, image_url, input_audio and file can).", param)
    return parts


def _image(image: Any, param: str, gemini3: bool) -> dict:
    url = image.get("url") if isinstance(image, dict) else image
    where = f"{param}.image_url.url"
    if not isinstance(url, str):
        raise Untranslatable(f"'{where}' must be a string.", where)
    part = _data_url(url, where, "images")
    detail = image.get("detail") if isinstance(image, dict) else None
    if gemini3 and detail in _RESOLUTION:
        part["mediaResolution"] = {"level": _RESOLUTION[detail]}
    return part


def _audio(audio: Any, param: str) -> dict:
    data = audio.get("data") if isinstance(audio, dict) else None
    fmt = audio.get("format") if isinstance(audio, dict) else None
    if not isinstance(data, str) or not data:
        raise Untranslatable(f"'{param}.input_audio.data' must be base64 audio.",
                             f"{param}.input_audio.data")
    if fmt not in _AUDIO_FORMATS:
        raise Untranslatable(f"'{param}.input_audio.format' {quoted(fmt)} is not one of "
                             f"{', '.join(_AUDIO_FORMATS)}.", f"{param}.input_audio.format")
    return {"inlineData": {"mimeType": _AUDIO_FORMATS[fmt], "data": data}}


def _file(file: Any, param: str) -> dict:
    if not isinstance(file, dict):
        raise Untranslatable(f"'{param}.file' must be an object.", f"{param}.file")
    if file.get("file_id") is not None:
        raise Untranslatable(f"'{param}.file.file_id': uploaded OpenAI files cannot be sent to "
                             "the Gemini API; send the file as file_data.", f"{param}.file.file_id")
    data = file.get("file_data")
    where = f"{param}.file.file_data"
    if not isinstance(data, str) or not data:
        raise Untranslatable(f"'{where}' must be a data: URL.", where)
    if data.startswith("data:"):
        return _data_url(data, where, "files")
    # Bare base64: the file name is then the only word on its type.
    filename = file.get("filename")
    mime = mimetypes.guess_type(filename)[0] if isinstance(filename, str) else None
    if mime is None:
        raise Untranslatable(f"'{where}' must be a data: URL (or come with a filename whose "
                             "extension tells its type).", where)
    return {"inlineData": {"mimeType": mime, "data": data}}


def _data_url(url: str, where: str, what: str) -> dict:
    match = _DATA_URL.fullmatch(url.strip())
    if match is None:
        # Gemini does not fetch URLs for inline parts, and a gateway that fetched them
        # would be an open web client: the client sends the bytes itself.
        raise Untranslatable(f"'{where}': {what} must be sent as base64 data: URLs; remote "
                             "URLs are not fetched.", where)
    return {"inlineData": {"mimeType": match.group(1), "data": match.group(2)}}


def _assistant_parts(message: dict, where: str, names: dict[str, str],
                     calls: dict[str, tuple[str, Optional[str], int]]) -> list[dict]:
    for field, why in (("audio", "assistant audio has no Gemini counterpart"),
                       ("function_call", "legacy function calls are not translated; use "
                                         "tool_calls")):
        if message.get(field) is not None:
            raise Untranslatable(f"'{where}.{field}': {why}.", f"{where}.{field}")
    parts = _text_parts(message.get("content"), where, ("text", "refusal"))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal and not parts:
        parts.append({"text": refusal})
    tool_calls = message.get("tool_calls")
    if tool_calls is None:
        return parts
    if not isinstance(tool_calls, list):
        raise Untranslatable(f"'{where}.tool_calls' must be an array.", f"{where}.tool_calls")
    for k, call in enumerate(tool_calls):
        param = f"{where}.tool_calls[{k}]"
        function = call.get("function") if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name or call.get("type", "function") != "function":
            raise Untranslatable(f"'{param}' must be a function call with a name.", param)
        native = remember(name, names)
        call_id = call.get("id")
        gemini_id = call_id if isinstance(call_id, str) and call_id \
            and not call_id.startswith(CALL_ID_PREFIX) else None
        body: dict[str, Any] = {"id": gemini_id} if gemini_id else {}
        body["name"] = native
        body["args"] = _arguments(function.get("arguments"), f"{param}.function.arguments")
        part: dict[str, Any] = {"functionCall": body}
        signature = _signature(call)
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
        if isinstance(call_id, str) and call_id:
            calls[call_id] = (native, gemini_id, len(calls))
    return parts


def _arguments(arguments: Any, where: str) -> dict:
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = _decode(arguments)
    except (TypeError, ValueError):
        raise Untranslatable(f"'{where}' is not valid JSON.", where) from None
    if not isinstance(parsed, dict):
        raise Untranslatable(f"'{where}' must be a JSON object (Gemini's call arguments are "
                             "one).", where)
    return parsed


def _signature(call: dict) -> Optional[str]:
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) and signature else None


def _tool_result(message: dict, where: str,
                 calls: dict[str, tuple[str, Optional[str], int]]) -> tuple[int, dict]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or call_id not in calls:
        raise Untranslatable(f"'{where}.tool_call_id' {quoted(call_id)} matches no tool call of an "
                             "earlier assistant message.", f"{where}.tool_call_id")
    name, gemini_id, order = calls[call_id]
    text = "".join(p["text"] for p in _text_parts(message.get("content"), where, ("text",)))
    try:
        output: Any = _decode(text)
    except ValueError:
        output = text
    response: dict[str, Any] = {"id": gemini_id} if gemini_id else {}
    response["name"] = name
    response["response"] = {"output": output}
    return order, {"functionResponse": response}


def sign_current_turn(contents: list[dict]) -> None:
    """Give the first call of each model step of the current turn a signature if it has none.

    The current turn starts after the last user Content with ordinary content (not only
    function results); older turns are not validated.
    """
    start = 0
    for index in range(len(contents) - 1, -1, -1):
        content = contents[index]
        if content["role"] == "user" and any("functionResponse" not in p
                                             for p in content["parts"]):
            start = index + 1
            break
    for content in contents[start:]:
        if content["role"] != "model":
            continue
        for part in content["parts"]:
            if "functionCall" in part:
                if not part.get("thoughtSignature"):
                    part["thoughtSignature"] = DUMMY_SIGNATURE
                break
