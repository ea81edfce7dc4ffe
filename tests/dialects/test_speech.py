"""OpenAI text-to-speech -> generateContent with audio output, and the audio back."""
from __future__ import annotations

import base64
import io
import struct
import wave

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balancer.dialects import Untranslatable, speech


def _native(text: str, voice: str) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}],
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice}}}}}


SPEECH_GOLDEN = [
    ("an OpenAI voice", {"model": "tts-1", "input": "Hello there", "voice": "alloy"},
     _native("Hello there", "Kore"), "wav"),
    ("a Gemini voice in any case, pcm, speed 1",
     {"model": "gemini-2.5-flash-preview-tts", "input": "Hi", "voice": "puck",
      "response_format": "pcm", "speed": 1.0, "stream_format": "audio", "user": "u"},
     _native("Hi", "Puck"), "pcm"),
    ("instructions lead the text as a style prompt",
     {"model": "gpt-4o-mini-tts", "input": "Have a wonderful day!", "voice": "Coral",
      "instructions": "Say cheerfully.", "response_format": "wav"},
     _native("Say cheerfully:\nHave a wonderful day!", "Sulafat"), "wav"),
    ("blank instructions are none",
     {"model": "tts-1", "input": "x", "voice": "nova", "instructions": "  "},
     _native("x", "Zephyr"), "wav"),
]


@pytest.mark.parametrize("body, expected, fmt", [c[1:] for c in SPEECH_GOLDEN],
                         ids=[c[0] for c in SPEECH_GOLDEN])
def test_speech_requests(body, expected, fmt):
    native, ctx = speech.to_native(body, model="gemini-2.5-flash-preview-tts")
    assert native == expected
    assert ctx.format == fmt
    assert ctx.content_type == {"wav": "audio/wav", "pcm": "audio/pcm"}[fmt]


def test_every_openai_voice_maps_to_a_gemini_voice():
    for openai_voice, gemini_voice in speech.OPENAI_VOICES.items():
        assert speech.voice_name(openai_voice) == gemini_voice
        assert gemini_voice in speech.GEMINI_VOICES
    assert set(speech.OPENAI_VOICES) >= {"alloy", "ash", "ballad", "coral", "echo", "fable",
                                         "onyx", "nova", "sage", "shimmer", "verse"}
    assert len(speech.GEMINI_VOICES) == 30


@pytest.mark.parametrize("change, param, says", [
    ({"voice": "bob"}, "voice", "not a voice"),
    ({"voice": {"id": "voice_123"}}, "voice", "Custom voices"),
    ({"voice": None}, "voice", "required"),
    ({"response_format": "mp3"}, "response_format", "no encoder"),
    ({"response_format": "opus"}, "response_format", "wav or pcm"),
    ({"response_format": "ogg"}, "response_format", "not one of"),
    ({"speed": 1.5}, "speed", "no speed setting"),
    ({"speed": 9}, "speed", "0.25 to 4.0"),
    ({"speed": "fast"}, "speed", "0.25 to 4.0"),
    ({"input": ""}, "input", "non-empty"),
    ({"input": 5}, "input", "non-empty"),
    ({"stream_format": "sse"}, "stream_format", "not available"),
    ({"instructions": 3}, "instructions", "string"),
    ({"temperature": 1}, "temperature", "no counterpart"),
])
def test_what_gemini_cannot_do_is_refused_naming_the_field(change, param, says):
    body = {"model": "tts-1", "input": "hello", "voice": "alloy", **change}
    with pytest.raises(Untranslatable) as caught:
        speech.to_native(body, model="gemini-2.5-flash-preview-tts")
    assert caught.value.param == param and says in caught.value.message


@pytest.mark.parametrize("name, listed, expected", [
    ("tts-1", [], speech.DEFAULT_MODEL),
    ("tts-1-hd", ["gemini-2.5-flash"], speech.DEFAULT_MODEL),
    ("tts-1", ["gemini-2.5-flash-preview-tts", "gemini-2.5-pro-preview-tts"],
     "gemini-2.5-flash-preview-tts"),
    ("tts-1-hd", ["gemini-2.5-flash-preview-tts", "gemini-2.5-pro-preview-tts"],
     "gemini-2.5-pro-preview-tts"),
    ("tts-1-hd", ["gemini-2.5-flash-preview-tts"], "gemini-2.5-flash-preview-tts"),
    ("gpt-4o-mini-tts-2025-12-15", ["gemini-2.5-flash-preview-tts", "gemini-3.1-flash-tts-preview",
                                    "gemini-3.8-flash-tts", "gemini-3.8-flash-lite-tts"],
     "gemini-3.8-flash-tts"),
])
def test_openai_model_names_pick_a_tts_model_the_pool_lists(name, listed, expected):
    assert speech.is_openai_model(name)
    assert speech.model_for(name, listed) == expected


def test_gemini_model_names_are_not_openai_ones():
    assert not speech.is_openai_model("gemini-2.5-flash-preview-tts")


def _answer(*parts, finish="STOP") -> dict:
    return {"candidates": [{"content": {"role": "model", "parts": list(parts)},
                            "finishReason": finish}]}


def _audio(pcm: bytes, mime: str = "audio/L16;codec=pcm;rate=24000") -> dict:
    return {"inlineData": {"mimeType": mime, "data": base64.b64encode(pcm).decode()}}


PCM = struct.pack("<4h", 0, 1000, -1000, 32767)


def test_wav_is_the_pcm_behind_a_44_byte_riff_header():
    out = speech.to_audio(_answer(_audio(PCM)), speech.SpeechContext("wav"))
    assert out[:4] == b"RIFF" and out[8:12] == b"WAVE" and len(out) == 44 + len(PCM)
    assert out[44:] == PCM
    with wave.open(io.BytesIO(out)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == \
            (1, 2, 24000)
        assert reader.getnframes() == len(PCM) // 2
        assert reader.readframes(reader.getnframes()) == PCM


def test_the_header_matches_what_the_wave_module_writes():
    buf = io.BytesIO()
    with wave.open(buf, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(24000)
        writer.writeframes(PCM)
    assert speech.wav_header(len(PCM), 24000) + PCM == buf.getvalue()


def test_the_rate_and_channels_come_from_the_mime_type():
    answer = _answer(_audio(PCM, "audio/L16;codec=pcm;rate=16000;channels=2"))
    with wave.open(io.BytesIO(speech.to_audio(answer, speech.SpeechContext("wav")))) as reader:
        assert (reader.getframerate(), reader.getnchannels()) == (16000, 2)


def test_pcm_is_the_samples_as_sent_and_parts_are_joined():
    answer = _answer({"text": "ignored"}, _audio(PCM), _audio(PCM[:4]))
    assert speech.to_audio(answer, speech.SpeechContext("pcm")) == PCM + PCM[:4]


def test_a_wav_part_from_the_model_is_unwrapped():
    wav = speech.wav_header(len(PCM), 48000) + PCM
    answer = _answer(_audio(wav, "audio/wav"))
    assert speech.to_audio(answer, speech.SpeechContext("pcm")) == PCM
    with wave.open(io.BytesIO(speech.to_audio(answer, speech.SpeechContext("wav")))) as reader:
        assert reader.getframerate() == 48000


@pytest.mark.parametrize("answer, says", [
    ({"promptFeedback": {"blockReason": "SAFETY"}}, "blocked (SAFETY)"),
    (_answer({"text": "no"}, finish="OTHER"), "finish reason OTHER"),
    ({}, "no candidates"),
    (_answer(_audio(PCM, "audio/mpeg")), "audio/mpeg"),
])
def test_an_answer_without_usable_audio_says_why(answer, says):
    with pytest.raises(Untranslatable) as caught:
        speech.to_audio(answer, speech.SpeechContext("wav"))
    assert says in caught.value.message


SPEECH_FIELDS = ["model", "input", "voice", "response_format", "speed", "instructions",
                 "stream_format", "user", "other"]
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                     st.text(max_size=20), st.sampled_from(["alloy", "Kore", "wav", "pcm", 1.0]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(body=st.dictionaries(st.sampled_from(SPEECH_FIELDS), _VALUES, max_size=7))
def test_any_request_is_translated_or_refused_naming_a_field(body):
    try:
        native, ctx = speech.to_native(body, model="gemini-2.5-flash-preview-tts")
    except Untranslatable as exc:
        assert exc.message
        return
    assert native["generationConfig"]["responseModalities"] == ["AUDIO"]
    assert ctx.format in ("wav", "pcm")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(answer=_VALUES, mime=st.one_of(st.text(max_size=40), st.sampled_from([
    "audio/L16;codec=pcm;rate=x", "audio/L16;rate=0;channels=-1", "audio/L16;rate=\u00b2",
    "audio/L16;rate=99999999999;channels=70000", "audio/wav", "audio/pcm"])),
    data=st.one_of(st.text(max_size=40), st.binary(max_size=40).map(
        lambda b: base64.b64encode(b).decode())))
def test_any_answer_gives_audio_or_says_why(answer, mime, data):
    for doc in (answer, _answer({"inlineData": {"mimeType": mime, "data": data}})):
        try:
            out = speech.to_audio(doc, speech.SpeechContext("wav"))
        except Untranslatable as exc:
            assert exc.message
            continue
        assert out[:4] == b"RIFF"
