"""Scale figures: two instances against one, 10,000 concurrent streams, a memory soak.

Run one of:

    .venv/bin/python bench/scale_bench.py scaleout [--workers 1] [--count 6000]
    .venv/bin/python bench/scale_bench.py streams [--count 10000]
    .venv/bin/python bench/scale_bench.py soak [--minutes 10]

``scaleout`` puts one, then two, Balancer instances (separate gunicorn masters)
on one PostgreSQL database (``BENCH_DATABASE_URL``, default a ``balancer_bench``
database on 127.0.0.1:5432, created if missing) and drives each instance with
its own load generator at the same concurrency. ``streams`` holds COUNT slow
streams open at once through one instance (two workers by default). ``soak`` sends a
steady load for MINUTES and samples the instance's memory every few seconds.
Everything runs on loopback against the fake upstream and stops by itself;
the figures are printed, nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import native  # noqa: E402
from bench.procstat import (  # noqa: E402
    MemorySampler, machine_share, machine_ticks, tree, tree_cpu)
from bench.proxy_bench import (  # noqa: E402
    FULL, N_KEYS, TOKEN, Target, balancer_env, raw_request, run_load, start_fake, streams_phase)
from tests.fake_upstream import make_key  # noqa: E402
from tests.live import LiveBalancer, flask_cli  # noqa: E402

MIB = 1024 * 1024
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/balancer_bench"


def raise_fd_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE, the hard limit too where allowed (root); children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limits in ((max(soft, wanted), max(hard, wanted)), (min(hard, max(soft, wanted)), hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limits)
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def bench_database() -> str:
    """A PostgreSQL database of the bench's own, emptied and migrated."""
    url = os.environ.get("BENCH_DATABASE_URL", PG_BENCH)
    import sqlalchemy as sa
    if url == PG_BENCH:
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("DROP DATABASE IF EXISTS balancer_bench WITH (FORCE)"))
            conn.execute(sa.text("CREATE DATABASE balancer_bench"))
        admin.dispose()
    return url


def throughput(targets: list[Target], watch: dict, count: int, conc: int) -> list[dict]:
    """One load generator per target, all at once; each target's result."""
    results: list[dict] = [{} for _ in targets]

    def drive(i: int, t: Target) -> None:
        spec = {"mode": "throughput", "concurrency": conc, "warmup": conc * 5, "count": count,
                "request": raw_request(t.port, t.path, t.bearer, False)}
        results[i] = run_load(spec, t, watch, timeout=600)

    threads = [threading.Thread(target=drive, args=(i, t)) for i, t in enumerate(targets)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def scaleout(args: argparse.Namespace) -> None:
    """Throughput of one instance, then of two on the same database."""
    native_tools = args.tools == "native" or (args.tools == "auto" and native.available())
    if args.tools == "native" and not native.available():
        raise SystemExit("--tools native needs nginx and wrk: apt-get install nginx-light wrk")
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="balancer-scale-")))
        if native_tools:
            upstream_proc, upstream_url = native.start_nginx(stack, tmp)
        else:
            upstream_proc, fake = start_fake(stack, tmp)
            upstream_url = fake.url
        keys = [make_key("scale", i) for i in range(N_KEYS)]
        env = {**balancer_env(tmp, upstream_url, keys), "DATABASE_URL": bench_database()}
        migrated = flask_cli(env, "db", "upgrade")
        if migrated.returncode != 0:
            raise SystemExit(f"flask db upgrade failed:\n{migrated.stderr}")
        instances = []
        for n in range(2):
            live = LiveBalancer(env, workers=args.workers, log_path=tmp / f"gunicorn-{n}.log")
            instances.append(live.start())
            stack.callback(live.stop)
        targets = [Target(f"instance {n + 1}", live.port, "/v1/chat/completions", TOKEN)
                   for n, live in enumerate(instances)]

        def run(some: list[Target]) -> list[dict]:
            if native_tools:
                return wrk_throughput(tmp, some, args.seconds, args.concurrency)
            return throughput(some, {"fake": lambda: [upstream_proc.pid]}, args.count,
                              args.concurrency)

        if native_tools:
            print("  warming both instances up ...", file=sys.stderr, flush=True)
            wrk_throughput(tmp, targets, 3, args.concurrency)
        sharing = {"balancer": lambda: [p for live in instances for p in tree(live.proc.pid)],
                   "upstream": lambda: tree(upstream_proc.pid)}
        print(f"  one instance ({args.workers} worker(s)) ...", file=sys.stderr, flush=True)
        one, cpu_one = measured(run, targets[:1], sharing)
        print("  two instances, one load generator each ...", file=sys.stderr, flush=True)
        two, cpu_two = measured(run, targets, sharing)
    rps_one = one[0]["rps"]
    # Both generators' requests over the longer of their two runs: no credit for a
    # generator that finished early while the other still ran.
    rps_two = sum(r["sent"] for r in two) / max(r["elapsed_s"] for r in two)
    errors = [r["errors"] for r in one + two if r["errors"]]
    tools = ("nginx (one canned answer) as the upstream, wrk (one thread per instance) as "
             "load generator" if native_tools else
             "the fake upstream and bench/load.py (both Python) as upstream and load generator")
    amount = f"{args.seconds:g} s" if native_tools else f"{args.count} requests"
    print(f"\nScale-out on one PostgreSQL database ({os.cpu_count()} cores, "
          f"{args.workers} gevent worker(s) per instance, concurrency {args.concurrency} "
          f"per load generator, {amount} of non-streamed chat requests each)")
    print(f"  tools        : {tools}")
    print(f"  one instance : {rps_one:8.1f} req/s   p50 {one[0]['latency_ms']['p50']} ms, "
          f"p99 {one[0]['latency_ms']['p99']} ms   CPU {cpu_one}")
    for r, t in zip(two, targets):
        print(f"  {t.name:<13}: {r['rps']:8.1f} req/s   p50 {r['latency_ms']['p50']} ms, "
              f"p99 {r['latency_ms']['p99']} ms")
    print(f"  two together : {rps_two:8.1f} req/s   = {rps_two / rps_one:.2f} x one instance"
          f"   CPU {cpu_two}")
    print(f"  errors       : {errors or 'none'}")


def measured(run, targets: list[Target], sharing: dict) -> tuple[list[dict], str]:
    """``run(targets)``, and where the machine's CPU went meanwhile (% of one core)."""
    pids = {name: fn() for name, fn in sharing.items()}
    before = {name: sum(tree_cpu(p).values()) for name, p in pids.items()}
    machine0, t0 = machine_ticks(), time.perf_counter()
    results = run(targets)
    seconds = time.perf_counter() - t0
    machine = machine_share(machine0, machine_ticks(), seconds)
    shares = {name: 100 * (sum(tree_cpu(p).values()) - before[name]) / seconds
              for name, p in pids.items()}
    shares["the rest (load generators, database, the machine's other services)"] = (
        machine["busy"] - sum(shares.values()))
    parts = ", ".join(f"{name} {pct:.0f}%" for name, pct in shares.items())
    return results, f"machine {machine['busy']:.0f}% of {100 * (os.cpu_count() or 1)}% ({parts})"


def wrk_throughput(tmp: Path, targets: list[Target], seconds: float, conc: int) -> list[dict]:
    """One wrk per target, all at once; each target's result."""
    body = json.loads(raw_request(0, "/", "", False).split("\r\n\r\n", 1)[1])
    runs = [native.start_wrk(tmp, f"http://127.0.0.1:{t.port}{t.path}", t.bearer, body, seconds,
                             conc, name=str(i)) for i, t in enumerate(targets)]
    return [r.result() for r in runs]


def streams(args: argparse.Namespace) -> None:
    """COUNT slow streams at once through one instance."""
    fd = raise_fd_limit(3 * args.count + 2000)
    c = {**FULL, "chunks": args.chunks, "chunk_delay": args.chunk_delay}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="balancer-streams-")))
        fake_proc, fake = start_fake(stack, tmp)
        keys = [make_key("streams", i) for i in range(N_KEYS)]
        env = balancer_env(tmp, fake.url, keys)
        flask_cli(env, "db", "upgrade")
        r = streams_phase(c, args.count, tmp, env, fake, {"fake": lambda: [fake_proc.pid]}, stack,
                          workers=args.workers, ramp=args.ramp)
    print(f"\n{args.count} concurrent streams through one instance of {args.workers} gevent "
          f"worker(s) (file limit {fd} per process; opened over {args.ramp} s; each stream "
          f"{c['chunks']} chunks, {c['chunk_delay']} s apart)")
    print(f"  finished whole : {r['ok']} of {args.count}   incomplete {r['incomplete']}, "
          f"unfinished {r.get('unfinished')}, errors {r['errors'] or 'none'}")
    print(f"  open at once   : {r.get('peak_open')} streams relaying at the same moment (peak)")
    print(f"  time to first byte p50 / p99 : {r['ttfb_ms']['p50']} / {r['ttfb_ms']['p99']} ms")
    print(f"  workers memory idle -> peak  : {r['worker_rss_idle'] / MIB:.0f} -> "
          f"{r['worker_rss_peak'] / MIB:.0f} MiB "
          f"({(r['worker_rss_peak'] - r['worker_rss_idle']) / max(1, args.count) / 1024:.1f} "
          f"KiB per stream)")
    print(f"  worker replaced during run   : {r['worker_replaced']}")
    for line in r.get("log_tail", [])[-8:]:
        print(f"  log: {line[:160]}")


def soak(args: argparse.Namespace) -> None:
    """A steady load for MINUTES; the instance's memory every SAMPLE seconds."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="balancer-soak-")))
        fake_proc, fake = start_fake(stack, tmp)
        keys = [make_key("soak", i) for i in range(N_KEYS)]
        env = balancer_env(tmp, fake.url, keys)
        flask_cli(env, "db", "upgrade")
        live = LiveBalancer(env, workers=2, log_path=tmp / "gunicorn.log").start()
        stack.callback(live.stop)
        sampler = MemorySampler(live.proc.pid, interval=1.0).start()
        stack.callback(sampler.stop)
        target = Target("balancer", live.port, "/v1/chat/completions", TOKEN)
        watch = {"balancer": lambda: tree(live.proc.pid)}
        ends = time.monotonic() + args.minutes * 60
        samples: list[tuple[float, int]] = []
        sent = errors = 0
        started = time.monotonic()
        while time.monotonic() < ends:
            for stream in (False, True):
                spec = {"mode": "throughput", "concurrency": 16, "warmup": 0,
                        "count": args.batch, "stream": stream, "expect_events": 1,
                        "request": raw_request(live.port, target.path, TOKEN, stream)}
                r = run_load(spec, target, watch, timeout=300)
                sent += r["sent"]
                errors += sum(r["errors"].values()) + r["incomplete"]
            samples.append((time.monotonic() - started, sampler.sample()))
            print(f"  {samples[-1][0] / 60:5.1f} min  {samples[-1][1] / MIB:6.1f} MiB  "
                  f"{sent} requests", file=sys.stderr, flush=True)
        replaced = len(live.worker_pids()) != 2
    warm = [rss for t, rss in samples if t >= 60] or [rss for _, rss in samples]
    half = len(warm) // 2 or 1
    first, last = sum(warm[:half]) / half, sum(warm[half:]) / max(1, len(warm) - half)
    print(f"\nSoak: {args.minutes} min, {sent} requests (plain and streamed, concurrency 16), "
          f"{errors} errors; one instance of 2 workers, memory of master + workers")
    for t, rss in samples[:: max(1, len(samples) // 10)] + samples[-1:]:
        print(f"  {t / 60:5.1f} min   {rss / MIB:7.1f} MiB")
    print(f"  after the first minute: first half mean {first / MIB:.1f} MiB, second half mean "
          f"{last / MIB:.1f} MiB ({(last - first) / MIB:+.1f} MiB); peak "
          f"{sampler.peak_total / MIB:.1f} MiB; worker replaced: {replaced}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("scaleout", help="two instances against one")
    p.add_argument("--workers", type=int, default=1, help="gevent workers per instance")
    p.add_argument("--tools", choices=("auto", "native", "python"), default="auto",
                   help="native: nginx as the upstream and wrk as load generator (apt-get install "
                        "nginx-light wrk), which leave the CPU to Balancer; python: the fake "
                        "upstream and bench/load.py; auto: native where installed")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds (native tools)")
    p.add_argument("--count", type=int, default=6000,
                   help="requests per load generator (python tools)")
    p.add_argument("--concurrency", type=int, default=32)
    p = sub.add_parser("streams", help="concurrent streams through one instance")
    p.add_argument("--count", type=int, default=10_000)
    # Each stream holds two sockets in its worker (client and upstream): 10,000 streams
    # in one worker need more than the usual hard limit of 20,000 files.
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--ramp", type=float, default=30.0,
                   help="seconds over which the streams open (arrivals, not one burst)")
    p.add_argument("--chunks", type=int, default=20)
    # Each stream lasts 60 s, well beyond the ramp: at the end all are open at once.
    p.add_argument("--chunk-delay", type=float, default=3.0)
    p = sub.add_parser("soak", help="steady load, memory over time")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=2000, help="requests between memory samples")
    args = parser.parse_args()
    {"scaleout": scaleout, "streams": streams, "soak": soak}[args.what](args)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
