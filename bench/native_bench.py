"""CPU per request of an OpenAI chat served over Gemini's own API (translated) beside the
same chat passed through to Google's OpenAI layer, through Balancer, in one run.

Run: ``.venv/bin/python bench/native_bench.py [--quick] [--workers N] [--chunks N]``.
Starts the fake upstream and Balancer under gunicorn (a throw-away SQLite database), then
for each way (``openai_api`` = compat, then native) drives plain chats and streams of
``--chunks`` content events with ``bench/load.py`` and reads the CPU that Balancer's
process tree spent on them. The translation's cost is the difference per request; the
target is at most 0.3 ms. Prints figures only.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procstat import tree  # noqa: E402
from bench.proxy_bench import (  # noqa: E402
    MODEL, TOKEN, Target, balancer_env, raw_request, run_load, start_fake)
from tests.fake_upstream import make_key  # noqa: E402
from tests.live import LiveBalancer, flask_cli  # noqa: E402

TARGET_MS = 0.3
FULL = {"warmup": 300, "count": 3000, "stream_count": 1500, "concurrency": 16}
QUICK = {"warmup": 50, "count": 500, "stream_count": 300, "concurrency": 16}


def cpu_ms(phase: dict) -> float:
    """Balancer's CPU milliseconds per request in a phase."""
    return sum(phase["cpu_s_by_tree"]["balancer"].values()) * 1000 / phase["sent"]


def measure(c: dict, target: Target, watch: dict, chunks: int, model: str) -> dict[str, dict]:
    """A plain phase and a streamed phase against ``target``, for ``model``."""
    out = {}
    for name, stream in (("plain", False), ("stream", True)):
        spec = {"mode": "throughput", "concurrency": c["concurrency"], "warmup": c["warmup"],
                "count": c["stream_count"] if stream else c["count"],
                "request": raw_request(target.port, target.path, target.bearer, stream,
                                       model=model)}
        if stream:
            spec.update(stream=True, expect_events=chunks)
        out[name] = run_load(spec, target, watch, timeout=600)
    return out


def run(c: dict, workers: int, chunks: int) -> dict[str, dict[str, dict]]:
    """Start the fake and Balancer, measure both ways, stop everything."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="balancer-native-")))
        fake_proc, fake = start_fake(stack, tmp)
        fake.configure(chunks=chunks)
        keys = [make_key("native-bench", i, kind="auth") for i in range(20)]
        env = balancer_env(tmp, fake.url, keys)
        if flask_cli(env, "db", "upgrade").returncode != 0:
            raise SystemExit("flask db upgrade failed")
        if flask_cli(env, "settings", "set", "sync_interval_seconds=0.5").returncode != 0:
            raise SystemExit("flask settings set failed")
        live = LiveBalancer(env, workers=workers, log_path=tmp / "gunicorn.log").start()
        stack.callback(live.stop)
        watch = {"balancer": lambda: tree(live.proc.pid)}
        target = Target("balancer", live.port, "/v1/chat/completions", TOKEN)
        # Google's OpenAI layer refuses auth keys: the pass-through side has standard keys
        # in a pool of its own, reached as compat/<model>, so both sides call the fake alike.
        for args in (("pools", "add", "compat", "--kind", "gemini", "--base-url", fake.url,
                      "--openai-api", "compat"),
                     ("keys", "add", "--pool", "compat",
                      *[make_key("native-bench-compat", i) for i in range(20)])):
            if flask_cli(env, *args).returncode != 0:
                raise SystemExit(f"flask {' '.join(args[:2])} failed")
        time.sleep(2.0)  # the workers learn the new pool in their sync loop
        results = {}
        for way, model in (("compat", f"compat/{MODEL}"), ("native", MODEL)):
            print(f"  {way} ...", file=sys.stderr, flush=True)
            results[way] = measure(c, target, watch, chunks, model)
        live.stop()
    return results


def report(results: dict[str, dict[str, dict]], workers: int, chunks: int) -> None:
    """One table: CPU ms per request each way, the difference and the target."""
    print()
    print(f"OpenAI chat through Balancer ({workers} gevent workers), CPU of Balancer's processes "
          "per request")
    row = "{:<34} {:>12} {:>12} {:>12}   {}"
    print(row.format("", "compat ms", "native ms", "over ms", "target"))
    for name, label in (("plain", "chat completion"), ("stream", f"stream of {chunks} events")):
        compat, native = cpu_ms(results["compat"][name]), cpu_ms(results["native"][name])
        over = native - compat
        verdict = "met" if over <= TARGET_MS else "NOT met"
        print(row.format(label, f"{compat:.3f}", f"{native:.3f}", f"{over:+.3f}",
                         f"<= {TARGET_MS} ms ({verdict})"))
    errors = {f"{way}/{name}": phase.get("errors") for way, phases in results.items()
              for name, phase in phases.items() if phase.get("errors")}
    print(f"errors: {errors or 'none'}")
    print("compat: passed through to Google's OpenAI layer (standard keys); native: translated "
          "to and from Gemini's own API (auth keys). Same fake upstream, same answers.")


def main(argv: Optional[list[str]] = None) -> None:
    """Parse flags, measure both ways, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, a smoke run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--chunks", type=int, default=20, help="content events per stream")
    args = parser.parse_args(argv)
    c = QUICK if args.quick else FULL
    report(run(c, args.workers, args.chunks), args.workers, args.chunks)


if __name__ == "__main__":
    main()
