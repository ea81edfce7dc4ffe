"""The fake's TTS models and the provider's ``audio/speech``, over real HTTP on loopback."""

from __future__ import annotations

import base64
import io
import wave

import pytest
import requests

from tests.fake_upstream import make_key

TTS = "gemini-2.5-flash-preview-tts"


def speak(fake, key, model=TTS, voice="Kore", modalities=("AUDIO",), action="generateContent"):
    config = {"responseModalities": list(modalities)}
    if voice is not None:
        config["speechConfig"] = {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice}}}
    body = {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}],
            "generationConfig": config}
    return requests.post(f"{fake.url}/v1beta/models/{model}:{action}",
                         headers={"x-goog-api-key": key}, json=body)


def test_a_tts_model_answers_base64_pcm_with_its_rate_in_the_mime_type(fake, key):
    resp = speak(fake, key)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    part = answer["candidates"][0]["content"]["parts"][0]["inlineData"]
    assert part["mimeType"] == "audio/L16;codec=pcm;rate=24000"
    pcm = base64.b64decode(part["data"])
    assert len(pcm) == 2 * 6000  # 0.25 s of 16-bit mono at 24 kHz
    samples = [int.from_bytes(pcm[i:i + 2], "little", signed=True) for i in range(0, 200, 2)]
    assert max(samples) > 5000 and min(samples) < -5000  # a tone, not silence
    assert answer["candidates"][0]["finishReason"] == "STOP"
    assert answer["usageMetadata"]["candidatesTokensDetails"][0]["modality"] == "AUDIO"


def audio_of(resp) -> str:
    assert resp.status_code == 200, resp.text
    return resp.json()["candidates"][0]["content"]["parts"][0]["inlineData"]["mimeType"]


def test_the_pro_tts_model_and_lower_case_voices_are_served(fake, key):
    pcm = "audio/L16;codec=pcm;rate=24000"
    assert audio_of(speak(fake, key, model="gemini-2.5-pro-preview-tts", voice="puck")) == pcm
    assert audio_of(speak(fake, key, voice=None)) == pcm


@pytest.mark.parametrize("model, voice, modalities, says", [
    (TTS, "Kore", ("TEXT",), "only supports AUDIO"),
    (TTS, "Kore", ("TEXT", "AUDIO"), "only supports AUDIO"),
    (TTS, "alloy", ("AUDIO",), "Voice name alloy"),
    ("gemini-2.5-flash", None, ("AUDIO",), "response modalities: audio"),
])
def test_what_a_model_cannot_speak_is_400(fake, key, model, voice, modalities, says):
    resp = speak(fake, key, model=model, voice=voice, modalities=modalities)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and says in error["message"]


def test_scripted_modes_apply_to_tts(fake, key):
    fake.set_key(key, "rate_minute", times=1, models=[TTS])
    assert speak(fake, key).status_code == 429
    assert audio_of(speak(fake, key)).startswith("audio/L16")
    fake.set_key(key, "empty")
    assert "candidates" not in speak(fake, key).json()


def test_a_streamed_tts_answer_carries_the_audio(fake, key):
    resp = requests.post(f"{fake.url}/v1beta/models/{TTS}:streamGenerateContent?alt=sse",
                         headers={"x-goog-api-key": key},
                         json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                               "generationConfig": {"responseModalities": ["AUDIO"]}})
    assert resp.status_code == 200 and b"audio/L16;codec=pcm;rate=24000" in resp.content


@pytest.mark.parametrize("fmt, content_type", [("wav", "audio/wav"), ("pcm", "audio/pcm"),
                                               (None, "audio/mpeg")])
def test_the_provider_answers_audio_speech_with_bytes(fake, fmt, content_type):
    key = make_key("prov-tts", 1, openai=True)
    body = {"model": "tts-1", "input": "hello", "voice": "alloy"}
    if fmt:
        body["response_format"] = fmt
    resp = requests.post(f"{fake.url}/openai/v1/audio/speech",
                         headers={"Authorization": f"Bearer {key}"}, json=body)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == content_type
    if fmt == "wav":
        with wave.open(io.BytesIO(resp.content)) as reader:
            assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == \
                (1, 2, 24000)
    unknown = requests.post(f"{fake.url}/openai/v1/audio/speech",
                            headers={"Authorization": f"Bearer {key}"},
                            json={**body, "model": "tts-9"})
    assert unknown.status_code == 404


def test_geminis_openai_layer_has_no_audio_speech(fake, key):
    resp = requests.post(f"{fake.url}/v1beta/openai/audio/speech",
                         headers={"Authorization": f"Bearer {key}"},
                         json={"model": TTS, "input": "hello", "voice": "Kore"})
    assert resp.status_code == 404
