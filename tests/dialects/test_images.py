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
