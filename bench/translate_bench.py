"""CPU cost of serving an OpenAI chat client over Gemini's native API, per request.

Run: ``.venv/bin/python bench/translate_bench.py``. Prints figures only.
Three pieces, each beside what pass-through pays for the same bytes (``json.loads`` +
``json.dumps``): a typical chat request (system prompt, a few turns, two tools, one
tool call and its result) to ``generateContent``; the answer (text, a call, usage) back
to a ``chat.completion``; a 20-event stream to ``chat.completion.chunk`` events. The
translation side includes parsing and serializing, as the proxy will do. The target is
at most 0.3 ms over pass-through for the three together.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from balancer.dialects import ChatStream, to_chat, to_native  # noqa: E402

TARGET_US = 300.0
COMPACT = (",", ":")

REQUEST = json.dumps({
    "model": "gemini-2.5-flash", "temperature": 0.3, "max_completion_tokens": 2048,
    "stream": True, "stream_options": {"include_usage": True},
    "messages": [
        {"role": "system", "content": "You are a careful assistant. Answer briefly, cite tools."},
        {"role": "user", "content": "What is the weather in Paris, and should I take a coat?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris","unit":"c"}'}}]},
        {"role": "tool", "tool_call_id": "call_1",
         "content": '{"temp": 11, "sky": "rain", "wind_kmh": 25}'},
        {"role": "assistant", "content": "It is 11 °C and raining in Paris: take a coat."},
        {"role": "user", "content": "And tomorrow in Lyon? Also find me a café near the station."}],
    "tools": [
        {"type": "function", "function": {
            "name": "get_weather", "description": "Current weather or forecast for a city.",
            "parameters": {"type": "object", "additionalProperties": False, "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "day": {"type": ["string", "null"], "format": "date"}},
                "required": ["city"]}}},
        {"type": "function", "function": {
            "name": "search_places", "description": "Places near a point of interest.",
            "parameters": {"$schema": "http://json-schema.org/draft-07/schema#",
                           "type": "object", "properties": {
                               "query": {"type": "string"},
                               "near": {"type": "string"},
                               "limit": {"type": "integer", "minimum": 1, "maximum": 20}},
                           "required": ["query", "near"]}}}],
}).encode()

ANSWER = json.dumps({
    "candidates": [{"content": {"role": "model", "parts": [
        {"text": "Tomorrow Lyon will be dry, 14 °C. Let me look for a café near Part-Dieu."},
        {"functionCall": {"name": "search_places",
                          "args": {"query": "café", "near": "Lyon Part-Dieu", "limit": 5}},
         "thoughtSignature": "CpcBAdHtim8" + "x" * 120}]},
        "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 412, "candidatesTokenCount": 48,
                      "thoughtsTokenCount": 120, "totalTokenCount": 580},
    "modelVersion": "gemini-2.5-flash", "responseId": "IopyaseNCL-s-8YP7urOoAY"}).encode()


def stream_events() -> list[bytes]:
    """20 native SSE payloads: 19 text pieces, then the finish with usage."""
    words = "Tomorrow in Lyon: dry, fourteen degrees, light wind; a good day to walk. " * 2
    events = []
    for i in range(19):
        events.append(json.dumps({
            "candidates": [{"content": {"role": "model",
                                        "parts": [{"text": words[i * 7:(i + 1) * 7]}]},
                            "index": 0}],
            "usageMetadata": {"promptTokenCount": 412, "totalTokenCount": 412},
            "modelVersion": "gemini-2.5-flash", "responseId": "ibRCaOfLGfuQ1PIPqNma8Aw"}).encode())
    events.append(json.dumps({
        "candidates": [{"content": {"role": "model", "parts": [{"text": "."}]},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 412, "candidatesTokenCount": 40,
                          "totalTokenCount": 452},
        "modelVersion": "gemini-2.5-flash", "responseId": "ibRCaOfLGfuQ1PIPqNma8Aw"}).encode())
    return events


EVENTS = stream_events()


def translate_request() -> bytes:
    native, _ = to_native(json.loads(REQUEST), model="gemini-2.5-flash")
    return json.dumps(native, ensure_ascii=False, separators=COMPACT).encode()


# The proxy builds the context once, with the request: its cost is in the request line.
CTX = to_native(json.loads(REQUEST), model="gemini-2.5-flash")[1]


def translate_answer() -> bytes:
    chat = to_chat(json.loads(ANSWER), CTX, created=1700000000, id="chatcmpl-0123456789abcdef")
    return json.dumps(chat, ensure_ascii=False, separators=COMPACT).encode()


def translate_stream() -> bytes:
    stream = ChatStream(CTX, created=1700000000, id="chatcmpl-0123456789abcdef")
    out = [stream.feed(json.loads(payload)) for payload in EVENTS]
    out.append(stream.end())
    return b"".join(out)


def passthrough(body: bytes) -> Callable[[], bytes]:
    """What relaying ``body`` costs when the proxy parses it (its usage tap) and writes it."""
    def run() -> bytes:
        return json.dumps(json.loads(body), ensure_ascii=False, separators=COMPACT).encode()
    return run


def passthrough_stream() -> bytes:
    return b"".join(json.dumps(json.loads(p), separators=COMPACT).encode() for p in EVENTS)


def measure(fn: Callable[[], object], runs: int = 1000) -> float:
    """CPU microseconds per call, best of seven batches (CPU time: other processes on the
    machine do not count)."""
    best = float("inf")
    for _ in range(7):
        start = time.process_time()
        for _ in range(runs):
            fn()
        best = min(best, (time.process_time() - start) / runs * 1e6)
    return best


def main() -> None:
    """Print the table and whether the target holds."""
    rows = [
        ("chat request -> generateContent", measure(translate_request),
         measure(passthrough(REQUEST))),
        ("answer -> chat.completion", measure(translate_answer), measure(passthrough(ANSWER))),
        ("20-event stream -> chunks", measure(translate_stream, 300),
         measure(passthrough_stream, 300)),
    ]
    print(f"{'piece':34} {'translated µs':>14} {'pass-through µs':>16} {'over µs':>9}")
    total = 0.0
    for name, translated, plain in rows:
        total += translated - plain
        print(f"{name:34} {translated:14.1f} {plain:16.1f} {translated - plain:9.1f}")
    verdict = "within" if total <= TARGET_US else "OVER"
    print(f"{'total over pass-through':34} {'':14} {'':16} {total:9.1f}  "
          f"({verdict} the {TARGET_US:.0f} µs target)")


if __name__ == "__main__":
    main()
