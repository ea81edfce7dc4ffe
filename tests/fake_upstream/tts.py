"""Gemini's TTS models (``…-tts``) on ``generateContent``: audio out, as base64 PCM.

Gemini answers a TTS request with one ``inlineData`` part, ``mimeType``
``audio/L16;codec=pcm;rate=24000``: headerless 16-bit little-endian mono PCM at 24 kHz
(dialects.md section 8). The fake's audio is a short sine tone (``TONE_SECONDS`` at
``TONE_HZ``). The texts of its 400s are the fake's own (Gemini's are unknown): a TTS model
asked for anything but ``["AUDIO"]`` output, a voice name that is not one of the 30
prebuilt voices, and ``AUDIO`` asked of a model that does not speak.
"""

from __future__ import annotations

import base64
import math
import struct
from typing import Any, Optional

from . import content, schemas
from . import google_errors as gerr
from .google_errors import Envelope
from .native_answer import usage
from .thinking import generation_config

RATE = 24000
MIME_TYPE = f"audio/L16;codec=pcm;rate={RATE}"
TONE_HZ = 440
TONE_SECONDS = 0.25
VOICES = frozenset(
    name.lower()
    for name in (
        "Zephyr Puck Charon Kore Fenrir Leda Orus Aoede Callirrhoe Autonoe Enceladus Iapetus "
        "Umbriel Algieba Despina Erinome Algenib Rasalgethi Laomedeia Achernar Alnilam Schedar "
        "Gacrux Pulcherrima Achird Zubenelgenubi Vindemiatrix Sadachbia Sadaltager Sulafat"
    ).split()
)


def speaks(model: Optional[str]) -> bool:
    """Whether a model is a TTS model."""
    return "tts" in (model or "")


def wants_audio(body: dict[str, Any]) -> bool:
    """Whether ``responseModalities`` asks for audio."""
    modalities = schemas.field(generation_config(body), "responseModalities") or []
    return isinstance(modalities, list) and any(str(m).upper() == "AUDIO" for m in modalities)


def tone(seconds: float = TONE_SECONDS, hz: int = TONE_HZ) -> bytes:
    """A sine tone as 16-bit little-endian mono PCM at ``RATE``."""
    count = int(RATE * seconds)
    return b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * hz * i / RATE))) for i in range(count)
    )


def check(model: str, body: dict[str, Any]) -> Optional[Envelope]:
    """The 400 for a generation request that does not fit the model's audio, or None."""
    audio = wants_audio(body)
    if not speaks(model):
        if audio:
            message = "Model does not support the requested response modalities: audio"
            return gerr.envelope(400, "INVALID_ARGUMENT", message)
        return None
    modalities = schemas.field(generation_config(body), "responseModalities") or []
    if not audio or len(modalities) != 1:
        message = "This model only supports AUDIO output; set responseModalities to [\"AUDIO\"]."
        return gerr.envelope(400, "INVALID_ARGUMENT", message)
    speech = schemas.field(generation_config(body), "speechConfig") or {}
    voice = schemas.field(schemas.field(speech, "voiceConfig") or {}, "prebuiltVoiceConfig")
    name = schemas.field(voice or {}, "voiceName")
    if name is not None and str(name).lower() not in VOICES:
        return gerr.envelope(400, "INVALID_ARGUMENT", f"Voice name {name} is not supported.")
    return None


def answer(body: dict[str, Any], stamp: dict[str, str], mode: str = "good") -> dict[str, Any]:
    """The GenerateContentResponse of a TTS model: the tone as one ``inlineData`` part
    (``empty``: no candidates; ``blocked``: the prompt blocked)."""
    texts = [
        str(part.get("text") or "")
        for item in body.get("contents") or []
        if isinstance(item, dict)
        for part in item.get("parts") or []
        if isinstance(part, dict)
    ]
    prompt = content.tokens(texts)
    if mode in ("empty", "blocked"):
        result: dict[str, Any] = {"usageMetadata": usage(prompt, final=False), **stamp}
        if mode == "blocked":
            result["promptFeedback"] = {"blockReason": "SAFETY"}
        return result
    audio = {"inlineData": {"mimeType": MIME_TYPE, "data": base64.b64encode(tone()).decode()}}
    # Gemini counts audio output at 25 tokens a second.
    meta = usage(prompt, int(25 * TONE_SECONDS))
    meta["candidatesTokensDetails"] = [{"modality": "AUDIO", "tokenCount": int(25 * TONE_SECONDS)}]
    candidate = {
        "content": {"parts": [audio], "role": "model"},
        "finishReason": "STOP",
        "index": 0,
    }
    return {"candidates": [candidate], "usageMetadata": meta, **stamp}
