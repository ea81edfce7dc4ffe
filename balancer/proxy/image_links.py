"""Generated images as links: a whole OpenAI-format answer whose images are uploaded to the
pool's image host, each inline image replaced by the host's URL.

Which answers: ``images/generations`` asked with ``response_format: url`` (``b64_json``
promises the bytes themselves, so those stay), and chat completions that are not streamed
(the markdown images ``![image](data:…)`` an ``-image`` model's answer holds). Native
Gemini answers keep their ``inlineData``: Gemini clients and SDKs read the bytes from
there and have no field for a link. Streams keep their inline images too (the chunk is
sent as it comes, with no time to upload).

The uploads run after the upstream answered and before the client gets the answer, one
image after the other, all within ``ANSWER_BUDGET`` seconds. An image whose upload fails
(or for which the budget is spent) stays inline, and the reason is logged, never the token.
"""
from __future__ import annotations

import logging
import re
import time
from typing import Any, Callable, Optional

import orjson

from balancer.proxy.call import Answer
from balancer.runtime import PoolInfo
from balancer.upstream import image_hosts
from balancer.upstream.image_hosts import ImageHost, UploadFailed

log = logging.getLogger(__name__)

#: seconds all uploads of one answer may take together; what is left then stays inline.
ANSWER_BUDGET = 30.0
#: an inline markdown image as ``dialects/chat_parts.py`` writes it.
_MARKDOWN_IMAGE = re.compile(r"!\[([^\]]*)\]\(data:(image/[A-Za-z0-9.+-]+);base64,([A-Za-z0-9+/=]+)\)")
_DATA_URL = re.compile(r"data:(image/[A-Za-z0-9.+-]+);base64,([A-Za-z0-9+/=]+)")

#: (base64, mime) -> URL, or None where the image stays inline.
Uploader = Callable[[str, str], Optional[str]]


def for_images(pool: PoolInfo, body: dict) -> Optional[Callable[[Answer], Optional[bytes]]]:
    """The ``on_answer`` hook of an image generation, or None when nothing is to upload."""
    if pool.image_host is None or body.get("response_format") != "url":
        return None
    host = pool.image_host
    return lambda answer: _rewritten(answer.body, host, pool.name, images_doc)


def for_chat(pool: PoolInfo, stream: bool) -> Optional[Callable[[Answer], Optional[bytes]]]:
    """The ``on_answer`` hook of a chat completion, or None when nothing is to upload."""
    if pool.image_host is None or stream:
        return None
    host = pool.image_host
    return lambda answer: _rewritten(answer.body, host, pool.name, chat_doc)


def _rewritten(body: bytes, host: ImageHost, pool: str,
               rewrite: Callable[[Any, Uploader], bool]) -> Optional[bytes]:
    """The answer with links, or None (the answer as it was) when no image was replaced."""
    if b"base64" not in body and b"b64_json" not in body:
        return None
    try:
        doc = orjson.loads(body)
    except ValueError:
        return None
    return orjson.dumps(doc) if rewrite(doc, _uploader(host, pool)) else None


def _uploader(host: ImageHost, pool: str) -> Uploader:
    deadline = time.monotonic() + ANSWER_BUDGET

    def upload(b64: str, mime: str) -> Optional[str]:
        left = deadline - time.monotonic()
        if left < 1:
            log.warning("pool %s: image kept inline: the %s upload budget of %.0f s is spent",
                        pool, host.kind, ANSWER_BUDGET)
            return None
        try:
            return image_hosts.upload_b64(host, b64, mime,
                                          timeout=min(image_hosts.UPLOAD_TIMEOUT, left))
        except UploadFailed as exc:
            log.warning("pool %s: image kept inline: %s", pool, exc)
            return None
    return upload


def images_doc(doc: Any, upload: Uploader) -> bool:
    """Replace each ``data[i]`` image of an OpenAI images answer by ``{"url"}``; whether
    any was replaced."""
    data = doc.get("data") if isinstance(doc, dict) else None
    changed = False
    for item in data if isinstance(data, list) else ():
        if not isinstance(item, dict):
            continue
        found = _DATA_URL.fullmatch(item["url"]) if isinstance(item.get("url"), str) else None
        if found:
            mime, b64 = found.group(1), found.group(2)
        elif isinstance(item.get("b64_json"), str):
            mime, b64 = "image/png", item["b64_json"]
        else:
            continue
        url = upload(b64, mime)
        if url:
            item.pop("b64_json", None)
            item["url"] = url
            changed = True
    return changed


def chat_doc(doc: Any, upload: Uploader) -> bool:
    """Replace the inline markdown images of each choice's content by linked ones;
    whether any was replaced."""
    choices = doc.get("choices") if isinstance(doc, dict) else None
    changed = False
    for choice in choices if isinstance(choices, list) else ():
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str) or "data:image/" not in content:
            continue

        def linked(found: re.Match) -> str:
            url = upload(found.group(3), found.group(2))
            return f"![{found.group(1)}]({url})" if url else found.group(0)
        new = _MARKDOWN_IMAGE.sub(linked, content)
        if new != content:
            message["content"] = new
            changed = True
    return changed
