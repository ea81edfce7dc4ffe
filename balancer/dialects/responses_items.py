"""A Responses request's input items as chat messages, and the thought signatures they carry.

The rules are listed in ``responses_request``'s docstring; this module applies them, one
item at a time. ``seal``/``unseal`` are Balancer's own ``encrypted_content``: the thought
signatures of a reasoning item, so that a client sending its output items back sends
Gemini's signatures back too.
"""
from __future__ import annotations

import base64
import json
from typing import Any, Mapping

from balancer.dialects.errors import Untranslatable
from balancer.text import quoted

#: How Balancer marks the ``encrypted_content`` it writes (thought signatures by call id).
SEAL = "balancer.v1:"


def seal(signatures: Mapping[str, str]) -> str:
    """``encrypted_content`` holding thought signatures by call id (Balancer's own format)."""
    raw = json.dumps(dict(signatures), separators=(",", ":")).encode()
    return SEAL + base64.urlsafe_b64encode(raw).decode("ascii")


def unseal(content: Any) -> dict[str, str]:
    """The signatures by call id in an ``encrypted_content`` Balancer wrote ({} otherwise)."""
    if not isinstance(content, str) or not content.startswith(SEAL):
        return {}
    try:
        found = json.loads(base64.urlsafe_b64decode(content[len(SEAL):].encode("ascii")))
    except (ValueError, TypeError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str) and v}


def input_items(body: dict) -> list[dict]:
    """The request's ``input`` as a list of items (a string is one user message).

    :raises Untranslatable: when ``input`` is neither.
    """
    given = body.get("input")
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    if isinstance(given, list) and all(isinstance(item, dict) for item in given):
        return list(given)
    raise Untranslatable("'input' must be a string or an array of input items.", "input")


def chat_messages(body: dict, items: list[dict]) -> list[dict]:
    """``instructions`` and the input ``items`` as chat messages (``chat_request``'s input),
    each call with the thought signature its reasoning item carried."""
    messages: list[dict] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise Untranslatable("'instructions' must be a string.", "instructions")
        if instructions:
            messages.append({"role": "system", "content": instructions})
    signatures: dict[str, str] = {}
    for item in items:
        if item.get("type") == "reasoning":
            signatures.update(unseal(item.get("encrypted_content")))
    for i, item in enumerate(items):
        where = f"input[{i}]"
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            messages.append(_call(item, where, signatures))
        elif kind == "function_call_output":
            messages.append(_output(item, where))
        elif kind == "reasoning":
            continue  # summaries are not sent back; signatures were read above
        elif kind == "item_reference":
            raise Untranslatable(f"'{where}': item references are not resolved; send the item "
                                 "itself or use previous_response_id.", where)
        else:
            raise Untranslatable(f"'{where}' of type {quoted(kind)} cannot be translated to the "
                                 "Gemini API (message, function_call, function_call_output and "
                                 "reasoning can).", f"{where}.type")
    return messages


def _message(item: dict, where: str) -> dict:
    role = item.get("role")
    if role not in ("user", "system", "developer", "assistant"):
        raise Untranslatable(f"'{where}.role' {quoted(role)} is not one of user, system, "
                             "developer, assistant.", f"{where}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise Untranslatable(f"'{where}.content' must be a string or an array of parts.",
                             f"{where}.content")
    return {"role": role, "content": [_part(part, f"{where}.content[{j}]", role)
                                      for j, part in enumerate(content)]}


def _part(part: Any, where: str, role: str) -> dict:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text"):
        text = part.get("text")
        if not isinstance(text, str):
            raise Untranslatable(f"'{where}.text' must be a string.", f"{where}.text")
        return {"type": "text", "text": text}
    if kind == "refusal" and role == "assistant":
        return {"type": "refusal", "refusal": str(part.get("refusal") or "")}
    if kind == "input_image" and role not in ("assistant", "system", "developer"):
        if part.get("file_id") is not None:
            raise Untranslatable(f"'{where}.file_id': uploaded OpenAI files cannot be sent to "
                                 "the Gemini API; send the image as a data: URL.",
                                 f"{where}.file_id")
        url = part.get("image_url")
        if not isinstance(url, str) or not url.startswith("data:"):
            raise Untranslatable(f"'{where}.image_url': images must be sent as base64 data: "
                                 "URLs; remote URLs are not fetched.", f"{where}.image_url")
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in ("low", "high"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file" and role not in ("assistant", "system", "developer"):
        for key, why in (("file_id", "uploaded OpenAI files cannot be sent to the Gemini API; "
                                     "send the file as file_data"),
                         ("file_url", "remote files are not fetched; send the file as "
                                      "file_data")):
            if part.get(key) is not None:
                raise Untranslatable(f"'{where}.{key}': {why}.", f"{where}.{key}")
        file: dict[str, Any] = {"file_data": part.get("file_data")}
        if isinstance(part.get("filename"), str):
            file["filename"] = part["filename"]
        return {"type": "file", "file": file}
    raise Untranslatable(f"'{where}' of type {quoted(kind)} cannot be translated in a "
                         f"{role} message (input_text, input_image and input_file can in user "
                         "messages; output_text and refusal in assistant ones).", where)


def _call(item: dict, where: str, signatures: Mapping[str, str]) -> dict:
    call_id, name = item.get("call_id"), item.get("name")
    if not isinstance(call_id, str) or not call_id:
        raise Untranslatable(f"'{where}.call_id' must be a non-empty string.", f"{where}.call_id")
    if not isinstance(name, str) or not name:
        raise Untranslatable(f"'{where}.name' must be a non-empty string.", f"{where}.name")
    arguments = item.get("arguments")
    call: dict[str, Any] = {"id": call_id, "type": "function",
                            "function": {"name": name,
                                         "arguments": arguments if arguments is not None else ""}}
    signature = signatures.get(call_id)
    if signature:
        call["extra_content"] = {"google": {"thought_signature": signature}}
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def _output(item: dict, where: str) -> dict:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise Untranslatable(f"'{where}.call_id' must be a non-empty string.", f"{where}.call_id")
    output = item.get("output")
    if isinstance(output, list):
        # Parts: their text is what a chat tool result can carry (⚠ images are dropped).
        output = "".join(p.get("text", "") for p in output
                         if isinstance(p, dict) and p.get("type") in ("input_text", "output_text")
                         and isinstance(p.get("text"), str))
    if not isinstance(output, str):
        raise Untranslatable(f"'{where}.output' must be a string or an array of parts.",
                             f"{where}.output")
    return {"role": "tool", "tool_call_id": call_id, "content": output}
