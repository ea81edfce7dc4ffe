"""CPU per request of an OpenAI chat served over Gemini's own API (translated) beside the
same chat passed through to Google's OpenAI layer, in one run.

Run: ``.venv/bin/python bench/native_bench.py [--quick] [--chunks N] [--live]``.

By default the request path runs in this process: ``proxy.chat.serve_chat`` (parse,
route, translate, the attempt loop, the relay, the usage tap, the request record) over a
transport that replays answers recorded from the fake upstream, so that the figure is
Balancer's own work per request and nothing else; sockets cost both ways alike and are
left out. Rounds alternate (A B A B) and the figures are medians. ``--live`` measures the
same through gunicorn with two workers and a load generator (noisier on a small machine:
the load generator and the fake share its cores). The target: the translation costs at
most 0.3 ms of CPU per request over pass-through. Prints figures only.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from balancer.config import Config  # noqa: E402
from balancer.keypool.records import KeyRecord  # noqa: E402
from balancer.proxy.auth import ANONYMOUS  # noqa: E402
from balancer.proxy.chat import serve_chat  # noqa: E402
from balancer.runtime import Catalog, PoolInfo, Runtime  # noqa: E402
from balancer.upstream.mock import MockRequest, MockResponse, MockTransport  # noqa: E402
from tests.fake_upstream import FakeUpstream, make_key  # noqa: E402

TARGET_MS = 0.3
MODEL = "gemini-2.5-flash"
PROMPT = "Hello there, how are you? Tell me about the weather in Paris in a few words."
FULL = {"count": 3000, "rounds": 7}
QUICK = {"count": 500, "rounds": 3}
NATIVE_KEY = make_key("native-bench", 0, kind="auth")
COMPAT_KEY = make_key("native-bench", 1)


def record(chunks: int) -> dict[tuple[str, bool], tuple[dict, list[bytes]]]:
    """Real answers of the fake upstream, both ways, plain and streamed: (headers, chunks)."""
    fake = FakeUpstream().start()
    fake.configure(chunks=chunks)
    native = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
    compat = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]}
    calls = {
        ("native", False): (f"/v1beta/models/{MODEL}:generateContent", native,
                            {"x-goog-api-key": NATIVE_KEY}),
        ("native", True): (f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", native,
                           {"x-goog-api-key": NATIVE_KEY}),
        ("compat", False): ("/v1beta/openai/chat/completions", compat,
                            {"Authorization": f"Bearer {COMPAT_KEY}"}),
        # Balancer asks for the usage chunk on a client's behalf.
        ("compat", True): ("/v1beta/openai/chat/completions",
                           {**compat, "stream": True, "stream_options": {"include_usage": True}},
                           {"Authorization": f"Bearer {COMPAT_KEY}"}),
    }
    out = {}
    try:
        for key, (path, body, headers) in calls.items():
            resp = requests.post(fake.url + path, json=body, headers=headers, stream=True,
                                 timeout=10)
            resp.raise_for_status()
            out[key] = ({"Content-Type": resp.headers["Content-Type"]},
                        list(resp.iter_content(chunk_size=None)))
    finally:
        fake.stop()
    return out


def runtime(answers: dict, tmp: Path) -> Runtime:
    """A runtime with a native pool (the default) and a compat pool, over recorded answers."""
    rt = Runtime(Config({"SECRET_KEY": "bench-secret-key-0123456789abcdef",
                         "BALANCER_INSTANCE_PATH": str(tmp)}))
    pools = {1: PoolInfo(id=1, name="gemini", kind="gemini", base_url="http://fake",
                         proxy_url=None, enabled=True, is_default=True),
             2: PoolInfo(id=2, name="compat", kind="gemini", base_url="http://fake",
                         proxy_url=None, enabled=True, is_default=False,
                         overrides={"openai_api": "compat"})}
    rt.catalog = Catalog(pools=pools)
    rt.keypool.replace_all([KeyRecord(id=1, pool_id=1, secret=NATIVE_KEY),
                            KeyRecord(id=2, pool_id=2, secret=COMPAT_KEY)], [])

    def answer(request: MockRequest) -> MockResponse:
        way = "compat" if "/openai/" in request.url else "native"
        headers, chunks = answers[(way, "stream" in request.url or b'"stream":true' in
                                   (request.body or b""))]
        return MockResponse(200, list(chunks), headers)

    rt.upstream = MockTransport(answer)
    rt.loaded = True
    return rt


def per_request_us(rt: Runtime, raw: bytes, count: int) -> float:
    """CPU microseconds per request of ``count`` requests, each read to its end."""
    def once() -> None:
        resp = serve_chat(rt, ANONYMOUS, raw)
        b"".join(resp.response)
        resp.close()
    for _ in range(min(200, count)):
        once()
    rt.records.drain(1 << 30)
    started = time.process_time()
    for n in range(count):
        once()
        if n % 500 == 499:  # what the flusher would take away
            rt.records.drain(1 << 30)
            rt.transitions.drain(1 << 30)
            rt.upstream.requests.clear()
            rt.upstream.responses.clear()
    return (time.process_time() - started) / count * 1e6


def in_process(c: dict, chunks: int) -> dict[str, dict[str, list[float]]]:
    """Rounds of both ways, plain and streamed: microseconds per request."""
    logging.disable(logging.INFO)  # one log line per request would be the biggest cost
    answers = record(chunks)
    out: dict[str, dict[str, list[float]]] = {"plain": {}, "stream": {}}
    with tempfile.TemporaryDirectory(prefix="balancer-native-") as tmp:
        rt = runtime(answers, Path(tmp))
        for n in range(c["rounds"]):
            for name, stream in (("plain", False), ("stream", True)):
                for way, model in (("compat", f"compat/{MODEL}"), ("native", MODEL)):
                    body = {"model": model, "stream": stream,
                            "messages": [{"role": "user", "content": PROMPT}]}
                    us = per_request_us(rt, json.dumps(body).encode(), c["count"])
                    out[name].setdefault(way, []).append(us)
            print(f"  round {n + 1} of {c['rounds']} done", file=sys.stderr, flush=True)
    return out


def report(figures: dict[str, dict[str, list[float]]], chunks: int, how: str) -> None:
    """One table: median CPU per request each way, the median paired difference, the target."""
    rounds = len(figures["plain"]["compat"])
    print()
    print(f"OpenAI chat, CPU per request ({how}), median of {rounds} rounds (A B A B)")
    row = "{:<26} {:>11} {:>11} {:>11}   {:<22} {}"
    print(row.format("", "compat ms", "native ms", "over ms", "target", "each round's over"))
    for name, label in (("plain", "chat completion"), ("stream", f"stream of {chunks} events")):
        compat, native = figures[name]["compat"], figures[name]["native"]
        overs = [(n - c) / 1000 for c, n in zip(compat, native)]
        over = statistics.median(overs)
        verdict = "met" if over <= TARGET_MS else "NOT met"
        print(row.format(label, f"{statistics.median(compat) / 1000:.3f}",
                         f"{statistics.median(native) / 1000:.3f}", f"{over:+.3f}",
                         f"<= {TARGET_MS} ms ({verdict})", " ".join(f"{o:+.3f}" for o in overs)))
    print("compat: passed through to Google's OpenAI layer; native: translated to and from "
          "Gemini's own API. Same prompt, answers recorded from the fake upstream.")


def main(argv: Optional[list[str]] = None) -> None:
    """Parse flags, measure both ways, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, a smoke run")
    parser.add_argument("--chunks", type=int, default=20, help="content events per stream")
    parser.add_argument("--live", action="store_true",
                        help="also through gunicorn (two workers) and a load generator")
    args = parser.parse_args(argv)
    c = QUICK if args.quick else FULL
    report(in_process(c, args.chunks), args.chunks, "Balancer's request path in one process")
    if args.live:
        from bench.native_live import live_figures
        report(live_figures(args.quick, args.chunks), args.chunks,
               "Balancer's processes under gunicorn, two workers")


if __name__ == "__main__":
    main()
