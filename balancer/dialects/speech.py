"""OpenAI ``POST /v1/audio/speech`` on Gemini's own API: ``generateContent`` with audio output.

Request: ``input`` -> one user text part; ``voice`` -> ``speechConfig.voiceConfig.
prebuiltVoiceConfig.voiceName`` (an OpenAI voice through ``OPENAI_VOICES``, a Gemini voice
name as it is, in any case); ``generationConfig.responseModalities: ["AUDIO"]``;
``instructions`` -> put before the text as a style prompt, the way Gemini's speech guide
writes one ("Say cheerfully: Have a wonderful day!"): ``<instructions>:\\n<input>``.
``response_format`` ``wav`` (the default here: OpenAI's default, mp3, needs an encoder
Balancer does not carry) or ``pcm``; ``mp3``, ``opus``, ``aac`` and ``flac`` are refused.
``speed``: Gemini has no speed setting, so anything but 1.0 is refused (the pace can be
asked for in ``instructions``). ``stream_format`` ``audio`` is what Balancer sends anyway;
``sse`` is refused. A custom voice object (``{"id": "voice_…"}``), an unknown voice and
unknown fields are refused. Every refusal is an ``Untranslatable`` naming the field.

Answer: the ``inlineData`` audio parts of the first candidate, in order. Gemini's TTS
models send headerless 16-bit little-endian PCM as ``audio/L16;codec=pcm;rate=24000``
(the rate and, if given, ``channels`` are read from the MIME type); a ``audio/wav`` part
(which later TTS models are said to send) is unwrapped to its PCM. ``pcm`` hands the
samples on as they are; ``wav`` puts a 44-byte RIFF header before them.

Model names (``model_for``): OpenAI's ``tts-1`` and ``gpt-4o-mini-tts…`` go to the newest
Gemini ``flash`` TTS model a pool lists, ``tts-1-hd`` to the newest ``pro`` one (else the
flash one); a pool whose list holds none gets ``DEFAULT_MODEL``. Gemini names pass as they are.

Lossy points (⚠): ``speed``; voices are a mapping by description, not the same voices;
only 24 kHz-style PCM or WAV comes back, no compressed format.
"""
from __future__ import annotations

import base64
import binascii
import io
import re
import struct
import wave
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from balancer.dialects.errors import Untranslatable
from balancer.text import quoted

#: The Gemini model OpenAI's TTS names go to when a pool lists no TTS model.
DEFAULT_MODEL = "gemini-2.5-flash-preview-tts"
#: OpenAI's TTS model names (a dated ``gpt-4o-mini-tts-…`` counts too).
OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")

#: Gemini's 30 prebuilt voices (speech-generation guide), in their own spelling.
GEMINI_VOICES = (
    "Zephyr", "Puck", "Charon", "Kore", "Fenrir", "Leda", "Orus", "Aoede", "Callirrhoe",
    "Autonoe", "Enceladus", "Iapetus", "Umbriel", "Algieba", "Despina", "Erinome", "Algenib",
    "Rasalgethi", "Laomedeia", "Achernar", "Alnilam", "Schedar", "Gacrux", "Pulcherrima",
    "Achird", "Zubenelgenubi", "Vindemiatrix", "Sadachbia", "Sadaltager", "Sulafat")
_BY_LOWER = {name.lower(): name for name in GEMINI_VOICES}

#: OpenAI voice -> the Gemini voice whose description (Google's guide) comes nearest to it.
OPENAI_VOICES = {
    "alloy": "Kore",           # neutral, balanced -> Firm
    "ash": "Iapetus",          # clear, male -> Clear
    "ballad": "Algieba",       # soft-spoken, male -> Smooth
    "coral": "Sulafat",        # warm, female -> Warm
    "echo": "Charon",          # resonant, male -> Informative
    "fable": "Fenrir",         # expressive storyteller -> Excitable
    "onyx": "Orus",            # deep, authoritative -> Firm
    "nova": "Zephyr",          # bright, female -> Bright
    "sage": "Vindemiatrix",    # calm, female -> Gentle
    "shimmer": "Achernar",     # soft, female -> Soft
    "verse": "Puck",           # lively, versatile -> Upbeat
    "marin": "Despina",        # natural, female -> Smooth
    "cedar": "Schedar",        # natural, male -> Even
}

#: response_format -> the Content-Type of the answer.
CONTENT_TYPES = {"wav": "audio/wav", "pcm": "audio/pcm"}
_NEEDS_ENCODER = ("mp3", "opus", "aac", "flac")
_KNOWN = frozenset({"model", "input", "voice", "response_format", "speed", "instructions",
                    "stream_format", "user"})
_VERSION = re.compile(r"gemini-(\d+(?:\.\d+)?)")
#: Gemini's PCM: 16-bit samples; a MIME type without a rate means 24 kHz.
SAMPLE_WIDTH = 2
DEFAULT_RATE = 24000
#: Bounds that keep a header's fields in range (a MIME type's numbers are the upstream's).
MAX_RATE, MAX_CHANNELS = 384000, 8


@dataclass(frozen=True)
class SpeechContext:
    """What the answer translation needs of the request."""

    format: str

    @property
    def content_type(self) -> str:
        """The Content-Type of the audio the client gets."""
        return CONTENT_TYPES[self.format]


def is_openai_model(name: str) -> bool:
    """Whether ``name`` is one of OpenAI's TTS models."""
    return name in OPENAI_MODELS or name.startswith("gpt-4o-mini-tts")


def model_for(name: str, listed: Iterable[str]) -> str:
    """The Gemini TTS model that serves the OpenAI TTS model ``name``, of a pool's ``listed``
    models: ``tts-1-hd`` the newest ``pro`` TTS model, else (and for the others) the newest
    ``flash`` one, else any TTS model; ``DEFAULT_MODEL`` when the pool lists none."""
    tts = [m for m in listed if "tts" in m and m.startswith("gemini-")]
    tiers = ("pro", "flash") if name == "tts-1-hd" else ("flash",)
    for tier in tiers:
        matching = [m for m in tts if f"-{tier}-" in m and "lite" not in m]
        if matching:
            return max(matching, key=_rank)
    return max(tts, key=_rank) if tts else DEFAULT_MODEL


def _rank(name: str) -> tuple[float, int, int]:
    match = _VERSION.match(name)
    stable = 0 if "preview" in name or "exp" in name else 1
    return float(match.group(1)) if match else 0.0, stable, -len(name)


def voice_name(voice: Any) -> str:
    """The Gemini voice for an OpenAI ``voice``.

    :raises Untranslatable: for a custom voice object or a voice Gemini does not have.
    """
    if isinstance(voice, dict):
        raise Untranslatable("Custom voices ('voice.id') have no counterpart in Gemini's "
                             "speech models; use a built-in voice name.", "voice")
    if not isinstance(voice, str) or not voice.strip():
        raise Untranslatable("'voice' is required and must be a voice name.", "voice")
    lowered = voice.strip().lower()
    found = OPENAI_VOICES.get(lowered) or _BY_LOWER.get(lowered)
    if found is None:
        raise Untranslatable(
            f"'voice' {quoted(voice)} is not a voice Balancer knows: use one of OpenAI's "
            f"({', '.join(OPENAI_VOICES)}) or one of Gemini's ({', '.join(GEMINI_VOICES)}).",
            "voice")
    return found


def to_native(body: dict, *, model: str = "") -> tuple[dict, SpeechContext]:
    """(the ``generateContent`` body, context) for an OpenAI speech ``body``.

    :param model: the Gemini model the body goes to (not part of the body).
    :raises Untranslatable: naming the field Gemini cannot be given.
    """
    if not isinstance(body, dict):
        raise Untranslatable("The request body must be a JSON object.")
    for key in body:
        if key not in _KNOWN:
            raise Untranslatable(f"{quoted(key)} has no counterpart in Gemini speech "
                                 "generation.", key)
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise Untranslatable("'input' must be a non-empty string.", "input")
    voice = voice_name(body.get("voice"))
    fmt = _format(body.get("response_format"))
    _check_speed(body.get("speed"))
    if body.get("stream_format") not in (None, "audio"):
        raise Untranslatable(f"'stream_format' {quoted(body['stream_format'])} is not "
                             "available: Balancer sends the audio itself (audio).",
                             "stream_format")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise Untranslatable("'instructions' must be a string.", "instructions")
    if instructions and instructions.strip():
        # Gemini's guide steers the voice with a lead-in before the text ("Say cheerfully: …").
        text = f"{instructions.strip().rstrip('.:;')}:\n{text}"
    native = {"contents": [{"role": "user", "parts": [{"text": text}]}],
              "generationConfig": {
                  "responseModalities": ["AUDIO"],
                  "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice}}}}}
    return native, SpeechContext(fmt)


def _format(value: Any) -> str:
    if value is None:
        return "wav"
    if value in CONTENT_TYPES:
        return value
    if value in _NEEDS_ENCODER:
        raise Untranslatable(
            f"'response_format' {quoted(value)} is not available: Gemini's speech models send "
            "raw PCM and Balancer has no encoder for it; ask for wav or pcm.", "response_format")
    raise Untranslatable(f"'response_format' {quoted(value)} is not one of mp3, opus, aac, "
                         "flac, wav, pcm.", "response_format")


def _check_speed(speed: Any) -> None:
    if speed is None:
        return
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4:
        raise Untranslatable("'speed' must be a number from 0.25 to 4.0.", "speed")
    if speed != 1:
        raise Untranslatable(f"'speed' {speed} is not available: Gemini's speech models have no "
                             "speed setting. Leave it at 1.0 and ask for the pace in "
                             "'instructions' (e.g. \"Speak quickly\").", "speed")


def to_audio(native: Any, ctx: SpeechContext) -> bytes:
    """The audio the client gets for a ``generateContent`` answer.

    :raises Untranslatable: when the answer holds no audio Balancer can hand on, saying why.
    """
    native = native if isinstance(native, dict) else {}
    pcm, rate, channels = b"", DEFAULT_RATE, 1
    found = False
    reason = None
    candidates = native.get("candidates")
    first = candidates[0] if isinstance(candidates, list) and candidates else None
    if isinstance(first, dict):
        reason = first.get("finishReason")
        content = first.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else ():
            inline = part.get("inlineData") if isinstance(part, dict) else None
            if not isinstance(inline, dict) or not inline.get("data"):
                continue
            mime = str(inline.get("mimeType") or "")
            if not mime.lower().startswith("audio/"):
                continue
            samples, rate, channels = _pcm_of(mime, inline["data"])
            pcm += samples
            found = True
    if not found:
        feedback = native.get("promptFeedback")
        block = feedback.get("blockReason") if isinstance(feedback, dict) else None
        why = f"the input was blocked ({block})" if block else \
            f"finish reason {reason}" if reason else "no candidates"
        raise Untranslatable(f"The model returned no audio: {why}.", "input")
    if ctx.format == "pcm":
        return pcm
    return wav_header(len(pcm), rate, channels) + pcm


def _pcm_of(mime: str, data: Any) -> tuple[bytes, int, int]:
    """(samples, rate, channels) of one audio part."""
    try:
        raw = base64.b64decode(str(data), validate=False)
    except (binascii.Error, ValueError):
        raise Untranslatable("The model's audio is not valid base64.", "input") from None
    kind, _, params = mime.partition(";")
    kind = kind.strip().lower()
    if kind in ("audio/wav", "audio/x-wav", "audio/wave"):
        try:
            with wave.open(io.BytesIO(raw)) as reader:
                if reader.getsampwidth() != SAMPLE_WIDTH \
                        or not 0 < reader.getframerate() <= MAX_RATE \
                        or not 0 < reader.getnchannels() <= MAX_CHANNELS:
                    raise Untranslatable("The model's WAV audio is not 16-bit PCM Balancer "
                                         "can hand on.", "input")
                return (reader.readframes(reader.getnframes()), reader.getframerate(),
                        reader.getnchannels())
        except (wave.Error, EOFError):
            raise Untranslatable("The model's WAV audio cannot be read.", "input") from None
    if kind not in ("audio/l16", "audio/pcm"):
        raise Untranslatable(f"The model answered {quoted(mime)} audio, which Balancer cannot "
                             "hand on as wav or pcm.", "input")
    # Gemini's L16 is little-endian, unlike RFC 2586's network order: the bytes go on as sent.
    fields = dict(_param(p) for p in params.split(";") if "=" in p)
    return (raw, _positive(fields.get("rate"), DEFAULT_RATE, MAX_RATE),
            _positive(fields.get("channels"), 1, MAX_CHANNELS))


def _param(text: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    return name.strip().lower(), value.strip()


def _positive(value: Optional[str], default: int, top: int) -> int:
    """A whole number from 1 to ``top`` (what a WAV header can hold), else ``default``."""
    ok = value is not None and value.isascii() and value.isdigit() and 0 < int(value) <= top
    return int(value) if ok else default  # type: ignore[arg-type]


def wav_header(data_length: int, rate: int, channels: int = 1,
               sample_width: int = SAMPLE_WIDTH) -> bytes:
    """The 44-byte RIFF/WAVE header (PCM ``fmt `` chunk, then the ``data`` chunk's head) for
    ``data_length`` bytes of samples."""
    block = channels * sample_width
    return (b"RIFF" + struct.pack("<I", 36 + data_length) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block,
                                    8 * sample_width)
            + b"data" + struct.pack("<I", data_length))
