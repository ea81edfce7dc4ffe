"""OpenAI embeddings requests -> batchEmbedContents, and the answers back (golden)."""
from __future__ import annotations

import base64
import struct

import pytest

from balancer.dialects import Untranslatable, embeddings
from tests.dialects import sdk

EMBED_GOLDEN = [
    ("one string",
     {"model": "text-embedding-3-small", "input": "hello"},
     {"requests": [{"model": "models/gemini-embedding-001",
                    "content": {"parts": [{"text": "hello"}]}}]}),
    ("several strings with dimensions",
     {"input": ["a", "b"], "dimensions": 768, "encoding_format": "float", "user": "u"},
     {"requests": [{"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]},
                    "outputDimensionality": 768},
                   {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]},
                    "outputDimensionality": 768}]}),
]


@pytest.mark.parametrize("body,expected", [c[1:] for c in EMBED_GOLDEN],
                         ids=[c[0] for c in EMBED_GOLDEN])
def test_embedding_requests(body, expected):
    native, _ = embeddings.to_native(body, model="models/gemini-embedding-001")
    assert native == expected


def test_embedding_answer_as_floats_with_estimated_usage():
    _, ctx = embeddings.to_native({"model": "emb", "input": ["hello world", "é"]},
                                  model="gemini-embedding-001")
    out = embeddings.to_openai({"embeddings": [{"values": [0.5, -1.0]}, {"values": [0.25, 2.0]}]},
                               ctx)
    # No count from Gemini: 11 bytes -> 3 tokens, 2 bytes -> 1.
    assert out == {"object": "list", "model": "emb",
                   "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1.0]},
                            {"object": "embedding", "index": 1, "embedding": [0.25, 2.0]}],
                   "usage": {"prompt_tokens": 4, "total_tokens": 4}}


def test_embedding_answer_uses_a_reported_count():
    _, ctx = embeddings.to_native({"input": "hello"}, model="m")
    out = embeddings.to_openai({"embeddings": [{"values": [1.0]}],
                                "usageMetadata": {"promptTokenCount": 2}}, ctx)
    assert out["usage"] == {"prompt_tokens": 2, "total_tokens": 2}


def test_openai_python_decodes_base64_embeddings_it_asks_for_by_default():
    _, ctx = embeddings.to_native({"input": "x", "encoding_format": "base64"}, model="m")
    values = [0.125, -3.5, 1e-3]
    out = embeddings.to_openai({"embeddings": [{"values": values}]}, ctx)
    raw = base64.b64decode(out["data"][0]["embedding"])
    assert struct.unpack("<3f", raw) == pytest.approx(values)
    got = sdk.client(out).embeddings.create(model="m", input="x")  # base64 by default
    assert got.data[0].embedding == pytest.approx(values)


@pytest.mark.parametrize("body,param", [
    ({"input": [1, 2, 3]}, "input"),
    ({"input": [[1, 2], [3]]}, "input[0]"),
    ({"input": ["ok", ""]}, "input[1]"),
    ({"input": []}, "input"),
    ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
    ({"input": "x", "dimensions": 0}, "dimensions"),
    ({"input": "x", "task": "query"}, "task"),
])
def test_embedding_requests_refused(body, param):
    with pytest.raises(Untranslatable) as caught:
        embeddings.to_native(body, model="m")
    assert caught.value.param == param
