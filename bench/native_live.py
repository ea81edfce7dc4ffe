"""``native_bench.py --live``: translated and passed-through chats through gunicorn.

Starts the fake upstream and Balancer (two gevent workers, a throw-away SQLite database)
with a native pool of auth keys (the default pool) and a compat pool of standard keys
(reached as ``compat/<model>``), then drives both with ``bench/load.py`` in rounds
(A B A B) and reads the CPU of Balancer's process tree per request.
"""
from __future__ import annotations

import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench.procstat import tree
from bench.proxy_bench import MODEL, TOKEN, Target, balancer_env, raw_request, run_load, start_fake
from tests.fake_upstream import make_key
from tests.live import LiveBalancer, flask_cli

FULL = {"warmup": 200, "count": 2000, "stream_count": 1000, "concurrency": 16, "rounds": 5}
QUICK = {"warmup": 50, "count": 500, "stream_count": 250, "concurrency": 16, "rounds": 2}


def _cpu_us(phase: dict) -> float:
    return sum(phase["cpu_s_by_tree"]["balancer"].values()) * 1e6 / phase["sent"]


def live_figures(quick: bool, chunks: int) -> dict[str, dict[str, list[float]]]:
    """Microseconds of Balancer's CPU per request, per round, each way, plain and streamed."""
    c = QUICK if quick else FULL
    out: dict[str, dict[str, list[float]]] = {"plain": {}, "stream": {}}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="balancer-live-")))
        _, fake = start_fake(stack, tmp)
        fake.configure(chunks=chunks)
        env = balancer_env(tmp, fake.url, [make_key("native-live", i, kind="auth")
                                           for i in range(20)])
        for args in (("db", "upgrade"),
                     ("pools", "add", "compat", "--kind", "gemini", "--base-url", fake.url,
                      "--openai-api", "compat"),
                     ("keys", "add", "--pool", "compat",
                      *[make_key("native-live-compat", i) for i in range(20)])):
            if flask_cli(env, *args).returncode != 0:
                raise SystemExit(f"flask {' '.join(args[:2])} failed")
        live = LiveBalancer(env, workers=2, log_path=tmp / "gunicorn.log").start()
        stack.callback(live.stop)
        time.sleep(2.0)  # the model lists of both pools, fetched at start
        watch = {"balancer": lambda: tree(live.proc.pid)}
        target = Target("balancer", live.port, "/v1/chat/completions", TOKEN)
        for n in range(c["rounds"]):
            for name, stream in (("plain", False), ("stream", True)):
                for way, model in (("compat", f"compat/{MODEL}"), ("native", MODEL)):
                    spec = {"mode": "throughput", "concurrency": c["concurrency"],
                            "warmup": c["warmup"],
                            "count": c["stream_count"] if stream else c["count"],
                            "request": raw_request(target.port, target.path, TOKEN, stream,
                                                   model=model)}
                    if stream:
                        spec.update(stream=True, expect_events=chunks)
                    phase = run_load(spec, target, watch, timeout=600)
                    if phase.get("errors"):
                        raise SystemExit(f"{way} {name}: errors {phase['errors']}")
                    out[name].setdefault(way, []).append(_cpu_us(phase))
            print(f"  live round {n + 1} of {c['rounds']} done", file=sys.stderr, flush=True)
    return out
