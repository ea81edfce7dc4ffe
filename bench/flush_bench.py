"""What one flush of request records costs, alone and beside busy requests.

Run: ``.venv/bin/python bench/flush_bench.py [--records N] [--rounds N] [--database-url URL]``.
Writes ``--records`` records (400: what a worker serving ~800 requests a second gathers
between two flushes) with the flusher's own ``write_records`` into a throw-away SQLite
database (or the empty database ``--database-url`` names, whose tables are dropped first),
``--rounds`` times, and prints the median time and CPU of a flush:

- alone;
- beside a thread that keeps the interpreter busy, as a worker's requests do: the flush
  runs in the worker's database thread and shares the interpreter's lock with them. Its
  time there says how long the requests share the lock with it, and its CPU how much
  it takes from them.

Prints figures only; run it on two checkouts to compare them.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from balancer.extensions import db  # noqa: E402
from balancer.telemetry.flusher import write_records  # noqa: E402
from balancer.telemetry.record import RequestRecord  # noqa: E402
from tests.live import migrated_app  # noqa: E402

KEYS = 20


def records(n: int) -> list[RequestRecord]:
    """A flush's worth of successful chat completions over ``KEYS`` keys."""
    now = time.time()
    return [RequestRecord(at=now + i * 0.002, api_format="openai", route="chat.completions",
                          model="gemini-2.5-flash", pool_id=1, key_id=1 + i % KEYS, client_id=1,
                          client_name="bench", status=200, attempts=1, latency_ms=900 + i % 300,
                          ttfb_ms=200 + i % 50, tokens_in=12, tokens_out=340) for i in range(n)]


def flushes(n: int, rounds: int) -> tuple[float, float]:
    """Median wall time and CPU time (ms) of one flush of ``n`` records."""
    walls, cpus = [], []
    for _ in range(rounds):
        batch = records(n)
        wall, cpu = time.perf_counter(), time.thread_time()
        write_records(db.session, batch, True)
        db.session.commit()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.thread_time() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/flush.db"
        app = migrated_app({"DATABASE_URL": url, "SECRET_KEY": "bench-secret-key-0123456789abcdef",
                            "BALANCER_INSTANCE_PATH": tmp})
        with app.app_context():
            flushes(args.records, 3)  # statements compiled, tables warm
            alone = flushes(args.records, args.rounds)
            stop = threading.Event()

            def busy() -> None:
                while not stop.is_set():
                    sum(range(100))
            thread = threading.Thread(target=busy, daemon=True)
            thread.start()
            try:
                beside = flushes(args.records, args.rounds)
            finally:
                stop.set()
                thread.join()
            db.session.remove()
    print(f"flush of {args.records} records ({ROOT.name}, "
          f"{url.split(':', 1)[0]}; medians of {args.rounds}):")
    print(f"  alone:                  {alone[0]:7.1f} ms, CPU {alone[1]:6.1f} ms")
    print(f"  beside a busy thread:   {beside[0]:7.1f} ms, CPU {beside[1]:6.1f} ms")


if __name__ == "__main__":
    main()
