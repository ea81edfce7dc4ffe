"""How fast the statistics endpoints answer over a big history: every one under 200 ms.

Run: ``.venv/bin/python bench/stats_bench.py [--rows N] [--keys N] [--days N]
[--database-url URL] [--repeat N]``. Builds a database (a throw-away SQLite file
by default; an empty PostgreSQL or MariaDB database with ``--database-url``,
whose tables are dropped first) with ``--rows`` request-log rows (1,000,000) on
``--keys`` keys (500) over ``--days`` days (30) ending now, on three pools,
several models and client tokens and every outcome class, with the minute
buckets, histograms and hour/day rollups the flusher would have written for
them (computed and inserted by the flusher's own functions). Then times every statistics endpoint over each range through
the Flask app (JSON included) and prints p50/max per endpoint and range.
Prints figures only; nothing here asserts.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from balancer.extensions import db  # noqa: E402
from balancer.models.bulk import insert_many  # noqa: E402
from balancer.models import (ApiKey, ClientToken, Pool, RequestLog, UsageBucket,  # noqa: E402
                             UsageDay, UsageHistogram, UsageHour)
from balancer.telemetry import flusher  # noqa: E402
from balancer.telemetry.record import RequestRecord  # noqa: E402
from tests.live import migrated_app  # noqa: E402

TARGET_MS = 200.0
RANGES = ("1h", "6h", "24h", "7d", "30d")
ENDPOINTS = ("requests", "tokens", "latency", "breakdown/key", "breakdown/model",
             "breakdown/client", "breakdown/pool", "breakdown/api")
#: The client dialects the generated traffic spreads over.
APIS = ("openai", "gemini", "anthropic", "responses")
POOLS = {"gemini": ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash"),
         "openai": ("gpt-4o-mini", "gpt-4.1"), "backup": ("gemini-2.5-flash-lite",)}
CLIENTS = 12
#: (status class, HTTP status, share): mostly successes, every error class present.
OUTCOMES = (("success", 200, 0.88), ("client_error", 400, 0.04), ("rate_limited", 429, 0.04),
            ("upstream_error", 500, 0.02), ("no_key", 503, 0.01), ("client_gone", 499, 0.01))
BATCH = 20_000


def build(app, rows: int, n_keys: int, days: int, seed: int = 7) -> float:
    """Fill the database; returns the seconds it took."""
    began = time.perf_counter()
    rnd = random.Random(seed)
    with app.app_context():
        pools = []
        for name, models in POOLS.items():
            pool = Pool(name=name, kind="openai" if name == "openai" else "gemini")
            db.session.add(pool)
            db.session.flush()
            pools.append((pool.id, models))
        keys = []
        for i in range(n_keys):
            pool_id, models = pools[i % len(pools)]
            key = ApiKey(pool_id=pool_id, secret_encrypted="bench", fingerprint=f"bench-{i}",
                         display=f"AIza…{i:03d}", label=f"project {i // 10}")
            db.session.add(key)
            keys.append((key, pool_id, models))
        clients = [ClientToken(name=f"client {i}", token_hash=f"bench-{i}", prefix=f"bt{i}")
                   for i in range(CLIENTS)]
        db.session.add_all(clients)
        db.session.commit()
        keys = [(k.id, pool_id, models) for k, pool_id, models in keys]
        client_ids = [c.id for c in clients] + [None]
        classes = [o[:2] for o in OUTCOMES]
        weights = [o[2] for o in OUTCOMES]
        now = time.time()
        start = now - days * 86400
        per_day = rows // days
        for d in range(days):
            # One day at a time: minute, hour and day rows never cross a UTC day... nearly;
            # the upserts add up whatever two days share.
            day_start = start + d * 86400
            count = per_day if d < days - 1 else rows - per_day * (days - 1)
            records = []
            for _ in range(count):
                key_id, pool_id, models = rnd.choice(keys)
                (status_class, status), = rnd.choices(classes, weights)
                stream = rnd.random() < 0.4
                latency = int(rnd.lognormvariate(6.5, 0.8))
                rec = RequestRecord(
                    at=day_start + rnd.random() * 86400, api_format=rnd.choice(APIS),
                    route="chat.completions", model=rnd.choice(models), pool_id=pool_id,
                    key_id=None if status_class == "no_key" else key_id,
                    client_id=rnd.choice(client_ids), stream=stream, status=status, attempts=1,
                    latency_ms=latency, ttfb_ms=int(latency * 0.3) if stream else None,
                    tokens_in=rnd.randint(10, 2000) if status == 200 else 0,
                    tokens_out=rnd.randint(10, 1000) if status == 200 else 0,
                    error_class=None if status_class == "success" else status_class)
                records.append(rec)
            records.sort(key=lambda r: r.at)
            for i in range(0, len(records), BATCH):
                insert_many(db.session, RequestLog.__table__, flusher.LOG_COLUMNS,
                            [flusher.log_values(r) for r in records[i:i + BATCH]])
            flusher.write_usage(db.session, records)
            db.session.commit()
            print(f"  day {d + 1}/{days}: {len(records):,} requests", end="\r", flush=True)
        print()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
        elif db.engine.dialect.name == "sqlite":
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
    return time.perf_counter() - began


def table_rows(app) -> dict[str, int]:
    """Rows per table, as built."""
    with app.app_context():
        return {m.__table__.name: db.session.scalar(sa.select(sa.func.count()).select_from(m))
                for m in (RequestLog, UsageBucket, UsageHistogram, UsageHour, UsageDay)}


def time_endpoints(app, repeat: int) -> list[tuple[str, str, float, float, str]]:
    """(endpoint, range, p50 ms, max ms, granularity) for every endpoint and range."""
    client = app.test_client()
    out = []
    for endpoint in ENDPOINTS:
        for name in RANGES:
            url = f"/admin/stats/{endpoint}?range={name}"
            client.get(url)  # first call: connection and caches warm
            times, granularity = [], ""
            for _ in range(repeat):
                t = time.perf_counter()
                resp = client.get(url)
                times.append((time.perf_counter() - t) * 1000)
                if resp.status_code != 200:
                    raise RuntimeError(f"{url}: {resp.status_code} {resp.get_data(as_text=True)[:300]}")
                granularity = resp.get_json()["granularity"]
            out.append((endpoint, name, statistics.median(times), max(times), granularity))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="stats-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    app = migrated_app({"DATABASE_URL": url, "SECRET_KEY": "stats-bench-secret-long-enough",
                        "BALANCER_INSTANCE_PATH": str(tmp), "REQUIRE_ADMIN_LOGIN": "false",
                        "LOG_LEVEL": "WARNING"})
    print(f"database: {sa.make_url(url).get_backend_name()}; building {args.rows:,} requests, {args.keys} keys, "
          f"{args.days} days ...")
    took = build(app, args.rows, args.keys, args.days)
    print(f"built in {took:.0f} s: " + ", ".join(f"{t} {n:,}" for t, n in table_rows(app).items()))
    results = time_endpoints(app, args.repeat)
    print(f"\n{'endpoint':<18} {'range':>5} {'per':>7} {'p50 ms':>8} {'max ms':>8}  target {TARGET_MS:.0f} ms")
    for endpoint, name, p50, worst, granularity in results:
        mark = "ok" if worst < TARGET_MS else "SLOW"
        print(f"{endpoint:<18} {name:>5} {granularity:>7} {p50:8.1f} {worst:8.1f}  {mark}")
    slow = [r for r in results if r[3] >= TARGET_MS]
    print(f"\n{len(results) - len(slow)}/{len(results)} under {TARGET_MS:.0f} ms (max of {args.repeat})")
    rt = app.extensions["balancer"]
    if rt.services is not None:
        rt.services.stop(timeout=5)


if __name__ == "__main__":
    main()
