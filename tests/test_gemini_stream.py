"""The Gemini-native stream taps: bytes pass through unchanged while usage, errors and the end are noted."""
from __future__ import annotations

import json
import random
import re
import time

import pytest

from balancer.proxy.gemini_stream import (
    GeminiArrayTap,
    GeminiSSETap,
    leading_error,
    native_usage_tokens,
)

# The real ?alt=sse capture (upstream-wire-formats.md 1.5), byte for byte.
SSE_CAPTURE = (
    b'data: {"candidates": [{"content": {"parts": [{"text": "Here"}],"role": "model"}}],'
    b'"usageMetadata": {"promptTokenCount": 10,"totalTokenCount": 10,"promptTokensDetails": '
    b'[{"modality": "TEXT","tokenCount": 10}]},"modelVersion": "gemini-2.0-flash",'
    b'"responseId": "ibRCaOfLGfuQ1PIPqNma8Aw"}\n\n'
    b'data: {"candidates": [{"content": {"parts": [{"text": " you go"}],"role": "model"},'
    b'"finishReason": "STOP"}],"usageMetadata": {"promptTokenCount": 10,"candidatesTokenCount": 49,'
    b'"totalTokenCount": 59},"modelVersion": "gemini-2.0-flash","responseId": "ibRCaOfLGfuQ1PIPqNma8Aw"}\n\n'
)
FIRST_EVENT = SSE_CAPTURE[:SSE_CAPTURE.index(b"\n\n") + 2]
FINAL_USAGE = {"promptTokenCount": 10, "candidatesTokenCount": 49, "totalTokenCount": 59}
FIRST_USAGE = {"promptTokenCount": 10, "totalTokenCount": 10,
               "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 10}]}


def as_array(chunks: list[dict]) -> bytes:
    """The no-alt framing: '[' + pretty-printed objects joined by '\\n,\\r\\n' + '\\n]'."""
    return b"[" + b"\n,\r\n".join(
        json.dumps(c, indent=2, ensure_ascii=False).encode() for c in chunks) + b"\n]"


CHUNKS = [json.loads(line[6:]) for line in SSE_CAPTURE.split(b"\n\n") if line]
ARRAY_CAPTURE = as_array(CHUNKS)

TRICKY_TEXT = 'a "}" {[ ] \\ "\n,\r\n{" } \u00e9\u20ac\U0001F600\x01 \\" ]] {{'
TRICKY_CHUNKS = [
    {"candidates": [{"content": {"parts": [{"text": "**Plan** {", "thought": True}, {"text": TRICKY_TEXT}],
                                 "role": "model"}, "avgLogprobs": -0.25e-3, "citationMetadata": None,
                     "safe": False}],
     "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}},
    {"candidates": [{"content": {"parts": [{"text": "}]" + TRICKY_TEXT}], "role": "model"},
                     "finishReason": "STOP"}],
     "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 7, "thoughtsTokenCount": 5,
                       "totalTokenCount": 15}},
]
TRICKY_ARRAY = as_array(TRICKY_CHUNKS)
TRICKY_SSE = b"".join(b"data: " + json.dumps(c, ensure_ascii=False).encode() + b"\n\n"
                     for c in TRICKY_CHUNKS)

BARE_ERROR = (b'{\n  "error": {\n    "code": 500,\n    "message": "An internal error has occurred. '
              b'{retry}",\n    "status": "INTERNAL"\n  }\n}\n')
ERROR_OBJECT = {"code": 500, "message": "An internal error has occurred. {retry}", "status": "INTERNAL"}
REFRAMED = b"data: " + json.dumps({"error": ERROR_OBJECT}).encode() + b"\n\n"

SPLITS = ["whole", "bytewise"] + [f"random-{seed}" for seed in range(6)]


def pieces(data: bytes, split: str) -> list[bytes]:
    """The data cut as named: whole, one byte at a time, or at random points (fixed seed)."""
    if split == "whole":
        return [data]
    if split == "bytewise":
        return [data[i:i + 1] for i in range(len(data))]
    rng = random.Random(int(split.split("-")[1]))
    cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, min(40, len(data) - 1))))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


def run(tap, data: bytes, split: str = "whole") -> bytes:
    """Everything the client receives when ``data`` arrives as ``split`` and then ends."""
    return b"".join(tap.feed(p) for p in pieces(data, split)) + tap.finish()


class GenaiAPIError(Exception):
    """What google-genai raises for a segment whose text starts with {"error":."""

    def __init__(self, error: dict):
        super().__init__(error.get("message"))
        self.code = error.get("code")


def genai_read(body: bytes) -> list:
    """Parse an SSE body the way google-genai's _iter_response_stream does."""
    segments, chunk, balance = [], "", 0
    for line in re.split(r"\r\n|\r|\n", body.decode()):
        if not line:
            continue
        if line.startswith("data: "):
            segments.append(line[len("data: "):])
            continue
        balance += line.count("{") - line.count("}")
        chunk += line
        if balance == 0:
            segments.append(chunk)
            chunk = ""
    if chunk:
        segments.append(chunk)
    out = []
    for segment in segments:
        if segment.startswith('{"error":'):
            raise GenaiAPIError(json.loads(segment)["error"])
        out.append(json.loads(segment))
    return out


def spec_payloads(body: bytes) -> list:
    """The data payloads a spec-following SSE parser (e.g. js-genai) sees, parsed."""
    out = []
    for event in re.split(rb"\r\n\r\n|\n\n|\r\r", body):
        lines = [line[5:].strip() for line in event.splitlines() if line.startswith(b"data:")]
        if lines:
            out.append(json.loads(b"\n".join(lines)))
    return out


# --- the happy path, byte for byte -------------------------------------------------

@pytest.mark.parametrize("separator", [b"\n\n", b"\r\n\r\n", b"\r\r"], ids=["lf", "crlf", "cr"])
@pytest.mark.parametrize("split", SPLITS)
def test_sse_stream_passes_through_unchanged_and_is_read(separator, split):
    data = SSE_CAPTURE.replace(b"\n\n", separator)
    tap = GeminiSSETap()
    assert run(tap, data, split) == data
    assert tap.usage == FINAL_USAGE
    assert tap.tokens() == (10, 49)
    assert tap.done is True
    assert tap.error is None


@pytest.mark.parametrize("split", SPLITS)
def test_array_stream_passes_through_unchanged_and_is_read(split):
    tap = GeminiArrayTap()
    assert run(tap, ARRAY_CAPTURE, split) == ARRAY_CAPTURE
    assert tap.usage == FINAL_USAGE
    assert tap.tokens() == (10, 49)
    assert tap.done is True
    assert tap.error is None


def test_array_fixture_has_the_real_framing():
    assert ARRAY_CAPTURE.startswith(b'[{\n  "candidates": [\n')
    assert ARRAY_CAPTURE.count(b"}\n,\r\n{\n") == 1
    assert ARRAY_CAPTURE.endswith(b"}\n]")


@pytest.mark.parametrize("split", SPLITS)
def test_braces_and_escapes_inside_strings_do_not_confuse_the_array_scanner(split):
    tap = GeminiArrayTap()
    assert run(tap, TRICKY_ARRAY, split) == TRICKY_ARRAY
    assert tap.done is True
    assert tap.tokens() == (3, 12)


@pytest.mark.parametrize("split", SPLITS)
def test_braces_and_escapes_inside_strings_do_not_confuse_the_sse_tap(split):
    tap = GeminiSSETap()
    assert run(tap, TRICKY_SSE, split) == TRICKY_SSE
    assert tap.done is True
    assert tap.tokens() == (3, 12)


def test_sse_events_go_out_as_soon_as_they_complete():
    tap = GeminiSSETap()
    half = len(FIRST_EVENT) + 40
    assert tap.feed(SSE_CAPTURE[:half]) == FIRST_EVENT
    assert tap.usage == FIRST_USAGE and tap.done is False
    assert tap.feed(SSE_CAPTURE[half:]) == SSE_CAPTURE[len(FIRST_EVENT):]
    assert tap.done is True


def test_array_bytes_go_out_the_moment_they_arrive():
    tap = GeminiArrayTap()
    for piece in pieces(ARRAY_CAPTURE, "random-3"):
        assert tap.feed(piece) == piece


def test_sse_comment_lines_pass_through():
    data = b": keep-alive\n\n" + SSE_CAPTURE[:len(FIRST_EVENT)] + b":x\ndata: {}\n\n"
    tap = GeminiSSETap()
    assert run(tap, data, "bytewise") == data
    assert tap.usage == FIRST_USAGE


# --- streams that end early ----------------------------------------------------------

@pytest.mark.parametrize("tap_class, data", [
    (GeminiSSETap, FIRST_EVENT),
    (GeminiArrayTap, ARRAY_CAPTURE[:ARRAY_CAPTURE.index(b"\n,\r\n") + 4]),
], ids=["sse", "array"])
def test_a_stream_cut_without_finish_reason_is_not_done(tap_class, data):
    tap = tap_class()
    assert run(tap, data) == data
    assert tap.done is False
    assert tap.usage == FIRST_USAGE
    assert tap.tokens() == (10, 0)


def test_sse_finish_drops_a_truncated_event():
    tap = GeminiSSETap()
    cut = len(FIRST_EVENT) + 50
    assert tap.feed(SSE_CAPTURE[:cut]) == FIRST_EVENT
    assert tap.finish() == b""
    assert tap.done is False


def test_sse_finish_sends_a_final_event_that_lacked_its_blank_line():
    tap = GeminiSSETap()
    data = SSE_CAPTURE.rstrip(b"\n")
    out = b"".join(tap.feed(p) for p in pieces(data, "bytewise"))
    assert out == FIRST_EVENT
    assert out + tap.finish() == SSE_CAPTURE
    assert tap.done is True


def test_array_finish_closes_a_complete_answer_that_lost_its_bracket():
    tap = GeminiArrayTap()
    data = ARRAY_CAPTURE[:-2]
    out = run(tap, data)
    assert json.loads(out) == CHUNKS
    assert tap.error_tail("late") == b""


def test_array_finish_closes_an_array_whose_error_element_lost_its_bracket():
    data = as_array([CHUNKS[0], {"error": ERROR_OBJECT}])[:-2]
    tap = GeminiArrayTap()
    out = run(tap, data, "bytewise")
    assert json.loads(out)[-1] == {"error": ERROR_OBJECT}
    assert tap.error == ERROR_OBJECT


@pytest.mark.parametrize("tap_class, framing", [(GeminiSSETap, "sse"), (GeminiArrayTap, "array")])
def test_a_blocked_prompt_counts_as_a_complete_answer(tap_class, framing):
    blocked = {"promptFeedback": {"blockReason": "SAFETY"},
               "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}}
    data = as_array([blocked]) if framing == "array" else b"data: " + json.dumps(blocked).encode() + b"\n\n"
    tap = tap_class()
    run(tap, data, "bytewise")
    assert tap.done is True
    assert tap.tokens() == (8, 0)


# --- in-band errors ------------------------------------------------------------------

@pytest.mark.parametrize("before, bare, after", [
    (FIRST_EVENT, BARE_ERROR, b""),
    (FIRST_EVENT, BARE_ERROR.rstrip(), b""),
    (FIRST_EVENT.replace(b"\n\n", b"\r\n\r\n"), BARE_ERROR.replace(b"\n", b"\r\n"), b""),
    (FIRST_EVENT, b"[" + BARE_ERROR.rstrip() + b"]\n", b""),
    (FIRST_EVENT, b'{"error": {"code": 500, "message": "An internal error has occurred. {retry}", '
                  b'"status": "INTERNAL"}}\n', b""),
    (b"", BARE_ERROR, b""),
    (FIRST_EVENT, BARE_ERROR, b"\n" + FIRST_EVENT),
], ids=["pretty", "no-trailing-newline", "crlf", "list-wrapped", "one-line", "first", "then-more"])
@pytest.mark.parametrize("split", ["whole", "bytewise", "random-1", "random-4"])
def test_a_bare_error_is_reframed_as_a_data_event_and_noted(before, bare, after, split):
    tap = GeminiSSETap()
    out = run(tap, before + bare + after, split)
    tail = bare[len(bare.rstrip()):] + after
    assert out == before + REFRAMED + tail
    assert tap.error == ERROR_OBJECT
    with pytest.raises(GenaiAPIError) as raised:
        genai_read(out)
    assert raised.value.code == 500
    assert {"error": ERROR_OBJECT} in spec_payloads(out)


@pytest.mark.parametrize("split", ["whole", "bytewise", "random-2"])
def test_a_bare_error_right_after_a_data_line_gets_its_own_event(split):
    event = FIRST_EVENT.rstrip(b"\n") + b"\n"
    tap = GeminiSSETap()
    out = run(tap, event + BARE_ERROR, split)
    assert out == event + b"\n" + REFRAMED + b"\n"
    assert tap.error == ERROR_OBJECT
    assert spec_payloads(out)[-1] == {"error": ERROR_OBJECT}
    with pytest.raises(GenaiAPIError):
        genai_read(out)


@pytest.mark.parametrize("split", ["whole", "bytewise"])
def test_a_data_error_event_passes_unchanged_and_is_noted(split):
    data = FIRST_EVENT + REFRAMED
    tap = GeminiSSETap()
    assert run(tap, data, split) == data
    assert tap.error == ERROR_OBJECT
    assert tap.done is False


@pytest.mark.parametrize("split", ["whole", "bytewise"])
def test_an_error_element_in_the_array_is_noted(split):
    data = as_array([CHUNKS[0], {"error": ERROR_OBJECT}])
    tap = GeminiArrayTap()
    assert run(tap, data, split) == data
    assert tap.error == ERROR_OBJECT
    assert tap.usage == FIRST_USAGE


ERROR_JSON = '{"error": {"code": 503, "message": "upstream went away", "status": "UNAVAILABLE"}}'


@pytest.mark.parametrize("sent", [b"", FIRST_EVENT, SSE_CAPTURE[:len(FIRST_EVENT) + 30]],
                         ids=["nothing", "one-event", "mid-event"])
def test_sse_error_tail_makes_google_genai_raise(sent):
    tap = GeminiSSETap()
    out = run(tap, sent) + tap.error_tail("upstream went away", 503, "UNAVAILABLE")
    assert out.endswith(b"data: " + ERROR_JSON.encode() + b"\n\n")
    with pytest.raises(GenaiAPIError) as raised:
        genai_read(out)
    assert raised.value.code == 503
    assert str(raised.value) == "upstream went away"


def test_sse_error_tail_after_a_passed_through_bare_value_starts_a_new_line():
    tap = GeminiSSETap()
    out = run(tap, FIRST_EVENT + b'{"note": 1}\n') + tap.error_tail("gone")
    assert out == FIRST_EVENT + b'{"note": 1}\ndata: ' + json.dumps(
        {"error": {"code": 500, "message": "gone", "status": "INTERNAL"}}).encode() + b"\n\n"
    with pytest.raises(GenaiAPIError):
        genai_read(out)


def between_elements(data: bytes) -> set[int]:
    """Cut points where no element is open (after '[', inside or after a separator)."""
    points, depth, in_string, escape = set(), 0, False, False
    for i, byte in enumerate(data):
        if depth == 1 and not in_string:
            points.add(i)
        ch = chr(byte)
        if in_string:
            escape, in_string = (False, True) if escape else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
    return points


@pytest.mark.parametrize("data", [ARRAY_CAPTURE, TRICKY_ARRAY], ids=["capture", "tricky"])
def test_array_stream_cut_anywhere_still_ends_as_valid_json(data):
    gaps = between_elements(data)
    for cut in range(len(data)):
        tap = GeminiArrayTap()
        out = b"".join(tap.feed(p) for p in pieces(data[:cut], "random-5" if cut > 1 else "whole"))
        out += tap.finish() + tap.error_tail("upstream went away", 503, "UNAVAILABLE")
        parsed = json.loads(out)
        if tap.done:  # only the closing bracket was missing: finish() closed the array
            assert parsed == json.loads(data), cut
            continue
        assert parsed[-1] == json.loads(ERROR_JSON), cut
        if cut in gaps or cut == 0:
            assert out.endswith(ERROR_JSON.encode() + b"\n]"), cut
            assert parsed[:-1] == json.loads(data)[:len(parsed) - 1], cut


@pytest.mark.parametrize("sent, tail", [
    (b"", b"[" + ERROR_JSON.encode() + b"\n]"),
    (b"[", ERROR_JSON.encode() + b"\n]"),
    (ARRAY_CAPTURE[:ARRAY_CAPTURE.index(b"\n,\r\n")], b"\n,\r\n" + ERROR_JSON.encode() + b"\n]"),
    (ARRAY_CAPTURE[:ARRAY_CAPTURE.index(b"\n,\r\n") + 4], ERROR_JSON.encode() + b"\n]"),
    (ARRAY_CAPTURE, b""),
], ids=["nothing-sent", "bracket-only", "after-element", "after-separator", "array-closed"])
def test_array_error_tail_adds_an_error_element_where_the_stream_stopped(sent, tail):
    tap = GeminiArrayTap()
    run(tap, sent)
    assert tap.error_tail("upstream went away", 503, "UNAVAILABLE") == tail


# --- the first event decides a retry -------------------------------------------------

PRETTY_ERROR = json.dumps({"error": ERROR_OBJECT}, indent=2).encode()


@pytest.mark.parametrize("first, framing, expected", [
    (json.dumps({"error": ERROR_OBJECT}).encode(), "sse", ERROR_OBJECT),
    (PRETTY_ERROR + b"\n", "sse", ERROR_OBJECT),
    (b"[" + PRETTY_ERROR + b"\n]", "sse", ERROR_OBJECT),
    (REFRAMED, "sse", ERROR_OBJECT),
    (REFRAMED.replace(b"\n\n", b"\r\n\r\n") + FIRST_EVENT, "sse", ERROR_OBJECT),
    (b"[" + PRETTY_ERROR + b"\n,\r\n" + json.dumps(CHUNKS[0], indent=2).encode(), "array", ERROR_OBJECT),
    (b"[" + PRETTY_ERROR + b"\n]", "array", ERROR_OBJECT),
    (PRETTY_ERROR, "array", ERROR_OBJECT),
    (FIRST_EVENT + REFRAMED, "sse", None),
    (ARRAY_CAPTURE, "array", None),
    (as_array([CHUNKS[0], {"error": ERROR_OBJECT}]), "array", None),
    (b'data: {"candidates": [{"content": {"parts": [{"text": "\\"error\\": {}"}]}}]}\n\n', "sse", None),
    (REFRAMED[:30], "sse", None),
    (PRETTY_ERROR[:30], "sse", None),
    (b"[]", "array", None),
    (b"", "sse", None),
], ids=["bare", "pretty", "list-wrapped", "data", "data-crlf", "array-first-element", "array-only-element",
        "array-bare-object", "sse-error-second", "array-no-error", "array-error-second",
        "error-word-in-text", "data-cut", "bare-cut", "empty-array", "empty"])
def test_leading_error_finds_an_error_only_in_the_first_event(first, framing, expected):
    assert leading_error(first, framing) == expected


def test_leading_error_rejects_an_unknown_framing():
    with pytest.raises(ValueError):
        leading_error(b"{}", "ndjson")


# --- usage ---------------------------------------------------------------------------

@pytest.mark.parametrize("usage, expected", [
    (None, (0, 0)),
    ({}, (0, 0)),
    ({"promptTokenCount": 10, "totalTokenCount": 10}, (10, 0)),
    ({"promptTokenCount": 11, "candidatesTokenCount": 2, "thoughtsTokenCount": 291}, (11, 293)),
    ({"candidatesTokenCount": 4}, (0, 4)),
    ({"promptTokenCount": "7", "candidatesTokenCount": None}, (7, 0)),
])
def test_native_usage_tokens_count_thinking_as_output(usage, expected):
    assert native_usage_tokens(usage) == expected


def test_usage_is_the_last_one_seen_even_when_later_chunks_are_parsed_eagerly():
    late = {"candidates": [{"finishReason": "STOP"}]}
    data = SSE_CAPTURE + b"data: " + json.dumps(late).encode() + b"\n\n"
    tap = GeminiSSETap()
    run(tap, data)
    assert tap.usage == FINAL_USAGE


# --- linear time ---------------------------------------------------------------------

def _timed(tap, chunks: list[bytes]) -> float:
    started = time.perf_counter()
    for chunk in chunks:
        tap.feed(chunk)
    tap.finish()
    return time.perf_counter() - started


def _long_text_event(n: int) -> bytes:
    text = "".join(f"word {i} {{x}} \"q\" \\ " for i in range(n))
    return json.dumps({"candidates": [{"content": {"parts": [{"text": text}]}, "finishReason": "STOP"}],
                       "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": n}}).encode()


@pytest.mark.parametrize("case", ["sse-many-events", "sse-one-event-in-pieces", "array-many-elements",
                                  "array-one-element-in-pieces", "sse-bare-error-in-pieces"])
def test_ten_thousand_chunks_are_processed_in_linear_time(case):
    if case == "sse-many-events":
        tap, chunks = GeminiSSETap(), [FIRST_EVENT] * 10_000
    elif case == "array-many-elements":
        body = json.dumps(CHUNKS[0], indent=2).encode()
        tap, chunks = GeminiArrayTap(), [b"[" + body] + [b"\n,\r\n" + body] * 9_999 + [b"\n]"]
    else:
        body = _long_text_event(10_000)
        if case == "sse-one-event-in-pieces":
            tap, body = GeminiSSETap(), b"data: " + body + b"\n\n"
        elif case == "array-one-element-in-pieces":
            tap, body = GeminiArrayTap(), b"[" + body + b"\n]"
        else:
            tap = GeminiSSETap()
            body = FIRST_EVENT + json.dumps({"error": {"code": 500, "message": body.decode()}},
                                            indent=2).encode()
        cuts = [len(body) * i // 10_000 for i in range(10_001)]
        chunks = [body[a:b] for a, b in zip(cuts, cuts[1:])]
    assert len(chunks) >= 10_000
    assert _timed(tap, chunks) < 1.0
    assert tap.done or tap.error or tap.usage == FIRST_USAGE
