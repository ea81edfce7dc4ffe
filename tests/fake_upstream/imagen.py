"""Imagen's ``models/{model}:predict`` on the native API: the request checked, then images.

The shape is google-genai 2.19's for the Gemini API (``_GenerateImagesParameters_to_mldev``,
``_GenerateImagesResponse_from_mldev``): ``{"instances": [{"prompt"}], "parameters":
{"sampleCount", "aspectRatio", ...}}`` in, ``{"predictions": [{"bytesBase64Encoded",
"mimeType"}, ...]}`` out. Filtered images are ``{"raiFilteredReason"}`` entries when
``includeRaiReason`` is true and are left out otherwise; ``includeSafetyAttributes`` adds
``safetyAttributes`` to each image and one ``"contentType": "Positive Prompt"`` entry.
The texts of the 400s for the ``parameters`` are the fake's own (Gemini's are unknown).
"""

from __future__ import annotations

from typing import Any, Optional

from . import google_errors as gerr
from . import schemas
from .google_errors import Envelope
from .native_answer import PNG_1X1

#: PredictRequest's fields (proto JSON).
REQUEST_FIELDS = frozenset({"model", "instances", "parameters"})
#: What the Gemini API's ``parameters`` take (the SDK's mldev converter sends only these).
PARAMETERS = frozenset(
    {
        "sampleCount",
        "aspectRatio",
        "guidanceScale",
        "sampleImageSize",
        "personGeneration",
        "safetySetting",
        "includeSafetyAttributes",
        "includeRaiReason",
        "language",
        "outputOptions",
    }
)
MAX_IMAGES = 4
ASPECT_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
IMAGE_SIZES = ("1K", "2K")
MIME_TYPES = ("image/png", "image/jpeg")
#: Enum values, compared without case; ``allow_all``/``block_none`` are Vertex AI's only.
PERSON_GENERATION = ("dont_allow", "allow_adult")
SAFETY_SETTINGS = ("block_low_and_above", "block_medium_and_above", "block_only_high")
FILTERED = (
    "Your current safety filter threshold filtered out {n} generated images. You will not be "
    "charged for blocked images. Try rephrasing the prompt. If you think this was an error, "
    "send feedback."
)
_NO_SAFETY = {"categories": [], "scores": []}


def _bad(message: str) -> Envelope:
    return gerr.invalid_argument(message)


def _choice(params: dict[str, Any], name: str, allowed: tuple[str, ...]) -> Optional[Envelope]:
    value = params.get(name)
    if value is None or (isinstance(value, str) and value.lower() in map(str.lower, allowed)):
        return None
    return _bad(f"{name} {value!r} is not supported. Supported values: {', '.join(allowed)}.")


def check(body: dict[str, Any]) -> Optional[Envelope]:
    """The 400 Gemini gives for a ``predict`` body, or None when it can draw."""
    for name in body:
        if name not in REQUEST_FIELDS:
            return gerr.unknown_field(name)
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        return _bad("* PredictRequest.instances: instances is not specified\n")
    prompt = instances[0].get("prompt") if isinstance(instances[0], dict) else None
    if not isinstance(prompt, str) or not prompt.strip():
        return _bad("instances[0].prompt must be a non-empty string.")
    params = body.get("parameters") or {}
    if not isinstance(params, dict):
        return _bad("parameters must be an object.")
    for name in params:
        if name not in PARAMETERS:
            return _bad(f'Unknown parameter "{name}" for this model.')
    count = params.get("sampleCount", MAX_IMAGES)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_IMAGES:
        return _bad(f"sampleCount must be an integer from 1 to {MAX_IMAGES}, not {count!r}.")
    for name, allowed in (
        ("aspectRatio", ASPECT_RATIOS),
        ("sampleImageSize", IMAGE_SIZES),
        ("personGeneration", PERSON_GENERATION),
        ("safetySetting", SAFETY_SETTINGS),
    ):
        refusal = _choice(params, name, allowed)
        if refusal is not None:
            return refusal
    options = params.get("outputOptions") or {}
    mime = schemas.field(options, "mimeType") if isinstance(options, dict) else None
    if not isinstance(options, dict) or mime not in (None, *MIME_TYPES):
        return _bad(f"outputOptions.mimeType {mime!r} is not supported: use image/png or "
                    "image/jpeg.")
    return None


def predictions(body: dict[str, Any], mode: str = "good") -> dict[str, Any]:
    """The answer to a checked body: ``sampleCount`` PNGs (4 unless told), or for the
    ``blocked`` and ``empty`` modes every image filtered out."""
    params = body.get("parameters") or {}
    count = params.get("sampleCount", MAX_IMAGES)
    if mode == "empty" or (mode == "blocked" and not params.get("includeRaiReason")):
        return {}  # nothing left, and nothing asked to say why
    if mode == "blocked":
        return {"predictions": [{"raiFilteredReason": FILTERED.format(n=count)}]}
    safety = bool(params.get("includeSafetyAttributes"))
    # The fake always draws PNG; the mimeType says what the bytes are.
    image: dict[str, Any] = {"mimeType": "image/png", "bytesBase64Encoded": PNG_1X1}
    if safety:
        image["safetyAttributes"] = _NO_SAFETY
    result = [dict(image) for _ in range(count)]
    if safety:
        result.append({"safetyAttributes": _NO_SAFETY, "contentType": "Positive Prompt"})
    return {"predictions": result}
