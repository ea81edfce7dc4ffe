"""``POST /v1/audio/speech``: the openai client's text-to-speech through Balancer, over Gemini's
TTS models on the fake upstream, and passed through to an OpenAI-kind pool."""
from __future__ import annotations

import io
import wave

import pytest
import sqlalchemy as sa

from balancer.extensions import db
from balancer.models import Pool, RequestLog
from balancer.services import keys as key_service
from balancer.services import pools as pool_service
from tests.conftest import TOKEN
from tests.fake_upstream import make_key
from tests.fake_upstream.tts import RATE, tone

TTS = "gemini-2.5-flash-preview-tts"


@pytest.fixture
def openai_client(app):
    """The official openai client, speaking to Balancer in process."""
    import httpx2
    import openai

    http = httpx2.Client(transport=httpx2.WSGITransport(app=app))
    return openai.OpenAI(base_url="http://localhost/v1", api_key=TOKEN, max_retries=0,
                         http_client=http)


def speech_config(sent: dict) -> dict:
    return sent["body"]["generationConfig"]["speechConfig"]


def test_the_openai_client_gets_a_valid_wav_from_a_gemini_tts_model(openai_client, keys,
                                                                    upstream):
    keys(1)
    got = openai_client.audio.speech.create(model="tts-1", voice="alloy", input="Hello there",
                                            response_format="wav")
    assert got.response.headers["content-type"] == "audio/wav"
    audio = got.read()
    assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"
    with wave.open(io.BytesIO(audio)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, RATE)
        pcm = tone()
        assert reader.getnframes() == len(pcm) // 2
        assert reader.readframes(reader.getnframes()) == pcm
    assert len(audio) == 44 + len(pcm)
    sent = upstream.requests[-1]
    assert sent["path"].endswith(f"/models/{TTS}:generateContent")
    assert sent["body"]["generationConfig"]["responseModalities"] == ["AUDIO"]
    assert speech_config(sent) == {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}}
    assert sent["body"]["contents"] == [{"role": "user", "parts": [{"text": "Hello there"}]}]


def test_wav_is_the_default_and_instructions_lead_the_text(openai_client, keys, upstream):
    keys(1)
    got = openai_client.audio.speech.create(model="gpt-4o-mini-tts", voice="shimmer",
                                            input="Have a nice day",
                                            instructions="Say cheerfully")
    assert got.response.headers["content-type"] == "audio/wav"
    assert got.read()[:4] == b"RIFF"
    sent = upstream.requests[-1]
    assert speech_config(sent)["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"] == "Achernar"
    assert sent["body"]["contents"][0]["parts"][0]["text"] == "Say cheerfully:\nHave a nice day"


def test_pcm_is_the_raw_samples_and_a_gemini_voice_and_model_go_as_they_are(
        openai_client, keys, upstream):
    keys(1)
    got = openai_client.audio.speech.create(model="gemini-2.5-pro-preview-tts", voice="Puck",
                                            input="hi", response_format="pcm", speed=1.0)
    assert got.response.headers["content-type"] == "audio/pcm"
    assert got.read() == tone()
    sent = upstream.requests[-1]
    assert sent["path"].endswith("/models/gemini-2.5-pro-preview-tts:generateContent")
    assert speech_config(sent)["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"] == "Puck"


def test_tts_1_hd_goes_to_the_pro_tts_model_the_pool_lists(app, rt, openai_client, keys,
                                                           upstream):
    keys(1)
    with app.app_context():
        from balancer.services import models as model_service
        model_service.refresh_models(rt, rt.catalog.default_pool().id)
    assert "gemini-2.5-pro-preview-tts" in rt.catalog.default_pool().models
    openai_client.audio.speech.create(model="tts-1-hd", voice="onyx", input="hi",
                                      response_format="pcm")
    assert upstream.requests[-1]["path"].endswith("/models/gemini-2.5-pro-preview-tts"
                                                  ":generateContent")


@pytest.mark.parametrize("change, param, says", [
    ({"voice": "bob"}, "voice", "not a voice"),
    ({"response_format": "mp3"}, "response_format", "wav or pcm"),
    ({"response_format": "flac"}, "response_format", "wav or pcm"),
    ({"speed": 1.25}, "speed", "no speed setting"),
    ({"input": ""}, "input", "non-empty"),
])
def test_what_gemini_cannot_do_is_a_400_in_openais_shape(openai_client, keys, upstream,
                                                         change, param, says):
    import openai

    keys(1)
    args = {"model": "tts-1", "voice": "alloy", "input": "hello", **change}
    with pytest.raises(openai.BadRequestError) as err:
        openai_client.audio.speech.create(**args)
    assert err.value.status_code == 400
    assert err.value.param == param and says in err.value.message
    assert err.value.body["type"] == "invalid_request_error"
    assert upstream.requests == []


def test_a_rate_limited_key_is_passed_over_and_the_request_is_counted(app, rt, client, auth,
                                                                      keys, upstream):
    limited, good = keys(2)
    upstream.set_key(limited, "rate_minute", models=[TTS])
    for _ in range(3):
        resp = client.post("/v1/audio/speech", headers=auth,
                           json={"model": "tts-1", "voice": "nova", "input": "hello",
                                 "response_format": "pcm"})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert resp.mimetype == "audio/pcm" and resp.get_data() == tone()
    assert upstream.count(key=limited) == 1 and upstream.count(key=good) == 3
    rt.services.flush()
    with app.app_context():
        rows = db.session.scalars(sa.select(RequestLog).order_by(RequestLog.id)).all()
    assert [(r.api_format, r.route, r.model, r.status) for r in rows] == \
        [("openai", "audio.speech", TTS, 200)] * 3
    assert rows[0].attempts == 2 and rows[1].attempts == 1
    assert rows[0].tokens_out > 0


def test_the_openai_prefix_serves_speech_and_no_audio_is_a_400(client, auth, keys, upstream):
    made = keys(1)
    upstream.set_key(made[0], "blocked")
    resp = client.post("/openai/v1/audio/speech", headers=auth,
                       json={"model": "tts-1", "voice": "alloy", "input": "hello"})
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["code"] == "untranslatable_answer" and "blocked (SAFETY)" in error["message"]


@pytest.fixture
def provider_pool(app, rt, upstream):
    """An ``openai`` pool named "prov" on the fake's OpenAI provider, with 2 keys."""
    with app.app_context():
        pool = Pool(name="prov", kind="openai", base_url=f"{upstream.url}/openai/v1", overrides={})
        db.session.add(pool)
        db.session.commit()
        made = [make_key("prov", i, openai=True) for i in range(2)]
        key_service.add_keys(rt, made, pool)
        pool_service.load_catalog(rt)
    return made


def test_an_openai_kind_pool_gets_the_request_as_sent_and_its_audio_comes_back(
        openai_client, keys, provider_pool, upstream):
    keys(1)
    dead, _ = provider_pool
    upstream.set_key(dead, "rate_minute", times=1)
    got = openai_client.audio.speech.create(model="prov/tts-1", voice="alloy", input="hello",
                                            response_format="mp3", speed=1.5)
    assert got.response.headers["content-type"] == "audio/mpeg"
    assert got.read().startswith(b"FAKE-mp3-")
    sent = upstream.requests[-1]
    assert sent["flavour"] == "provider" and sent["path"].endswith("/audio/speech")
    assert sent["body"] == {"model": "tts-1", "voice": "alloy", "input": "hello",
                            "response_format": "mp3", "speed": 1.5}
    wav = openai_client.audio.speech.create(model="prov/tts-1", voice="alloy", input="hello",
                                            response_format="wav")
    with wave.open(io.BytesIO(wav.read())) as reader:
        assert reader.getframerate() == RATE
