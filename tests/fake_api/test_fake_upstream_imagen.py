"""The fake's Imagen ``:predict`` and ``candidateCount``, over real HTTP on loopback."""

from __future__ import annotations

import base64

import pytest
import requests


IMAGEN = "imagen-4.0-generate-001"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def predict(fake, key, body=None, model=IMAGEN, **parameters):
    """POST ``models/{model}:predict`` with a prompt and ``parameters``."""
    if body is None:
        body = {"instances": [{"prompt": "a pelican"}], "parameters": parameters}
    return requests.post(f"{fake.url}/v1beta/models/{model}:predict",
                         headers={"x-goog-api-key": key}, json=body)


def test_predict_draws_sample_count_pngs(fake, key):
    resp = predict(fake, key, sampleCount=2, aspectRatio="16:9", sampleImageSize="2K",
                   outputOptions={"mimeType": "image/jpeg", "compressionQuality": 80},
                   includeRaiReason=True, personGeneration="ALLOW_ADULT")
    assert resp.status_code == 200, resp.text
    predictions = resp.json()["predictions"]
    assert len(predictions) == 2
    for item in predictions:
        assert item["mimeType"] == "image/png"
        assert base64.b64decode(item["bytesBase64Encoded"]).startswith(PNG_SIGNATURE)
    assert fake.count(key=key, path_contains=":predict") == 1


def test_predict_draws_four_unless_told_as_imagen_does(fake, key):
    answer = predict(fake, key, body={"instances": [{"prompt": "p"}]}).json()
    assert len(answer["predictions"]) == 4


def test_safety_attributes_come_with_each_image_and_the_prompt(fake, key):
    answer = predict(fake, key, sampleCount=1, includeSafetyAttributes=True).json()
    predictions = answer["predictions"]
    assert "safetyAttributes" in predictions[0] and predictions[0]["bytesBase64Encoded"]
    assert predictions[1] == {"safetyAttributes": {"categories": [], "scores": []},
                              "contentType": "Positive Prompt"}


@pytest.mark.parametrize("parameters, says", [
    ({"sampleCount": 5}, "sampleCount"),
    ({"sampleCount": 0}, "sampleCount"),
    ({"sampleCount": "2"}, "sampleCount"),
    ({"negativePrompt": "dogs"}, 'Unknown parameter "negativePrompt"'),
    ({"seed": 7}, 'Unknown parameter "seed"'),
    ({"aspectRatio": "3:2"}, "aspectRatio"),
    ({"sampleImageSize": "4K"}, "sampleImageSize"),
    ({"personGeneration": "allow_all"}, "personGeneration"),
    ({"safetySetting": "BLOCK_NONE"}, "safetySetting"),
    ({"outputOptions": {"mimeType": "image/webp"}}, "image/webp"),
])
def test_predict_refuses_a_bad_parameter_with_400(fake, key, parameters, says):
    resp = predict(fake, key, **parameters)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and says in error["message"]


@pytest.mark.parametrize("body, says", [
    ({"instances": [{"prompt": "p"}], "config": {}}, 'Unknown name "config"'),
    ({"parameters": {"sampleCount": 1}}, "instances"),
    ({"instances": [{"prompt": ""}]}, "prompt"),
])
def test_predict_refuses_a_bad_body_with_400(fake, key, body, says):
    resp = predict(fake, key, body=body)
    assert resp.status_code == 400 and says in resp.json()["error"]["message"]


@pytest.mark.parametrize("model, method", [
    ("gemini-2.5-flash-image", "predict"),
    ("gemini-2.5-flash", "predict"),
    (IMAGEN, "generateContent"),
    ("veo-3.0-generate-001", "predict"),
])
def test_a_method_the_model_does_not_offer_is_404(fake, key, model, method):
    body = {"instances": [{"prompt": "p"}]} if method == "predict" else \
        {"contents": [{"role": "user", "parts": [{"text": "p"}]}]}
    resp = requests.post(f"{fake.url}/v1beta/models/{model}:{method}",
                         headers={"x-goog-api-key": key}, json=body)
    assert resp.status_code == 404
    assert resp.json()["error"]["message"].startswith(
        f"models/{model} is not found for API version v1beta, or is not supported for {method}.")


def test_scripted_modes_apply_to_predict(fake, key):
    fake.set_key(key, "rate_minute", times=1, models=[IMAGEN])
    limited = predict(fake, key, sampleCount=1)
    assert limited.status_code == 429
    assert limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert predict(fake, key, sampleCount=1).status_code == 200
    fake.set_key(key, "invalid")
    assert predict(fake, key, sampleCount=1).status_code == 400


@pytest.mark.parametrize("mode, rai, expected", [
    ("blocked", True, {"predictions": [{"raiFilteredReason": (
        "Your current safety filter threshold filtered out 3 generated images. You will not be "
        "charged for blocked images. Try rephrasing the prompt. If you think this was an error, "
        "send feedback.")}]}),
    ("blocked", False, {}),
    ("empty", True, {}),
])
def test_blocked_and_empty_filter_out_every_image(fake, key, mode, rai, expected):
    fake.set_key(key, mode)
    resp = predict(fake, key, sampleCount=3, includeRaiReason=rai)
    assert resp.status_code == 200 and resp.json() == expected


def test_candidate_count_gives_that_many_candidates_each_with_its_image(fake, key):
    body = {"contents": [{"role": "user", "parts": [{"text": "a pelican"}]}],
            "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "candidateCount": 2}}
    resp = requests.post(f"{fake.url}/v1beta/models/gemini-2.5-flash-image:generateContent",
                         headers={"x-goog-api-key": key}, json=body)
    answer = resp.json()
    assert [c["index"] for c in answer["candidates"]] == [0, 1]
    for candidate in answer["candidates"]:
        assert candidate["content"]["parts"][-1]["inlineData"]["mimeType"] == "image/png"
    single = requests.post(f"{fake.url}/v1beta/models/gemini-2.5-flash-image:generateContent",
                           headers={"x-goog-api-key": key},
                           json={**body, "generationConfig": {"responseModalities": ["IMAGE"]}})
    usage, one = answer["usageMetadata"], single.json()["usageMetadata"]
    assert usage["candidatesTokenCount"] == 2 * one["candidatesTokenCount"]
