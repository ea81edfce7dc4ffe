"""The OpenAI-format stream tap: events pass unchanged, usage is noted, extras hidden."""
from __future__ import annotations

import json
import random
import time

import pytest

from balancer.proxy.sse import OpenAIStreamTap, leading_error

CHUNK = {"id": "c", "object": "chat.completion.chunk", "choices": [
    {"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}], "usage": None}
USAGE = {"id": "c", "object": "chat.completion.chunk", "choices": [],
         "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}}


def stream(sep=b"\n\n") -> bytes:
    events = [CHUNK, CHUNK, USAGE]
    return b"".join(b"data: " + json.dumps(e).encode() + sep for e in events) + b"data: [DONE]" + sep


def run(tap, data: bytes, seed: int | None) -> bytes:
    if seed is None:
        pieces = [data]
    else:
        rng, pieces, i = random.Random(seed), [], 0
        while i < len(data):
            n = rng.randint(1, 40)
            pieces.append(data[i:i + n])
            i += n
    return b"".join(tap.feed(p) for p in pieces) + tap.finish()


@pytest.mark.parametrize("sep", [b"\n\n", b"\r\n\r\n", b"\r\r"])
@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_events_pass_unchanged_and_usage_is_noted(sep, seed):
    tap = OpenAIStreamTap(hide_usage_chunk=False)
    assert run(tap, stream(sep), seed) == stream(sep)
    assert tap.tokens() == (9, 3) and tap.done


@pytest.mark.parametrize("seed", [None, 7])
def test_the_usage_chunk_is_hidden_from_a_client_that_did_not_ask(seed):
    tap = OpenAIStreamTap(hide_usage_chunk=True)
    out = run(tap, stream(), seed)
    assert b'"choices": []' not in out and out.endswith(b"data: [DONE]\n\n")
    assert tap.tokens() == (9, 3)


def test_a_bare_json_error_is_reframed_as_a_data_event():
    tap = OpenAIStreamTap(hide_usage_chunk=False)
    out = run(tap, b"data: " + json.dumps(CHUNK).encode() + b"\n\n"
              + b'{"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}\n\n', None)
    assert out.endswith(b'data: {"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}\n\n')
    assert tap.error["message"] == "boom" and not tap.done


@pytest.mark.parametrize("first, expected", [
    (b'data: {"error": {"message": "x"}}\n\n', "x"),
    (b'[{"error": {"code": 429, "message": "y"}}]', "y"),
    (b"data: " + json.dumps(CHUNK).encode() + b"\n\n", None),
])
def test_leading_error_spots_a_stream_that_fails_at_once(first, expected):
    err = leading_error(first)
    assert (err or {}).get("message") == expected


def test_one_long_event_in_many_small_pieces_takes_linear_time():
    big = b"data: " + json.dumps({**CHUNK, "pad": "x" * 200_000}).encode() + b"\n\n"
    tap = OpenAIStreamTap(hide_usage_chunk=False)
    started = time.perf_counter()
    out = b"".join(tap.feed(big[i:i + 20]) for i in range(0, len(big), 20)) + tap.finish()
    assert out == big
    assert time.perf_counter() - started < 1.0
