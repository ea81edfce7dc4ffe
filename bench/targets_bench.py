"""The four figures of a light, steady proxy, each beside a direct call and its target.

Run: ``.venv/bin/python bench/targets_bench.py [--quick] [--baseline PATH]``
(also ``make bench-targets``, which installs Debian's ``nginx-light`` when it is missing).

nginx answers as Gemini's own API would, with answers recorded from the fake upstream (a
whole ``generateContent`` answer, and a ``streamGenerateContent`` stream of 20 events), at a
small fraction of the CPU a Python upstream would take from this machine. Balancer runs
under gunicorn with two gevent workers and a throw-away SQLite database; its clients send
OpenAI chat completions (the default pool serves them over Gemini's own API). The load
generator is ``bench/load.py``. Printed, each with its target:

- latency at concurrency 1: p50 and p99, and their ratio (target: p99 <= 3 x p50);
- time to first byte at concurrency 1, over the direct call (target: <= 1 ms), for a
  whole answer and for a stream;
- CPU of Balancer's processes per request and per 20-event stream (target: <= 0.7 ms);
- memory of the master and both workers after 100,000 requests and 10,000 streams, and
  its growth from the first half of that run to the second (target: <= 150 MB, no growth).
  Their memory is their PSS summed: a page the three share (the app the master loaded and
  forked, the interpreter, the libraries) counts once, as it is held once; their RSS
  summed, which counts it in each, is printed beside.

Beside Balancer, the column "floor" is the plainest proxy its stack makes
(``bench/floor_app.py``: gunicorn, gevent, Flask and ``requests``, no keys, no translation):
what Balancer costs above it is its own work. ``--baseline PATH`` runs the same phases,
alternating, on a second checkout of Balancer (another commit, say) and prints its column
too. Prints figures only.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.native import NGINX_MAIN  # noqa: E402
from bench.procstat import rss_bytes, tree  # noqa: E402
from bench.proxy_bench import Target, _end, raw_request, run_load  # noqa: E402
from tests.fake_upstream import FakeUpstream, make_key  # noqa: E402
from tests.live import LiveBalancer, flask_cli, free_port  # noqa: E402

MODEL = "gemini-2.5-flash"
TOKEN = "bench-client-token"
PROMPT = "Hello there, how are you?"
CHUNKS = 20
N_KEYS = 20
TARGETS = {"ratio": 3.0, "ttfb_ms": 1.0, "cpu_ms": 0.7, "memory_mb": 150.0}
FULL = {"lat_n": 3000, "ttfb_n": 1000, "cpu_n": 6000, "cpu_streams": 3000, "rounds": 3,
        "mem_requests": 100_000, "mem_streams": 10_000}
QUICK = {"lat_n": 500, "ttfb_n": 300, "cpu_n": 1500, "cpu_streams": 800, "rounds": 1,
         "mem_requests": 10_000, "mem_streams": 1_000}
CPU_CONCURRENCY = 16

#: Gemini's own API: a stream is too long for "return", so a static file answers it
#: (POST reaches it through error_page, whose internal redirect is a GET).
NGINX_GEMINI = """    root {tmp};
    location ~ :streamGenerateContent$ {{
      error_page 405 =200 /stream.sse;
      return 405;
    }}
    location = /stream.sse {{
      default_type text/event-stream;
    }}
    location / {{
      default_type application/json;
      return 200 '{whole}';
    }}"""


def recorded_answers() -> tuple[str, str]:
    """A whole answer and a stream of ``CHUNKS`` events, as the fake upstream sends them."""
    fake = FakeUpstream().start()
    fake.configure(chunks=CHUNKS)
    body = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
    key = {"x-goog-api-key": make_key("targets", 0)}
    try:
        whole = requests.post(f"{fake.url}/v1beta/models/{MODEL}:generateContent", json=body,
                              headers=key, timeout=10)
        stream = requests.post(f"{fake.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
                               json=body, headers=key, timeout=10)
        whole.raise_for_status()
        stream.raise_for_status()
    finally:
        fake.stop()
    return json.dumps(whole.json(), separators=(",", ":")), stream.text


def _nginx_text(text: str) -> str:
    # nginx would read "$" as a variable and "'" as the end of the string.
    assert "$" not in text, "an answer with $ in it cannot be served by nginx's return"
    return text.replace("\\", "\\\\").replace("'", "\\'")


def start_nginx(stack: ExitStack, tmp: Path) -> str:
    """nginx on a free loopback port, answering as Gemini's own API; returns its URL."""
    whole, stream = recorded_answers()
    port = free_port()
    conf = tmp / "nginx.conf"
    (tmp / "stream.sse").write_text(stream)
    tmp.chmod(0o755)  # nginx's workers drop root for "nobody", who must read the stream
    server = NGINX_GEMINI.format(tmp=tmp, whole=_nginx_text(whole))
    conf.write_text(NGINX_MAIN.format(tmp=tmp, port=port, server=server))
    log = stack.enter_context(open(tmp / "nginx.out", "wb"))
    proc = subprocess.Popen([shutil.which("nginx") or "nginx", "-p", str(tmp), "-c", str(conf)],
                            stdout=log, stderr=subprocess.STDOUT)
    stack.callback(_end, proc)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            if requests.post(f"{url}/v1beta/models/{MODEL}:generateContent", timeout=1).ok:
                return url
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"nginx did not start: {(tmp / 'nginx.out').read_text()}")
        time.sleep(0.1)


def native_request(port: int, stream: bool) -> str:
    """The exact bytes of the direct call: Gemini's own API, as Balancer sends it."""
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]},
                      separators=(",", ":"))
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return (f"POST /v1beta/models/{MODEL}:{method} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"x-goog-api-key: {make_key('targets', 0)}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}")


@dataclass
class Side:
    """One server under test (a Balancer checkout, or the stack's floor) and its figures."""

    name: str
    root: Path
    floor: bool = False
    port: int = 0
    proc: Optional[subprocess.Popen] = None
    stop: Callable[[], object] = lambda: None
    figures: dict = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.figures.setdefault(name, []).append(value)

    def pids(self) -> list[int]:
        return tree(self.proc.pid)

    @property
    def events(self) -> int:
        """Chat events a stream must carry (the floor relays Gemini's events untranslated)."""
        return 0 if self.floor else CHUNKS


def start_side(side: Side, tmp: Path, upstream: str, stack: ExitStack,
               folder: Optional[str] = None) -> None:
    """Start one side: a Balancer checkout, or the floor app, under gunicorn (two workers);
    a Balancer's database and log go to ``tmp/folder`` (the side's name by default)."""
    if side.floor:
        start_floor(side, tmp, upstream, stack)
    else:
        start_balancer(side, tmp, upstream, stack, folder or side.name)


def start_floor(side: Side, tmp: Path, upstream: str, stack: ExitStack) -> None:
    """``bench/floor_app.py`` under gunicorn's gevent workers, as Balancer runs."""
    side.port = free_port()
    log = stack.enter_context(open(tmp / "floor.log", "wb"))
    side.proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-k", "gevent", "-w", "2",
         "--worker-connections", "2000", "-b", f"127.0.0.1:{side.port}", "--chdir", str(ROOT),
         "bench.floor_app:app"],
        # Not Balancer's folder: the gunicorn.conf.py there is Balancer's.
        cwd=tmp, env={**os.environ, "FLOOR_UPSTREAM": f"{upstream}/v1beta/models/{MODEL}"},
        stdout=log, stderr=subprocess.STDOUT)
    stack.callback(_end, side.proc)
    side.stop = lambda: _end(side.proc)
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.post(f"http://127.0.0.1:{side.port}/v1/chat/completions", data=b"{}",
                             timeout=2).ok and len(tree(side.proc.pid)) >= 3:
                return
        except requests.RequestException:
            pass
        if side.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the floor app did not start:\n{(tmp / 'floor.log').read_text()[-2000:]}")
        time.sleep(0.1)


def start_balancer(side: Side, tmp: Path, upstream: str, stack: ExitStack, name: str) -> None:
    """Migrate a database of its own and start gunicorn (two workers) from its checkout."""
    folder = tmp / name
    folder.mkdir()
    env = {"DATABASE_URL": f"sqlite:///{folder / 'bench.db'}", "BALANCER_INSTANCE_PATH": str(folder),
           "SECRET_KEY": "bench-secret-key-0123456789abcdef", "GEMINI_BASE_URL": upstream,
           "GEMINI_API_KEYS": ",".join(make_key("targets", i) for i in range(N_KEYS)),
           "ALLOWED_TOKENS": TOKEN, "LOG_LEVEL": "WARNING"}
    migrated = flask_cli(env, "db", "upgrade", root=side.root)
    if migrated.returncode != 0:
        raise SystemExit(f"flask db upgrade failed ({side.name}):\n{migrated.stderr}")
    live = LiveBalancer(env, workers=2, log_path=folder / "gunicorn.log", root=side.root).start()
    stack.callback(live.stop)
    side.port, side.proc, side.stop = live.port, live.proc, live.stop


def _spec(mode_request: str, count: int, concurrency: int, stream: bool, warmup: int,
          events: int = CHUNKS) -> dict:
    return {"mode": "latency" if concurrency == 1 else "throughput", "request": mode_request,
            "count": count, "concurrency": concurrency, "warmup": warmup, "stream": stream,
            "expect_events": events if stream else 1}


def _check(result: dict, what: str) -> dict:
    if result["errors"] or result["incomplete"] or result.get("timed_out"):
        raise RuntimeError(f"{what}: errors {result['errors']}, incomplete "
                           f"{result['incomplete']}, timed out {result.get('timed_out')}")
    return result


def direct_phase(c: dict, port: int) -> dict:
    """Latency and first byte of the direct calls, at concurrency 1."""
    target = Target("direct", port, "", "")
    whole = _check(run_load(_spec(native_request(port, False), c["lat_n"], 1, False, 100),
                            target, {}, timeout=600), "direct whole")
    stream = _check(run_load(_spec(native_request(port, True), c["ttfb_n"], 1, False, 50),
                             target, {}, timeout=600), "direct stream")
    return {"p50": whole["latency_ms"]["p50"], "p99": whole["latency_ms"]["p99"],
            "ttfb_whole": whole["latency_ms"]["p50"], "ttfb_stream": stream["latency_ms"]["p50"]}


def latency_round(c: dict, side: Side) -> None:
    """p50, p99 and the first byte at concurrency 1; CPU per request and per stream."""
    port = side.port
    target = Target(side.name, port, "/v1/chat/completions", TOKEN)
    watch = {"balancer": side.pids}
    whole = _check(run_load(_spec(raw_request(port, target.path, TOKEN, False), c["lat_n"], 1,
                                  False, 100), target, {}, timeout=600), f"{side.name} latency")
    side.add("p50", whole["latency_ms"]["p50"])
    side.add("p99", whole["latency_ms"]["p99"])
    side.add("ttfb_whole", whole["latency_ms"]["p50"])
    stream = _check(run_load(_spec(raw_request(port, target.path, TOKEN, True), c["ttfb_n"], 1,
                                   True, 50, side.events), target, {}, timeout=600),
                    f"{side.name} ttfb")
    side.add("ttfb_stream", stream["ttfb_ms"]["p50"])
    for name, is_stream, n in (("cpu_request", False, c["cpu_n"]),
                               ("cpu_stream", True, c["cpu_streams"])):
        spec = _spec(raw_request(port, target.path, TOKEN, is_stream), n, CPU_CONCURRENCY,
                     is_stream, 4 * CPU_CONCURRENCY, side.events)
        result = _check(run_load(spec, target, watch, timeout=600), f"{side.name} {name}")
        side.add(name, sum(result["cpu_s_by_tree"]["balancer"].values()) * 1000 / result["sent"])


def memory_run(c: dict, side: Side) -> None:
    """``mem_requests`` requests and ``mem_streams`` streams, in two halves; memory after each."""
    port = side.port
    target = Target(side.name, port, "/v1/chat/completions", TOKEN)
    for half in (1, 2):
        for is_stream, n in ((False, c["mem_requests"] // 2), (True, c["mem_streams"] // 2)):
            spec = _spec(raw_request(port, target.path, TOKEN, is_stream), n, CPU_CONCURRENCY,
                         is_stream, CPU_CONCURRENCY, side.events)
            _check(run_load(spec, target, {}, timeout=1800), f"{side.name} memory")
        time.sleep(1.0)  # the flusher writes what the last requests left
        side.figures[f"rss_{half}"] = sum(rss_bytes(p) for p in side.pids()) / 2**20
        side.figures[f"pss_{half}"] = sum(pss_bytes(p) for p in side.pids()) / 2**20


def pss_bytes(pid: int) -> int:
    """Proportional set size: pages shared between processes counted once in all."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def report(c: dict, direct: dict, sides: list[Side], quick: bool) -> None:
    """One table: direct, each side's median figure, and the target."""
    def med(side: Side, name: str) -> float:
        value = side.figures[name]
        return statistics.median(value) if isinstance(value, list) else value

    names = [s.name for s in sides]
    row = "{:<44}" + "{:>10}" * (1 + len(sides)) + "   {}"
    print()
    print(f"Balancer, OpenAI chat over Gemini's own API; nginx as the upstream; 2 gevent workers;"
          f" medians of {c['rounds']} round(s){' (--quick)' if quick else ''}")
    print(row.format("", "direct", *names, "target"))

    def line(label: str, direct_value: Optional[float], name: str, fmt: str, target: str,
             over: bool = False) -> None:
        values = []
        for s in sides:
            v = med(s, name)
            values.append(fmt.format(v - direct[name] if over else v))
        print(row.format(label, "" if direct_value is None else fmt.format(direct_value),
                         *values, target))

    line("latency p50, c=1 (ms)", direct["p50"], "p50", "{:.2f}", "")
    line("latency p99, c=1 (ms)", direct["p99"], "p99", "{:.2f}", "")
    for s in sides:
        s.figures["ratio"] = [med(s, "p99") / med(s, "p50")]
    line("  p99 / p50", direct["p99"] / direct["p50"], "ratio", "{:.1f}",
         f"<= {TARGETS['ratio']:g}")
    line("first byte of a whole answer, c=1 (ms)", direct["ttfb_whole"], "ttfb_whole",
         "{:.2f}", "")
    line("  over the direct call (ms)", None, "ttfb_whole", "{:+.2f}",
         f"<= {TARGETS['ttfb_ms']:g} ms", over=True)
    line(f"first byte of a {CHUNKS}-event stream, c=1 (ms)", direct["ttfb_stream"],
         "ttfb_stream", "{:.2f}", "")
    line("  over the direct call (ms)", None, "ttfb_stream", "{:+.2f}",
         f"<= {TARGETS['ttfb_ms']:g} ms", over=True)
    line(f"CPU per request, c={CPU_CONCURRENCY} (ms)", None, "cpu_request", "{:.3f}",
         f"<= {TARGETS['cpu_ms']:g} ms")
    line(f"CPU per {CHUNKS}-event stream, c={CPU_CONCURRENCY} (ms)", None, "cpu_stream",
         "{:.3f}", f"<= {TARGETS['cpu_ms']:g} ms")
    n, m = c["mem_requests"], c["mem_streams"]
    line(f"memory after {n // 1000}k req + {m // 1000}k streams (MB)", None, "pss_2", "{:.0f}",
         f"<= {TARGETS['memory_mb']:g} MB")
    line("  growth over the second half (MB)", None, "pss_growth", "{:+.1f}", "none")
    line("  RSS summed (shared pages in each) (MB)", None, "rss_2", "{:.0f}", "")
    print("direct: the same upstream called without a proxy, Gemini's own API from the load "
          "generator. floor: bench/floor_app.py, a bare pass-through on the same stack. "
          "CPU: the master and workers, from /proc, over the measured part. memory: the PSS "
          "of the master and workers summed (a page they share counted once).")


def main(argv: Optional[list[str]] = None) -> None:
    """Parse flags, run the phases (alternating sides each round), print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, a smoke run")
    parser.add_argument("--baseline", type=Path, help="a second checkout to measure beside this one")
    args = parser.parse_args(argv)
    if not shutil.which("nginx"):
        raise SystemExit("nginx is not installed: apt-get install nginx-light (make bench-targets "
                         "does it)")
    c = QUICK if args.quick else FULL
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sides = [Side("floor", ROOT, floor=True), Side("this", ROOT)]
    if args.baseline:
        sides.insert(1, Side("baseline", args.baseline.resolve()))
    started = time.time()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="balancer-targets-")))
        upstream = start_nginx(stack, tmp)
        direct = direct_phase(c, int(upstream.rsplit(":", 1)[1]))
        for side in sides:
            start_side(side, tmp, upstream, stack)
        for n in range(c["rounds"]):
            for side in sides:
                print(f"  round {n + 1}: {side.name} ...", file=sys.stderr, flush=True)
                latency_round(c, side)
        # Each side's memory is measured with no other side running: PSS divides a
        # library's pages among every process that maps them, so a side measured
        # beside another (same interpreter, same packages) would look smaller.
        for side in sides:
            side.stop()
        for side in sides:
            print(f"  memory: {side.name} ...", file=sys.stderr, flush=True)
            start_side(side, tmp, upstream, stack, folder=f"{side.name}-memory")
            memory_run(c, side)
            side.figures["pss_growth"] = side.figures["pss_2"] - side.figures["pss_1"]
            side.stop()
    report(c, direct, sides, args.quick)
    print(f"({time.time() - started:.0f} s in all)")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
