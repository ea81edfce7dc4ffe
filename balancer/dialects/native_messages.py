"""Gemini ``systemInstruction`` and ``contents`` as OpenAI chat ``messages``.

The reverse of ``chat_messages``, for serving a native body through an OpenAI-kind upstream:

- ``systemInstruction`` text parts -> one ``system`` message, the parts joined by a blank
  line (every OpenAI-compatible provider takes a string system message; not all take
  several, or text parts in one);
- ``user`` Contents -> ``user`` messages: one text part -> a string content, else content
  parts: ``text``; ``inlineData`` images -> ``image_url`` with a ``data:`` URL; WAV/MP3 ->
  ``input_audio``; PDF -> ``file`` with ``file_data``; ``fileData`` with an http(s) image
  URI -> ``image_url`` with that URL (the provider fetches it);
- ``model`` Contents -> ``assistant`` messages (neighbouring model Contents -> one): text
  parts joined into ``content``, ``functionCall`` parts -> ``tool_calls`` (``arguments``
  as compact JSON);
- ``functionResponse`` parts -> ``tool`` messages placed right after the assistant message
  (chat requires it); the other parts of that user Content follow as a user message.

Call ids: chat ties each ``tool`` message to a call by id, Gemini by name and order with an
optional ``id``. A call keeps Gemini's ``id`` when it has one, else gets ``call_<n>`` (``n``
its place among the conversation's calls, so one body always gives the same ids); a
``functionResponse`` takes the id of the call of the preceding model turn that has its
``id``, else of the first not yet answered call of its name.

Lossy points (⚠): system parts become one message; ``thought`` parts of the history are
dropped (chat takes no reasoning back); ``thoughtSignature`` is dropped unless asked for
(then ``extra_content.google.thought_signature``, which only Google's OpenAI layer reads);
``mediaResolution`` and ``videoMetadata`` are dropped; a ``functionResponse`` becomes text:
``response.output`` as it is when a string, else compact JSON of ``output`` (or of the
whole ``response`` when it holds anything but ``output``, e.g. ``error``).
Refused (``Untranslatable``): inline data other than images, WAV/MP3 audio and PDF;
``fileData`` other than http(s) images (Gemini Files API URIs are readable by Google
alone); ``functionResponse.parts`` (media results); ``executableCode``,
``codeExecutionResult``, media in a model turn (a chat assistant message holds text and
calls) and parts of unknown kinds; a ``functionResponse`` that answers
no call; roles other than ``user``/``model``.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from balancer.dialects.errors import Untranslatable
from balancer.text import quoted

#: The chat ``input_audio`` format of each audio MIME type it has one for.
_AUDIO = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav",
          "audio/mp3": "mp3", "audio/mpeg": "mp3"}
_GOOGLE_FILES = ("https://generativelanguage.googleapis.com/", "gs://")
# Arguments and results as OpenAI writes them (compact); built once.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def to_messages(system: Any, contents: Any, *, signatures: bool = False) -> list[dict]:
    """OpenAI chat ``messages`` for a native ``systemInstruction`` and ``contents``.

    :param signatures: carry ``thoughtSignature`` of calls as
        ``extra_content.google.thought_signature`` (for Google's OpenAI layer).
    :raises Untranslatable: naming the first part with no chat counterpart.
    """
    messages: list[dict] = []
    text = _system_text(system)
    if text:
        messages.append({"role": "system", "content": text})
    if not isinstance(contents, list) or not contents:
        raise Untranslatable("'contents' must be a non-empty array.", "contents")
    pending: list[list] = []  # [id, name, Gemini id, answered] of the last model turn's calls
    counter = [0]
    previous = None
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(content, dict):
            raise Untranslatable(f"'{where}' must be an object.", where)
        role = content.get("role") or "user"
        parts = content.get("parts")
        if not isinstance(parts, list):
            raise Untranslatable(f"'{where}.parts' must be an array.", f"{where}.parts")
        if role == "model":
            message, calls = _assistant(parts, where, counter, signatures)
            if previous == "model":
                pending.extend(calls)  # one model step split over Contents: one message
                if message is not None:
                    _merge(messages, message)
            else:
                pending = calls
                if message is not None:
                    messages.append(message)
        elif role in ("user", "function"):
            messages.extend(_user(parts, where, pending))
        else:
            raise Untranslatable(f"'{where}.role' {quoted(role)} cannot be translated (user and "
                                 "model can).", f"{where}.role")
        previous = role
    return messages


def _merge(messages: list[dict], message: dict) -> None:
    """Add an assistant message to the one before it (made of the previous model Content)."""
    last = messages[-1] if messages else None
    if last is None or last["role"] != "assistant":
        messages.append(message)
        return
    last["content"] = ((last["content"] or "") + (message["content"] or "")) or None
    if message.get("tool_calls"):
        last.setdefault("tool_calls", []).extend(message["tool_calls"])


def _system_text(system: Any) -> str:
    if system is None:
        return ""
    if isinstance(system, str):
        return system
    parts = system.get("parts") if isinstance(system, dict) else None
    if isinstance(parts, dict):
        parts = [parts]
    if not isinstance(parts, list):
        raise Untranslatable("'systemInstruction' must be a Content with text parts.",
                             "systemInstruction")
    texts = []
    for j, part in enumerate(parts):
        text = part.get("text") if isinstance(part, dict) else None
        if not isinstance(text, str):
            raise Untranslatable(f"'systemInstruction.parts[{j}]' must be a text part (a chat "
                                 "system message holds text only).",
                                 f"systemInstruction.parts[{j}]")
        if text:
            texts.append(text)
    return "\n\n".join(texts)


def _assistant(parts: list, where: str, counter: list[int],
               signatures: bool) -> tuple[Optional[dict], list[list]]:
    texts: list[str] = []
    calls: list[dict] = []
    pending: list[list] = []
    for j, part in enumerate(parts):
        param = f"{where}.parts[{j}]"
        if not isinstance(part, dict):
            raise Untranslatable(f"'{param}' must be an object.", param)
        if part.get("thought") is True:
            continue  # thought summaries: chat takes no reasoning back
        if "functionCall" in part:
            call = part["functionCall"]
            name = call.get("name") if isinstance(call, dict) else None
            if not isinstance(name, str) or not name:
                raise Untranslatable(f"'{param}.functionCall' must have a name.",
                                     f"{param}.functionCall.name")
            args = call.get("args")
            if args is None:
                args = {}
            if not isinstance(args, dict):
                raise Untranslatable(f"'{param}.functionCall.args' must be an object.",
                                     f"{param}.functionCall.args")
            gemini_id = call.get("id") if isinstance(call.get("id"), str) and call["id"] else None
            call_id = gemini_id or f"call_{counter[0]}"
            counter[0] += 1
            out: dict[str, Any] = {"id": call_id, "type": "function",
                                   "function": {"name": name, "arguments": _encode(args)}}
            signature = part.get("thoughtSignature")
            if signatures and isinstance(signature, str) and signature:
                out["extra_content"] = {"google": {"thought_signature": signature}}
            calls.append(out)
            pending.append([call_id, name, gemini_id, False])
        elif "text" in part:
            if isinstance(part["text"], str):
                texts.append(part["text"])
        else:
            _refuse_part(part, param, "a model turn", ("text", "functionCall"))
    text = "".join(texts)
    if not text and not calls:
        return None, pending
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message, pending


def _user(parts: list, where: str, pending: list[list]) -> list[dict]:
    results: list[dict] = []
    content: list[dict] = []
    for j, part in enumerate(parts):
        param = f"{where}.parts[{j}]"
        if not isinstance(part, dict):
            raise Untranslatable(f"'{param}' must be an object.", param)
        if part.get("thought") is True:
            continue
        if "functionResponse" in part:
            results.append(_result(part["functionResponse"], f"{param}.functionResponse",
                                   pending))
        elif "text" in part:
            if isinstance(part["text"], str) and part["text"]:
                content.append({"type": "text", "text": part["text"]})
        elif "inlineData" in part:
            content.append(_inline(part["inlineData"], f"{param}.inlineData"))
        elif "fileData" in part:
            content.append(_file_data(part["fileData"], f"{param}.fileData"))
        else:
            _refuse_part(part, param, "a user turn",
                         ("text", "inlineData", "fileData", "functionResponse"))
    out = list(results)
    if content:
        if len(content) == 1 and content[0]["type"] == "text":
            out.append({"role": "user", "content": content[0]["text"]})
        else:
            out.append({"role": "user", "content": content})
    return out


def _refuse_part(part: dict, param: str, where: str, kinds: tuple[str, ...]) -> None:
    kind = next((key for key in part if key not in ("thought", "thoughtSignature",
                                                     "mediaResolution", "videoMetadata")),
                None)
    if kind is None:
        return  # a signature-only or empty part says nothing a chat upstream can read
    raise Untranslatable(f"'{param}' holds {quoted(kind)}, which has no OpenAI chat counterpart "
                         f"in {where} ({', '.join(kinds)} can be translated).", param)


def _result(response: Any, where: str, pending: list[list]) -> dict:
    if not isinstance(response, dict):
        raise Untranslatable(f"'{where}' must be an object.", where)
    if response.get("parts"):
        raise Untranslatable(f"'{where}.parts': media in function results has no OpenAI chat "
                             "counterpart (tool messages hold text).", f"{where}.parts")
    name = response.get("name")
    gemini_id = response.get("id")
    match = None
    if isinstance(gemini_id, str) and gemini_id:
        match = next((c for c in pending if c[2] == gemini_id and not c[3]), None)
    if match is None:
        match = next((c for c in pending if c[1] == name and not c[3]), None)
    if match is None:
        raise Untranslatable(f"'{where}' answers no function call of the preceding model turn "
                             f"(name {quoted(name)}).", where)
    match[3] = True
    body = response.get("response")
    if isinstance(body, dict) and set(body) == {"output"}:
        output = body["output"]
        text = output if isinstance(output, str) else _encode(output)
    elif body is None:
        text = ""
    else:
        text = _encode(body)
    return {"role": "tool", "tool_call_id": match[0], "content": text}


def _inline(data: Any, where: str) -> dict:
    mime = data.get("mimeType") if isinstance(data, dict) else None
    payload = data.get("data") if isinstance(data, dict) else None
    if not isinstance(mime, str) or not isinstance(payload, str) or not payload:
        raise Untranslatable(f"'{where}' needs a mimeType and base64 data.", where)
    mime = mime.lower()
    if mime.startswith("image/"):
        return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{payload}"}}
    if mime in _AUDIO:
        return {"type": "input_audio", "input_audio": {"data": payload, "format": _AUDIO[mime]}}
    if mime == "application/pdf":
        return {"type": "file", "file": {"filename": "document.pdf",
                                         "file_data": f"data:{mime};base64,{payload}"}}
    raise Untranslatable(f"'{where}.mimeType' {quoted(mime)} has no OpenAI chat counterpart "
                         "(images, WAV and MP3 audio and PDF files do).", f"{where}.mimeType")


def _file_data(data: Any, where: str) -> dict:
    uri = data.get("fileUri") if isinstance(data, dict) else None
    mime = data.get("mimeType") if isinstance(data, dict) else None
    if not isinstance(uri, str) or not uri:
        raise Untranslatable(f"'{where}.fileUri' must be a URI.", f"{where}.fileUri")
    image = not isinstance(mime, str) or mime.lower().startswith("image/")
    if uri.startswith(_GOOGLE_FILES) or not uri.startswith(("https://", "http://")) \
            or not image:
        raise Untranslatable(f"'{where}': only http(s) image URLs have an OpenAI chat "
                             "counterpart (files stored at Google are readable by Google alone).",
                             where)
    return {"type": "image_url", "image_url": {"url": uri}}
