"""Latency, throughput, CPU and memory of Balancer, direct against the fake vs through Balancer.

Run: ``.venv/bin/python bench/proxy_bench.py [--quick] [--workers N] [--streams N] [--json PATH]``
(also ``make bench``). Starts the fake upstream (gevent server, no added latency) and Balancer
under gunicorn on loopback with a throw-away SQLite database, drives both with the gevent
client in ``bench/load.py`` (its own process), and prints one table. Prints figures only.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procstat import (  # noqa: E402
    MemorySampler, machine_share, machine_ticks, tree, tree_cpu)
from bench.report import figures, print_report  # noqa: E402
from tests.fake_upstream import FakeControl, make_key  # noqa: E402
from tests.live import LiveBalancer, flask_cli, free_port  # noqa: E402

MODEL = "gemini-2.5-flash"
TOKEN = "bench-client-token"
N_KEYS = 20
FAST_CHUNKS = 3  # content chunks per stream outside the slow-streams phase
LOADGEN = "gevent raw-socket HTTP/1.1 client (bench/load.py, one process)"
FULL = {"lat_warmup": 50, "lat_n": 500, "ttfb_warmup": 20, "ttfb_n": 300, "tp_warmup": 320,
        "tp_n": 3000, "conc": 64, "streams": 1000, "chunks": 20, "chunk_delay": 0.5}
QUICK = {"lat_warmup": 10, "lat_n": 100, "ttfb_warmup": 5, "ttfb_n": 50, "tp_warmup": 64,
         "tp_n": 1000, "conc": 64, "streams": 200, "chunks": 20, "chunk_delay": 0.2}


def raw_request(port: int, path: str, bearer: str, stream: bool, close: bool = False,
                model: str = MODEL) -> str:
    """The exact bytes of one chat completion request."""
    body = json.dumps({"model": model, "stream": stream,
                       "messages": [{"role": "user", "content": "Hello there, how are you?"}]},
                      separators=(",", ":"))
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {bearer}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            + ("Connection: close\r\n" if close else "") + f"\r\n{body}")


@dataclass(frozen=True)
class Target:
    """Where a phase sends its requests, and with which Bearer token."""

    name: str
    port: int
    path: str
    bearer: str


def run_load(spec: dict, target: Target, watch: dict[str, Callable[[], list[int]]],
             timeout: float) -> dict:
    """Run one load phase in a child process; CPU of each watched tree around the measured part."""
    spec = {"host": "127.0.0.1", "port": target.port, "warmup": 0, "timeout": timeout, **spec}
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "load.py"), json.dumps(spec)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    # The child bounds itself by ``timeout``; this bounds a child that hangs anyway.
    watchdog = threading.Timer(timeout + 60, proc.kill)
    watchdog.start()
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"load generator failed before the measured part ({target.name})")
        pids = {name: fn() for name, fn in watch.items()}
        before = {name: tree_cpu(p) for name, p in pids.items()}
        machine0, t0 = machine_ticks(), time.perf_counter()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        after = {name: tree_cpu(p) for name, p in pids.items()}
        machine = machine_share(machine0, machine_ticks(), time.perf_counter() - t0)
        proc.wait(timeout=30)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if not line:
        raise RuntimeError(f"load generator died during the measured part ({target.name})")
    result = json.loads(line)
    result["machine_cpu_pct"] = machine
    result["cpu_s_by_tree"] = {
        name: {str(pid): round(after[name][pid] - before[name].get(pid, 0.0), 3)
               for pid in after[name]} for name in pids}
    return result


def start_fake(stack: ExitStack, tmp: Path) -> tuple[subprocess.Popen, FakeControl]:
    """The fake upstream in its own process, gevent server, no added latency."""
    port = free_port()
    log = stack.enter_context(open(tmp / "fake.log", "wb"))
    proc = subprocess.Popen([sys.executable, "-m", "tests.fake_upstream", "--host", "127.0.0.1",
                             "--port", str(port), "--server", "gevent", "--latency", "0",
                             "--chunks", str(FAST_CHUNKS)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    stack.callback(_end, proc)
    control = FakeControl(f"http://127.0.0.1:{port}").wait_ready()
    return proc, control


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def balancer_env(tmp: Path, fake_url: str, keys: list[str]) -> dict:
    """Environment of both Balancer instances: same database, keys and token."""
    return {"DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "BALANCER_INSTANCE_PATH": str(tmp),
            "SECRET_KEY": "bench-secret-key-0123456789abcdef", "GEMINI_BASE_URL": fake_url,
            "GEMINI_API_KEYS": ",".join(keys), "ALLOWED_TOKENS": TOKEN, "LOG_LEVEL": "WARNING"}


def raise_fd_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE (inherited by every child) as far as allowed; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, wanted) if hard == resource.RLIM_INFINITY else min(hard, max(soft, wanted))
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def keepalive_phases(c: dict, direct: Target, via: Target, watch: dict) -> dict:
    """Latency, stream TTFB and throughput, each direct then through Balancer."""
    out: dict = {}
    for t in (direct, via):
        lat = {"mode": "latency", "concurrency": 1, "warmup": c["lat_warmup"], "count": c["lat_n"]}
        ttfb = {"mode": "latency", "concurrency": 1, "warmup": c["ttfb_warmup"],
                "count": c["ttfb_n"], "stream": True, "expect_events": FAST_CHUNKS}
        tp = {"mode": "throughput", "concurrency": c["conc"], "warmup": c["tp_warmup"],
              "count": c["tp_n"]}
        for name, spec, stream in (("latency", lat, False), ("ttfb", ttfb, True),
                                   ("throughput", tp, False)):
            spec["request"] = raw_request(t.port, t.path, t.bearer, stream)
            print(f"  {t.name:<8} {name} ...", file=sys.stderr, flush=True)
            out[f"{t.name}_{name}"] = run_load(spec, t, watch, timeout=300)
    return out


def streams_phase(c: dict, n: int, tmp: Path, env: dict, fake: FakeControl,
                  watch: dict, stack: ExitStack, workers: int = 1, ramp: float = 0.0) -> dict:
    """``n`` slow streams at once through ``workers`` workers: how many finish whole,
    and the workers' memory."""
    fake.configure(chunks=c["chunks"], chunk_delay=c["chunk_delay"])
    live = LiveBalancer({**env, "WORKER_CONNECTIONS": str(max(2000, n + 500)), "BACKLOG": "4096"},
                        workers=workers,
                         log_path=tmp / "gunicorn-streams.log").start()
    stack.callback(live.stop)
    sampler = MemorySampler(live.proc.pid).start()
    stack.callback(sampler.stop)
    try:
        idle, first_workers = dict(sampler.last_by_pid), live.worker_pids()
        target = Target("balancer", live.port, "/v1/chat/completions", TOKEN)
        spec = {"mode": "streams", "count": n, "stream": True, "expect_events": c["chunks"],
                "request": raw_request(live.port, target.path, TOKEN, True, close=True),
                "io_timeout": 60, "ramp": ramp}
        print(f"  streams  {n} at once through {workers} worker(s) ...", file=sys.stderr, flush=True)
        limit = c["chunks"] * c["chunk_delay"] + ramp + 30
        result = run_load({**spec, "timeout": limit}, target,
                          {"balancer": lambda: tree(live.proc.pid), **watch}, timeout=limit)
        sampler.stop()
        workers = live.worker_pids()
        result["worker_replaced"] = sorted(workers) != sorted(first_workers)
        result["worker_rss_idle"] = sum(idle.get(p, 0) for p in workers)
        result["worker_rss_peak"] = sum(sampler.peak_by_pid.get(p, 0) for p in workers)
        result["total_rss_peak"] = sampler.peak_total
        result["streams"] = n
        result["chunks"], result["chunk_delay"] = c["chunks"], c["chunk_delay"]
        if result["ok"] < n:
            result["log_tail"] = live.log().splitlines()[-40:]
    finally:
        live.stop()  # the fake keeps its slow streams: this is the last phase
    return result


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, a smoke run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--streams", type=int, help="concurrent streams in one worker "
                        "(default 1000, 200 with --quick; 0 skips the phase)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args(argv)


def busy_now(seconds: float = 1.0) -> float:
    """How busy the machine is before we start (% of one core)."""
    before = machine_ticks()
    time.sleep(seconds)
    return machine_share(before, machine_ticks(), seconds)["busy"]


def run(c: dict, workers: int, streams: int) -> dict:
    """Start the fake and Balancer, run every phase, stop everything; the raw results."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="balancer-bench-")))
        fake_proc, fake = start_fake(stack, tmp)
        keys = [make_key("bench", i) for i in range(N_KEYS)]
        env = balancer_env(tmp, fake.url, keys)
        migrated = flask_cli(env, "db", "upgrade")
        if migrated.returncode != 0:
            raise SystemExit(f"flask db upgrade failed:\n{migrated.stderr}")
        print(f"fake upstream on {fake.url}; starting Balancer ({workers} workers)",
              file=sys.stderr, flush=True)
        live = LiveBalancer(env, workers=workers, log_path=tmp / "gunicorn.log").start()
        stack.callback(live.stop)
        sampler = MemorySampler(live.proc.pid).start()
        stack.callback(sampler.stop)
        watch = {"fake": lambda: [fake_proc.pid], "balancer": lambda: tree(live.proc.pid)}
        direct = Target("direct", int(fake.url.rsplit(":", 1)[1]),
                        "/v1beta/openai/chat/completions", keys[0])
        via = Target("balancer", live.port, "/v1/chat/completions", TOKEN)
        first_workers = live.worker_pids()
        results = keepalive_phases(c, direct, via, watch)
        sampler.stop()
        pids = live.worker_pids()
        results["memory"] = {
            "peak_total": sampler.peak_total,
            "master_peak": sampler.peak_by_pid.get(live.proc.pid, 0),
            "workers_peak": [sampler.peak_by_pid.get(p, 0) for p in pids],
            "worker_replaced": sorted(pids) != sorted(first_workers)}
        live.stop()  # before the streams phase, which runs its own single worker
        results["streams"] = (streams_phase(c, streams, tmp, env, fake, {"fake": watch["fake"]},
                                            stack) if streams else None)
    return results


def main(argv: Optional[list[str]] = None) -> None:
    """Parse flags, run every phase, print the table (and write JSON)."""
    args = parse_args(argv)
    c = dict(QUICK if args.quick else FULL)
    streams = args.streams if args.streams is not None else c["streams"]
    fd_limit = raise_fd_limit(4 * streams + 1000)
    # Either signal unwinds run(), which stops every process it started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.time()
    busy_before = busy_now()
    results = run(c, args.workers, streams)
    results["meta"] = {
        "workers": args.workers, "quick": args.quick, "loadgen": LOADGEN, "counts": c,
        "cores": os.cpu_count(), "python": platform.python_version(), "fd_limit": fd_limit,
        "busy_before_pct": busy_before, "wrk_installed": shutil.which("wrk") is not None,
        "seconds": round(time.time() - started, 1)}
    results["figures"] = figures(results)
    print_report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
