"""Gemini model lists -> OpenAI model lists."""
from __future__ import annotations

from balancer.dialects import models
from tests.dialects import sdk

NATIVE_MODELS = {"models": [
    {"name": "models/gemini-2.5-flash", "displayName": "Gemini 2.5 Flash",
     "supportedGenerationMethods": ["generateContent"]},
    {"name": "models/gemini-embedding-001", "supportedGenerationMethods": ["embedContent"]}],
    "nextPageToken": "t"}


def test_model_list():
    assert models.to_openai_list(NATIVE_MODELS) == {"object": "list", "data": [
        {"id": "gemini-2.5-flash", "object": "model", "created": 0, "owned_by": "google"},
        {"id": "gemini-embedding-001", "object": "model", "created": 0, "owned_by": "google"}]}
    assert models.to_openai_list({}) == {"object": "list", "data": []}


def test_one_model_read_by_openai_python():
    one = models.to_openai_model(NATIVE_MODELS["models"][0], created=1700000000)
    assert one == {"id": "gemini-2.5-flash", "object": "model", "created": 1700000000,
                   "owned_by": "google"}
    assert sdk.client(models.to_openai_list(NATIVE_MODELS)).models.list().data[1].id == \
        "gemini-embedding-001"
