"""OpenAI ``POST /v1/images/generations`` on Gemini's own API: ``generateContent`` or ``predict``.

Gemini image models (``gemini-2.5-flash-image`` ...) draw through ``generateContent``;
Imagen models (``imagen-…``) take only ``models/{model}:predict``. ``method_for`` says
which; ``to_native`` builds that method's body and ``to_openai`` reads its answer.

**generateContent.** Request: ``prompt`` -> one user text part; ``responseModalities:
[TEXT, IMAGE]`` (the pair every Gemini image model takes; the text is not returned);
``n`` > 1 -> ``candidateCount`` (models that draw one image per call refuse it, with their
own 400); ``size`` ``WxH`` -> ``imageConfig.aspectRatio`` (the nearest ratio Gemini offers,
within 5%) and, for a side longer than 1792 pixels (larger than any OpenAI size),
``imageSize`` 2K (up to 2048) or 4K; ``auto`` leaves both to the model. ``user`` and
``moderation`` are ignored. Refused with a 400 naming the field: ``quality`` other than
auto/standard, ``style``, ``background: transparent``, ``output_format`` other than png,
``output_compression``, ``stream``, and unknown fields. Answer: every image ``inlineData``
of every candidate -> ``data[i]``; usage as gpt-image reports it. No image (a blocked
prompt, a filtered image): an ``Untranslatable`` giving Gemini's block or finish reason.

**predict (Imagen).** What this relies on is how google-genai 2.19 writes and reads
Gemini API (``mldev``) calls in ``models.py`` (``_GenerateImagesParameters_to_mldev``,
``_GenerateImagesConfig_to_mldev``, ``_GenerateImagesResponse_from_mldev``,
``_GeneratedImage_from_mldev``; its 3.x releases refuse ``generate_images`` on this API
and keep only the Vertex converters):
body ``{"instances": [{"prompt"}], "parameters": {...}}`` with ``sampleCount``,
``aspectRatio`` (``types.GenerateImagesConfig``: 1:1, 3:4, 4:3, 9:16, 16:9),
``sampleImageSize`` (1K or 2K, the longest side; not Imagen 3), ``personGeneration``,
``safetySetting``, ``includeSafetyAttributes``, ``includeRaiReason``, ``language``,
``outputOptions {mimeType, compressionQuality}`` (compression for ``image/jpeg`` only);
the SDK refuses ``negativePrompt``, ``seed``, ``addWatermark``, ``enhancePrompt``,
``storageUri`` and ``labels`` on this API. Answer: ``{"predictions": [...]}``, each
``{"bytesBase64Encoded", "mimeType"}``, or ``{"raiFilteredReason": "..."}`` for what the
safety filter removed (one entry may count several images; sent only when
``includeRaiReason`` is true, otherwise the images are simply missing), or, with
``includeSafetyAttributes``, one more entry ``{"contentType": "Positive Prompt",
"safetyAttributes": ...}`` that is no image (the SDK sets it apart).
``sampleCount`` is 1 to 4, default 4, by Google's Imagen page (the SDK does not check it).

Mapping: ``prompt`` -> ``instances[0].prompt``; ``n`` -> ``sampleCount``, always sent
(OpenAI's default is 1, Imagen's 4), 1 to 4 else a 400 naming ``n``; ``size`` -> the
nearest Imagen ``aspectRatio`` within 5% (``1536x1024`` and ``1024x1536`` have none: 400),
a side longer than 1792 -> ``sampleImageSize`` 2K, longer than 2048 -> 400; ``auto``
leaves both to the model; ``output_format`` png/jpeg -> ``outputOptions.mimeType``
(webp: 400), ``output_compression`` -> ``compressionQuality`` with jpeg only (else 400);
``moderation: low`` -> ``safetySetting: BLOCK_ONLY_HIGH`` (OpenAI's "less restrictive");
``includeRaiReason: true`` always, so that a filtered image says why. ``quality``,
``style``, ``background``, ``stream``, ``user`` and unknown fields as for
``generateContent``. Answer: each image prediction -> ``data[i]``; no ``usage`` (Imagen
reports no tokens); no image at all -> an ``Untranslatable`` quoting the
``raiFilteredReason``s (or saying the answer held no prediction).

Both answers: ``{"b64_json"}``, or for ``response_format: url`` ``{"url":
"data:<mime>;base64,..."}`` (a ``data:`` URL is what a browser or client can show; a pool
with an image host replaces it by the host's link afterwards, ``proxy/image_links.py``). The body's ``model`` is not read (the caller passes
the routed one).

Lossy points (⚠): the text a Gemini model wrote beside its images; exact pixel sizes (the
model picks them from the ratio); the image type is the model's, whatever the client
expects (``generateContent``); on Imagen, images filtered out of a partly filtered answer
(the client gets fewer than ``n``); whether an Imagen model (3, Fast) takes
``sampleImageSize`` is left to Gemini's own 400.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from balancer.dialects.errors import Untranslatable
from balancer.text import quoted

GENERATE = "generateContent"
PREDICT = "predict"


def _ratios(*pairs: tuple[int, int]) -> tuple[tuple[float, str], ...]:
    return tuple((w / h, f"{w}:{h}") for w, h in pairs)


#: Aspect ratios Gemini's image models take, as (ratio, name).
_RATIOS = _ratios((1, 1), (2, 3), (3, 2), (3, 4), (4, 3), (4, 5), (5, 4), (9, 16), (16, 9),
                  (21, 9))
#: Aspect ratios Imagen takes (``types.GenerateImagesConfig.aspect_ratio``).
_IMAGEN_RATIOS = _ratios((1, 1), (3, 4), (4, 3), (9, 16), (16, 9))
#: Images one ``predict`` call may ask for.
IMAGEN_MAX_IMAGES = 4
#: The longest side OpenAI sizes reach; a larger ask wants a larger image size.
_OPENAI_LONGEST = 1792
_KNOWN = frozenset({"prompt", "model", "n", "size", "response_format", "quality", "style",
                    "background", "output_format", "output_compression", "moderation", "user",
                    "stream", "partial_images"})
#: field -> the values that ask for nothing Gemini lacks.
_HARMLESS = {"quality": ("auto", "standard"), "style": (), "background": ("auto", "opaque"),
             "output_format": ("png",), "output_compression": (), "stream": (False,),
             "partial_images": (0,)}
#: The same for Imagen, whose output options and safety setting take some of them
#: (``output_compression`` is checked with the output options).
_IMAGEN_HARMLESS = {**{k: v for k, v in _HARMLESS.items() if k != "output_compression"},
                    "output_format": ("png", "jpeg"), "moderation": ("auto", "low")}
_IMAGEN_MIME = {"png": "image/png", "jpeg": "image/jpeg"}


@dataclass(frozen=True)
class ImagesContext:
    """What the answer translation needs of the request."""

    url: bool
    method: str = GENERATE


def method_for(model: str) -> str:
    """The Gemini method that draws with ``model``: ``predict`` for Imagen, else
    ``generateContent``."""
    return PREDICT if model.removeprefix("models/").startswith("imagen-") else GENERATE


def to_native(body: dict, *, model: str) -> tuple[dict, ImagesContext]:
    """(the body for ``method_for(model)``, context) for an OpenAI image generation ``body``.

    :param model: the Gemini model the body goes to (not part of the body).
    :raises Untranslatable: naming the field Gemini cannot be given.
    """
    if not isinstance(body, dict):
        raise Untranslatable("The request body must be a JSON object.")
    method = method_for(model)
    imagen = method == PREDICT
    harmless = _IMAGEN_HARMLESS if imagen else _HARMLESS
    what = "Imagen" if imagen else "Gemini image generation"
    for key, value in body.items():
        if key not in _KNOWN:
            raise Untranslatable(f"{quoted(key)} has no counterpart in {what}.", key)
        if key in harmless and value is not None and value not in harmless[key]:
            raise Untranslatable(f"{quoted(key)} {quoted(value)} has no counterpart in {what}.",
                                 key)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise Untranslatable("'prompt' must be a non-empty string.", "prompt")
    fmt = body.get("response_format")
    if fmt not in (None, "b64_json", "url"):
        raise Untranslatable(f"'response_format' {quoted(fmt)} is not one of b64_json, url.",
                             "response_format")
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise Untranslatable("'n' must be a positive integer.", "n")
    ctx = ImagesContext(url=fmt == "url", method=method)
    if imagen:
        return _predict_body(body, prompt, n or 1), ctx
    config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
    if n is not None and n > 1:
        config["candidateCount"] = n
    image = _image_config(body.get("size"))
    if image:
        config["imageConfig"] = image
    native = {"contents": [{"role": "user", "parts": [{"text": prompt}]}],
              "generationConfig": config}
    return native, ctx


def _predict_body(body: dict, prompt: str, n: int) -> dict:
    if n > IMAGEN_MAX_IMAGES:
        raise Untranslatable(f"'n' {n} is more than the {IMAGEN_MAX_IMAGES} images Imagen "
                             "draws in one request.", "n")
    # Imagen draws 4 unless told; OpenAI's clients expect 1. Without includeRaiReason a
    # filtered image would vanish without a word.
    params: dict[str, Any] = {"sampleCount": n, "includeRaiReason": True}
    size = _size(body.get("size"), _IMAGEN_RATIOS, "Imagen")
    if size is not None:
        ratio, longest = size
        params["aspectRatio"] = ratio
        if longest > 2048:
            raise Untranslatable(f"'size' {quoted(body['size'])} is larger than Imagen draws (2K, "
                                 "2048 pixels on the longest side).", "size")
        if longest > _OPENAI_LONGEST:
            params["sampleImageSize"] = "2K"
    output = _output_options(body)
    if output:
        params["outputOptions"] = output
    if body.get("moderation") == "low":
        params["safetySetting"] = "BLOCK_ONLY_HIGH"
    return {"instances": [{"prompt": prompt}], "parameters": params}


def _output_options(body: dict) -> dict:
    fmt = body.get("output_format")
    compression = body.get("output_compression")
    if compression is not None and fmt != "jpeg":
        raise Untranslatable("'output_compression' applies to output_format jpeg only on "
                             "Imagen.", "output_compression")
    if compression is not None and (isinstance(compression, bool)
                                    or not isinstance(compression, int)
                                    or not 0 <= compression <= 100):
        raise Untranslatable("'output_compression' must be an integer from 0 to 100.",
                             "output_compression")
    options: dict[str, Any] = {}
    if fmt is not None:
        options["mimeType"] = _IMAGEN_MIME[fmt]
    if compression is not None:
        options["compressionQuality"] = compression
    return options


def _size(size: Any, ratios: tuple[tuple[float, str], ...],
          who: str) -> Optional[tuple[str, int]]:
    """(aspect ratio name, longest side) for an OpenAI ``size``; None for auto."""
    if size in (None, "auto"):
        return None
    try:
        width, height = (int(side) for side in str(size).lower().split("x"))
    except ValueError:
        width = height = 0
    if width <= 0 or height <= 0:
        raise Untranslatable(f"'size' {quoted(size)} is not WIDTHxHEIGHT or auto.", "size")
    wanted = width / height
    ratio, name = min(ratios, key=lambda pair: abs(pair[0] - wanted))
    if abs(ratio - wanted) / wanted > 0.05:
        raise Untranslatable(f"'size' {quoted(size)} has no {who} aspect ratio near it ({who} "
                             f"offers {', '.join(n for _, n in ratios)}).", "size")
    return name, max(width, height)


def _image_config(size: Any) -> dict:
    found = _size(size, _RATIOS, "Gemini")
    if found is None:
        return {}
    name, longest = found
    config = {"aspectRatio": name}
    if longest > _OPENAI_LONGEST:
        config["imageSize"] = "2K" if longest <= 2048 else "4K"
    return config


def to_openai(native: dict, ctx: ImagesContext, *, created: int) -> dict:
    """OpenAI's images answer for a ``generateContent`` or ``predict`` answer.

    :param created: the answer's Unix time (the caller's clock).
    :raises Untranslatable: when the answer holds no image, saying why.
    """
    native = native if isinstance(native, dict) else {}
    if ctx.method == PREDICT:
        return {"created": created, "data": _predictions(native, ctx)}
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
                data.append(_image(mime, inline["data"], ctx))
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


def _predictions(native: dict, ctx: ImagesContext) -> list[dict]:
    """The images of a ``predict`` answer.

    :raises Untranslatable: when none is left, quoting Imagen's filter reasons.
    """
    data = []
    reasons = []
    predictions = native.get("predictions")
    for item in predictions if isinstance(predictions, list) else ():
        if not isinstance(item, dict) or item.get("contentType") == "Positive Prompt":
            continue  # the prompt's own safety attributes, not an image
        if item.get("bytesBase64Encoded"):
            mime = str(item.get("mimeType") or "image/png")
            data.append(_image(mime, item["bytesBase64Encoded"], ctx))
        elif item.get("raiFilteredReason"):
            reasons.append(str(item["raiFilteredReason"]))
    if not data:
        why = " ".join(reasons) if reasons else "the answer held no prediction."
        raise Untranslatable(f"The model returned no image: {why}", "prompt")
    return data


def _image(mime: str, b64: str, ctx: ImagesContext) -> dict:
    return {"url": f"data:{mime};base64,{b64}"} if ctx.url else {"b64_json": b64}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
