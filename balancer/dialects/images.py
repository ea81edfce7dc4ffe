"""OpenAI ``POST /v1/images/generations`` as a Gemini ``generateContent`` asking for images.

Request: ``prompt`` -> one user text part; ``responseModalities: [TEXT, IMAGE]`` (the
pair every Gemini image model takes; the text is not returned); ``n`` > 1 ->
``candidateCount`` (models that draw one image per call refuse it, with their own 400);
``size`` ``WxH`` -> ``imageConfig.aspectRatio`` (the nearest ratio Gemini offers, within
5%) and, for a side longer than 1792 pixels (larger than any OpenAI size), ``imageSize``
2K (up to 2048) or 4K; ``auto`` leaves both to the model. The body's ``model`` is not read
(the caller passes the routed one); ``user`` and ``moderation`` are ignored. Refused with
a 400 naming the field: ``quality`` other than auto/standard, ``style``, ``background:
transparent``, ``output_format`` other than png, ``output_compression``, ``stream``, and
unknown fields.

Answer: every image ``inlineData`` of every candidate -> ``data[i]``, ``{"b64_json"}`` or,
for ``response_format: url``, ``{"url": "data:<mime>;base64,..."}`` (Balancer stores no
files to link to, and a ``data:`` URL is what a browser or client can show); usage as
gpt-image reports it. An answer without an image (a blocked prompt, a filtered image) is
an ``Untranslatable`` (the proxy's 400, as OpenAI answers a refused prompt), whose
message gives Gemini's block or finish reason.

Lossy points (⚠): the text the model wrote beside its images; exact pixel sizes (Gemini
picks them from the ratio); the image type is the model's (usually PNG), whatever the
client expects.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from balancer.dialects.errors import Untranslatable

#: Aspect ratios Gemini's image models take, as (ratio, name).
_RATIOS = tuple((w / h, f"{w}:{h}") for w, h in ((1, 1), (2, 3), (3, 2), (3, 4), (4, 3), (4, 5),
                                                   (5, 4), (9, 16), (16, 9), (21, 9)))
_KNOWN = frozenset({"prompt", "model", "n", "size", "response_format", "quality", "style",
                    "background", "output_format", "output_compression", "moderation", "user",
                    "stream", "partial_images"})
#: field -> the values that ask for nothing Gemini lacks.
_HARMLESS = {"quality": ("auto", "standard"), "style": (), "background": ("auto", "opaque"),
             "output_format": ("png",), "output_compression": (), "stream": (False,),
             "partial_images": (0,)}


@dataclass(frozen=True)
class ImagesContext:
    """What the answer translation needs of the request."""

    url: bool


def to_native(body: dict, *, model: str) -> tuple[dict, ImagesContext]:
    """(``generateContent`` body, context) for an OpenAI image generation ``body``.

    :param model: the Gemini model the body goes to (not part of the body).
    :raises Untranslatable: naming the field Gemini cannot be given.
    """
    if not isinstance(body, dict):
        raise Untranslatable("The request body must be a JSON object.")
    for key, value in body.items():
        if key not in _KNOWN:
            raise Untranslatable(f"'{key}' has no counterpart in Gemini image generation.", key)
        if key in _HARMLESS and value is not None and value not in _HARMLESS[key]:
            raise Untranslatable(f"'{key}' {value!r} has no counterpart in Gemini image "
                                 "generation.", key)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise Untranslatable("'prompt' must be a non-empty string.", "prompt")
    fmt = body.get("response_format")
    if fmt not in (None, "b64_json", "url"):
        raise Untranslatable(f"'response_format' {fmt!r} is not one of b64_json, url.",
                             "response_format")
    config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
    n = body.get("n")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise Untranslatable("'n' must be a positive integer.", "n")
        if n > 1:
            config["candidateCount"] = n
    image = _image_config(body.get("size"))
    if image:
        config["imageConfig"] = image
    native = {"contents": [{"role": "user", "parts": [{"text": prompt}]}],
              "generationConfig": config}
    return native, ImagesContext(url=fmt == "url")


def _image_config(size: Any) -> dict:
    if size in (None, "auto"):
        return {}
    try:
        width, height = (int(side) for side in str(size).lower().split("x"))
    except ValueError:
        width = height = 0
    if width <= 0 or height <= 0:
        raise Untranslatable(f"'size' {size!r} is not WIDTHxHEIGHT or auto.", "size")
    wanted = width / height
    ratio, name = min(_RATIOS, key=lambda pair: abs(pair[0] - wanted))
    if abs(ratio - wanted) / wanted > 0.05:
        raise Untranslatable(f"'size' {size!r} has no Gemini aspect ratio near it (Gemini "
                             f"offers {', '.join(n for _, n in _RATIOS)}).", "size")
    config = {"aspectRatio": name}
    longest = max(width, height)
    if longest > 1792:
        config["imageSize"] = "2K" if longest <= 2048 else "4K"
    return config


def to_openai(native: dict, ctx: ImagesContext, *, created: int) -> dict:
    """OpenAI's images answer for a ``generateContent`` answer.

    :param created: the answer's Unix time (the caller's clock).
    :raises Untranslatable: when the answer holds no image.
    """
    native = native if isinstance(native, dict) else {}
    data = []
    reasons = []
    candidates = native.get("candidates")
    for candidate in candidates if isinstance(candidates, list) else ():
        if not isinstance(candidate, dict):
            continue
        if candidate.get("finishReason"):
            reasons.append(str(candidate["finishReason"]))
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else ():
            inline = part.get("inlineData") if isinstance(part, dict) else None
            if not isinstance(inline, dict) or not inline.get("data"):
                continue
            mime = str(inline.get("mimeType") or "")
            if mime.startswith("image/"):
                data.append({"url": f"data:{mime};base64,{inline['data']}"} if ctx.url
                            else {"b64_json": inline["data"]})
    if not data:
        feedback = native.get("promptFeedback")
        block = feedback.get("blockReason") if isinstance(feedback, dict) else None
        why = f"the prompt was blocked ({block})" if block else \
            f"finish reason {', '.join(reasons)}" if reasons else "no candidates"
        raise Untranslatable(f"The model returned no image: {why}.", "prompt")
    meta = native.get("usageMetadata")
    meta = meta if isinstance(meta, dict) else {}
    prompt = _count(meta.get("promptTokenCount"))
    output = _count(meta.get("candidatesTokenCount")) + _count(meta.get("thoughtsTokenCount"))
    return {"created": created, "data": data,
            "usage": {"input_tokens": prompt, "output_tokens": output,
                      "total_tokens": prompt + output,
                      "input_tokens_details": {"text_tokens": prompt, "image_tokens": 0}}}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
