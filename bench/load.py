"""A light HTTP load generator for ``proxy_bench.py``, run as its own process.

``python bench/load.py '<json spec>'`` patches the standard library with gevent, then speaks
HTTP/1.1 over raw keep-alive sockets (one per greenlet): no ``requests``, no ``http.client``,
so the client spends a few tens of microseconds per request and stays out of the way.

Spec: ``mode`` (``latency``, ``throughput`` or ``streams``), ``host``, ``port``, ``request``
(the raw request bytes, latin-1), ``count``, ``concurrency``, ``warmup``, ``stream`` (count
the answer's SSE events), ``expect_events``, ``ramp`` (streams: seconds over which they
open) and ``timeout`` (seconds, for the whole run).

After the warm-up it prints ``ready`` and waits for a line on stdin, so that the caller can
read CPU counters right before the measured part; then it prints one JSON line of results.
"""
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Optional  # noqa: E402

import gevent  # noqa: E402
from gevent.pool import Pool  # noqa: E402

DELTA = b'"delta"'
DONE = b"data: [DONE]"


@dataclass
class Reply:
    """One answer: status, body, and when its head and first body bytes arrived."""

    status: int
    body: bytes
    sent: float
    first_byte: float
    done: float


class Connection:
    """One keep-alive HTTP/1.1 connection with just enough parsing for our answers."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.open = True

    def close(self) -> None:
        """Close the socket."""
        self.open = False
        self.sock.close()

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        self.buf += data

    def _until(self, sep: bytes) -> bytes:
        start = 0
        while True:
            i = self.buf.find(sep, start)
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + len(sep)]
                return out
            start = max(0, len(self.buf) - len(sep) + 1)
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def exchange(self, request: bytes) -> Reply:
        """Send one request and read its whole answer (chunked, sized or up to EOF)."""
        sent = time.perf_counter()
        self.sock.sendall(request)
        head = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        first: Optional[float] = None
        if "chunked" in headers.get("transfer-encoding", ""):
            parts = []
            while True:
                size = int(self._until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    while self._until(b"\r\n"):
                        pass  # trailers
                    break
                parts.append(self._exact(size))
                self._until(b"\r\n")
                if first is None:
                    first = time.perf_counter()
            body = b"".join(parts)
        elif "content-length" in headers:
            body = self._exact(int(headers["content-length"]))
        else:
            try:
                while True:
                    self._fill()
            except EOFError:
                pass
            body, self.buf = bytes(self.buf), bytearray()
            self.open = False
        done = time.perf_counter()
        if headers.get("connection") == "close" or not head[0].startswith("HTTP/1.1"):
            self.close()
        return Reply(status, body, sent, first or done, done)


class Run:
    """Counters shared by the greenlets of one run."""

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.request = spec["request"].encode("latin-1")
        self.latencies: list[float] = []
        self.ttfbs: list[float] = []
        self.errors: Counter[str] = Counter()
        self.ok = 0
        self.incomplete = 0
        #: (first byte, done) of each answer: how many streams were open at once
        self.spans: list[tuple[float, float]] = []

    def connect(self) -> Connection:
        """A new connection to the target."""
        return Connection(self.spec["host"], self.spec["port"], self.spec.get("io_timeout", 60))

    def check(self, reply: Reply, record: bool) -> None:
        """Count one answer as ok, incomplete or an error."""
        if reply.status != 200:
            self.errors[f"HTTP {reply.status}"] += 1
            return
        if self.spec.get("stream"):
            events = reply.body.count(DELTA)
            if not reply.body.rstrip().endswith(DONE) or events < self.spec.get("expect_events", 1):
                self.incomplete += 1
                return
        if record:
            self.ok += 1
            self.latencies.append((reply.done - reply.sent) * 1000)
            self.ttfbs.append((reply.first_byte - reply.sent) * 1000)
            self.spans.append((reply.first_byte, reply.done))

    def worker(self, conn: Optional[Connection], n: int, record: bool) -> Optional[Connection]:
        """Send ``n`` requests over one connection, reconnecting after failures."""
        for _ in range(n):
            try:
                if conn is None or not conn.open:
                    conn = self.connect()
                self.check(conn.exchange(self.request), record)
            except (OSError, EOFError, ValueError, IndexError) as exc:
                self.errors[type(exc).__name__] += 1
                if conn is not None:
                    conn.close()
                conn = None
        return conn


def shares(total: int, parts: int) -> list[int]:
    """Split ``total`` requests over ``parts`` greenlets as evenly as possible."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def percentiles(values: list[float]) -> dict:
    """p50, p90, p99, max and mean of a list (empty: all None)."""
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None, "mean": None, "n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": round(ordered[-1], 3),
            "mean": round(sum(ordered) / len(ordered), 3), "n": len(ordered)}


def peak_open(spans: list[tuple[float, float]]) -> int:
    """The most streams that were relaying at the same moment (from first byte to end)."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


def cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def handshake() -> None:
    """Say the warm-up is over and wait for the go-ahead."""
    print("ready", flush=True)
    sys.stdin.readline()


def run_keepalive(run: Run) -> dict:
    """``latency`` and ``throughput``: ``concurrency`` connections, ``count`` requests."""
    spec = run.spec
    c = spec["concurrency"]
    conns: list[Optional[Connection]] = [None] * c
    pool = Pool(c)
    warm = [pool.spawn(run.worker, None, n, False) for n in shares(max(spec["warmup"], c), c)]
    gevent.joinall(warm, timeout=spec["timeout"])
    conns = [g.value for g in warm]
    warm_errors = sum(run.errors.values())
    run.errors.clear()
    handshake()
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    jobs = [pool.spawn(run.worker, conn, n, True) for conn, n in zip(conns, shares(spec["count"], c))]
    gevent.joinall(jobs, timeout=spec["timeout"])
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    pool.kill(block=False)
    done = run.ok + run.incomplete + sum(run.errors.values())
    return {"ok": run.ok, "incomplete": run.incomplete, "errors": dict(run.errors),
            "warmup_errors": warm_errors, "sent": done, "elapsed_s": round(elapsed, 4),
            "rps": round(done / elapsed, 1) if elapsed else None, "cpu_s": round(cpu, 3),
            "latency_ms": percentiles(run.latencies), "ttfb_ms": percentiles(run.ttfbs),
            "timed_out": done < spec["count"]}


def run_streams(run: Run) -> dict:
    """``streams``: ``count`` streams at once, each on its own new connection."""
    spec = run.spec
    handshake()
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    # Streams may open over ``ramp`` seconds, as real clients arrive, rather than
    # all in one burst that overflows the listen queue before a worker accepts.
    ramp = spec.get("ramp", 0.0)
    step = ramp / spec["count"] if spec["count"] else 0.0
    jobs = [gevent.spawn_later(i * step, run.worker, None, 1, True)
            for i in range(spec["count"])]
    gevent.joinall(jobs, timeout=spec["timeout"])
    elapsed = time.perf_counter() - t0
    unfinished = sum(1 for g in jobs if not g.ready())
    gevent.killall(jobs, block=False)
    return {"ok": run.ok, "incomplete": run.incomplete, "errors": dict(run.errors),
            "unfinished": unfinished, "elapsed_s": round(elapsed, 3),
            "peak_open": peak_open(run.spans),
            "cpu_s": round(cpu_seconds() - cpu0, 3),
            "latency_ms": percentiles(run.latencies), "ttfb_ms": percentiles(run.ttfbs)}


def main(argv: list[str]) -> None:
    """Run the spec given as the one argument; print the results as JSON."""
    spec = json.loads(argv[0])
    run = Run(spec)
    result = run_streams(run) if spec["mode"] == "streams" else run_keepalive(run)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent reports
        sys.exit(130)
