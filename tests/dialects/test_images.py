"""OpenAI image generation -> generateContent with image output, and the answers back."""
from __future__ import annotations

import pytest

from balancer.dialects import Untranslatable, images
from tests.dialects import sdk

IMAGE_GOLDEN = [
    ("prompt only",
     {"prompt": "a pelican", "model": "gemini-2.5-flash-image"},
     {"contents": [{"role": "user", "parts": [{"text": "a pelican"}]}],
      "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}}),
    ("n, a wide size, harmless defaults",
     {"prompt": "a pelican", "n": 2, "size": "1792x1024", "quality": "standard",
      "background": "auto", "output_format": "png", "moderation": "auto", "user": "u",
      "response_format": "url"},
     {"contents": [{"role": "user", "parts": [{"text": "a pelican"}]}],
      "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "candidateCount": 2,
                           "imageConfig": {"aspectRatio": "16:9"}}}),
    ("a portrait and a large square",
     {"prompt": "p", "size": "1024x1536"},
     {"contents": [{"role": "user", "parts": [{"text": "p"}]}],
      "generationConfig": {"responseModalities": ["TEXT", "IMAGE"],
                           "imageConfig": {"aspectRatio": "2:3"}}}),
    ("4K",
     {"prompt": "p", "size": "4096x4096"},
     {"contents": [{"role": "user", "parts": [{"text": "p"}]}],
      "generationConfig": {"responseModalities": ["TEXT", "IMAGE"],
                           "imageConfig": {"aspectRatio": "1:1", "imageSize": "4K"}}}),
]


@pytest.mark.parametrize("body,expected", [c[1:] for c in IMAGE_GOLDEN],
                         ids=[c[0] for c in IMAGE_GOLDEN])
def test_image_requests(body, expected):
    native, _ = images.to_native(body, model="gemini-2.5-flash-image")
    assert native == expected


IMAGE_ANSWER = {"candidates": [{"content": {"parts": [
    {"text": "Here is your pelican."},
    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]}, "finishReason": "STOP"}],
    "usageMetadata": {"promptTokenCount": 6, "candidatesTokenCount": 1290}}


def test_image_answer_as_b64_json_read_by_openai_python():
    _, ctx = images.to_native({"prompt": "p"}, model="m")
    out = images.to_openai(IMAGE_ANSWER, ctx, created=1700000000)
    assert out == {"created": 1700000000, "data": [{"b64_json": "iVBORw0KGgo="}],
                   "usage": {"input_tokens": 6, "output_tokens": 1290, "total_tokens": 1296,
                             "input_tokens_details": {"text_tokens": 6, "image_tokens": 0}}}
    got = sdk.client(out).images.generate(prompt="p", model="m")
    assert got.data[0].b64_json == "iVBORw0KGgo="


def test_image_answer_as_a_data_url():
    _, ctx = images.to_native({"prompt": "p", "response_format": "url"}, model="m")
    out = images.to_openai(IMAGE_ANSWER, ctx, created=1)
    assert out["data"] == [{"url": "data:image/png;base64,iVBORw0KGgo="}]


@pytest.mark.parametrize("native,reason", [
    ({"promptFeedback": {"blockReason": "SAFETY"}}, "the prompt was blocked (SAFETY)"),
    ({"candidates": [{"content": {"parts": [{"text": "I can't draw that."}]},
                      "finishReason": "IMAGE_SAFETY"}]}, "finish reason IMAGE_SAFETY"),
])
def test_an_answer_without_an_image_is_refused_with_gemini_reason(native, reason):
    _, ctx = images.to_native({"prompt": "p"}, model="m")
    with pytest.raises(Untranslatable) as caught:
        images.to_openai(native, ctx, created=1)
    assert reason in caught.value.message and caught.value.param == "prompt"


@pytest.mark.parametrize("body,param", [
    ({"prompt": ""}, "prompt"),
    ({"prompt": "p", "quality": "hd"}, "quality"),
    ({"prompt": "p", "style": "vivid"}, "style"),
    ({"prompt": "p", "background": "transparent"}, "background"),
    ({"prompt": "p", "output_format": "webp"}, "output_format"),
    ({"prompt": "p", "size": "1000x100"}, "size"),
    ({"prompt": "p", "size": "big"}, "size"),
    ({"prompt": "p", "response_format": "file"}, "response_format"),
    ({"prompt": "p", "stream": True}, "stream"),
    ({"prompt": "p", "mask": "x"}, "mask"),
])
def test_image_requests_refused(body, param):
    with pytest.raises(Untranslatable) as caught:
        images.to_native(body, model="m")
    assert caught.value.param == param


# -- Imagen: models/{model}:predict ---------------------------------------------------------

IMAGEN = "imagen-4.0-generate-001"


@pytest.mark.parametrize("model, method", [
    ("imagen-3.0-generate-002", "predict"), ("models/imagen-4.0-ultra-generate-001", "predict"),
    ("gemini-2.5-flash-image", "generateContent"), ("gemini-2.5-flash", "generateContent"),
])
def test_imagen_models_draw_through_predict(model, method):
    assert images.method_for(model) == method


PREDICT_GOLDEN = [
    ("prompt only: one image, not Imagen's default four",
     {"prompt": "a pelican", "model": IMAGEN},
     {"instances": [{"prompt": "a pelican"}],
      "parameters": {"sampleCount": 1, "includeRaiReason": True}}),
    ("n, a wide size, jpeg, low moderation, harmless defaults",
     {"prompt": "a pelican", "n": 4, "size": "1792x1024", "output_format": "jpeg",
      "output_compression": 80, "moderation": "low", "quality": "standard",
      "background": "opaque", "user": "u", "response_format": "url", "style": None},
     {"instances": [{"prompt": "a pelican"}],
      "parameters": {"sampleCount": 4, "includeRaiReason": True, "aspectRatio": "16:9",
                     "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 80},
                     "safetySetting": "BLOCK_ONLY_HIGH"}}),
    ("a tall size, png, auto moderation",
     {"prompt": "p", "size": "1024x1792", "output_format": "png", "moderation": "auto"},
     {"instances": [{"prompt": "p"}],
      "parameters": {"sampleCount": 1, "includeRaiReason": True, "aspectRatio": "9:16",
                     "outputOptions": {"mimeType": "image/png"}}}),
    ("3:4 and auto size",
     {"prompt": "p", "size": "768x1024"},
     {"instances": [{"prompt": "p"}],
      "parameters": {"sampleCount": 1, "includeRaiReason": True, "aspectRatio": "3:4"}}),
    ("auto size leaves the ratio to the model",
     {"prompt": "p", "size": "auto", "n": 2},
     {"instances": [{"prompt": "p"}],
      "parameters": {"sampleCount": 2, "includeRaiReason": True}}),
    ("2K",
     {"prompt": "p", "size": "2048x2048"},
     {"instances": [{"prompt": "p"}],
      "parameters": {"sampleCount": 1, "includeRaiReason": True, "aspectRatio": "1:1",
                     "sampleImageSize": "2K"}}),
]


@pytest.mark.parametrize("body,expected", [c[1:] for c in PREDICT_GOLDEN],
                         ids=[c[0] for c in PREDICT_GOLDEN])
def test_imagen_requests(body, expected):
    native, ctx = images.to_native(body, model=IMAGEN)
    assert native == expected
    assert ctx.method == "predict"


@pytest.mark.parametrize("body,param,says", [
    ({"prompt": "p", "n": 5}, "n", "4 images"),
    ({"prompt": "p", "n": 0}, "n", "positive"),
    ({"prompt": "p", "size": "1536x1024"}, "size", "1:1, 3:4, 4:3, 9:16, 16:9"),
    ({"prompt": "p", "size": "1024x1536"}, "size", "Imagen aspect ratio"),
    ({"prompt": "p", "size": "4096x4096"}, "size", "2K"),
    ({"prompt": "p", "output_format": "webp"}, "output_format", "Imagen"),
    ({"prompt": "p", "output_compression": 50}, "output_compression", "jpeg"),
    ({"prompt": "p", "output_format": "png", "output_compression": 50}, "output_compression",
     "jpeg"),
    ({"prompt": "p", "output_format": "jpeg", "output_compression": 101},
     "output_compression", "0 to 100"),
    ({"prompt": "p", "moderation": "strict"}, "moderation", "Imagen"),
    ({"prompt": "p", "quality": "hd"}, "quality", "Imagen"),
    ({"prompt": "p", "style": "vivid"}, "style", "Imagen"),
    ({"prompt": "p", "background": "transparent"}, "background", "Imagen"),
    ({"prompt": "p", "stream": True}, "stream", "Imagen"),
    ({"prompt": "p", "negative_prompt": "x"}, "negative_prompt", "Imagen"),
    ({"prompt": " "}, "prompt", "non-empty"),
])
def test_imagen_requests_refused_naming_the_field(body, param, says):
    with pytest.raises(Untranslatable) as caught:
        images.to_native(body, model=IMAGEN)
    assert caught.value.param == param and says in caught.value.message


@pytest.mark.parametrize("body,param", [
    ({"prompt": "p", "output_format": "jpeg"}, "output_format"),
    ({"prompt": "p", "output_format": "jpeg", "output_compression": 80}, "output_format"),
])
def test_a_gemini_image_model_still_refuses_what_only_imagen_takes(body, param):
    with pytest.raises(Untranslatable) as caught:
        images.to_native(body, model="gemini-2.5-flash-image")
    assert caught.value.param == param and "Gemini image generation" in caught.value.message


def test_a_gemini_image_model_still_takes_n_above_four_and_ignores_moderation():
    native, ctx = images.to_native({"prompt": "p", "n": 6, "moderation": "low"},
                                   model="gemini-2.5-flash-image")
    assert native["generationConfig"] == {"responseModalities": ["TEXT", "IMAGE"],
                                          "candidateCount": 6}
    assert ctx.method == "generateContent"


PNG_A, PNG_B = "iVBORw0KGgoAAAA=", "iVBORw0KGgoBBBB="
SAFETY = {"categories": ["Violence"], "scores": [0.1]}
PREDICT_ANSWER = {"predictions": [
    {"mimeType": "image/png", "bytesBase64Encoded": PNG_A, "safetyAttributes": SAFETY},
    {"mimeType": "image/jpeg", "bytesBase64Encoded": PNG_B},
    {"contentType": "Positive Prompt", "safetyAttributes": SAFETY},
]}


def test_imagen_predictions_as_b64_json_read_by_openai_python():
    _, ctx = images.to_native({"prompt": "p", "n": 2}, model=IMAGEN)
    out = images.to_openai(PREDICT_ANSWER, ctx, created=1700000000)
    assert out == {"created": 1700000000, "data": [{"b64_json": PNG_A}, {"b64_json": PNG_B}]}
    got = sdk.client(out).images.generate(prompt="p", model=IMAGEN, n=2)
    assert [d.b64_json for d in got.data] == [PNG_A, PNG_B] and got.usage is None


def test_imagen_predictions_as_data_urls_keep_each_images_type():
    _, ctx = images.to_native({"prompt": "p", "response_format": "url"}, model=IMAGEN)
    out = images.to_openai(PREDICT_ANSWER, ctx, created=1)
    assert out["data"] == [{"url": f"data:image/png;base64,{PNG_A}"},
                           {"url": f"data:image/jpeg;base64,{PNG_B}"}]


FILTERED = ("Your current safety filter threshold filtered out 2 generated images. You will not "
            "be charged for blocked images. Try rephrasing the prompt.")


def test_a_partly_filtered_imagen_answer_gives_the_images_left():
    _, ctx = images.to_native({"prompt": "p", "n": 3}, model=IMAGEN)
    native = {"predictions": [{"mimeType": "image/png", "bytesBase64Encoded": PNG_A},
                              {"raiFilteredReason": FILTERED}]}
    assert images.to_openai(native, ctx, created=1)["data"] == [{"b64_json": PNG_A}]


@pytest.mark.parametrize("native,reason", [
    ({"predictions": [{"raiFilteredReason": FILTERED}]}, FILTERED),
    ({"predictions": [{"contentType": "Positive Prompt", "safetyAttributes": SAFETY}]},
     "no prediction"),
    ({}, "the answer held no prediction."),
])
def test_an_imagen_answer_without_an_image_is_refused_saying_why(native, reason):
    _, ctx = images.to_native({"prompt": "p"}, model=IMAGEN)
    with pytest.raises(Untranslatable) as caught:
        images.to_openai(native, ctx, created=1)
    assert reason in caught.value.message and caught.value.param == "prompt"
