"""How fast the logs page answers over a big request log: the first page, a deep page and
each common filter cost about the same (keyset pages, an index per filter).

Run: ``.venv/bin/python bench/logs_bench.py [--rows N] [--database-url URL] [--repeat N]``.
Builds a database (a throw-away SQLite file by default; an empty PostgreSQL or MariaDB
database with ``--database-url``, whose tables are dropped first) with ``--rows``
request-log rows (1,000,000) over 30 days on 500 keys, 3 pools, 6 models, 20 clients and
every outcome class, then times GET /admin/logs (HTML included) for each case and prints
p50/max. Prints figures only; nothing here asserts.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from balancer.extensions import db  # noqa: E402
from balancer.models import RequestLog  # noqa: E402
from balancer.services.request_log import Cursor  # noqa: E402
from tests.live import migrated_app  # noqa: E402

MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash", "gpt-4o-mini", "llama-3.3",
          "embedding-001")
CLASSES = ((None, 200, None),) * 90 + (
    ("rate_limited", 429, "Every key is cooling down for this model"),
    ("upstream_error", 502, "Upstream said: Internal error encountered."),
    ("no_key", 503, "No key can serve the model: 3 disabled (API_KEY_INVALID)"),
    (None, 404, "models/x is not found for API version v1beta"),
    ("client_gone", 499, None))


def build(app, rows: int, seed: int = 7) -> float:
    """Insert ``rows`` request-log rows in time order, as the flusher would, in bulk."""
    rnd = random.Random(seed)
    started = time.monotonic()
    end = datetime.now(timezone.utc)
    step = timedelta(days=30) / rows
    at = end - timedelta(days=30)
    batch = []
    with app.app_context():
        table = RequestLog.__table__
        for i in range(rows):
            at += step
            cls, status, message = rnd.choice(CLASSES)
            batch.append({
                "created_at": at, "client_id": rnd.randint(1, 20), "client_name": "client",
                "pool_id": rnd.randint(1, 3), "key_id": rnd.randint(1, 500),
                "model": rnd.choice(MODELS), "api_format": "openai", "route": "chat.completions",
                "stream": rnd.random() < 0.3, "status": status, "attempts": 1,
                "latency_ms": rnd.randint(50, 5000), "ttfb_ms": rnd.randint(20, 900),
                "tokens_in": rnd.randint(1, 2000), "tokens_out": rnd.randint(1, 2000),
                "error_class": cls, "error_message": message})
            if len(batch) == 20_000:
                db.session.execute(table.insert(), batch)
                db.session.commit()
                batch = []
        if batch:
            db.session.execute(table.insert(), batch)
            db.session.commit()
    return time.monotonic() - started


def cases(app) -> list[tuple[str, str]]:
    """(name, URL) of each timed page."""
    with app.app_context():
        ids = db.session.scalars(sa.select(RequestLog.id).order_by(RequestLog.id)).all()
        deep = Cursor.of(db.session.get(RequestLog, ids[len(ids) // 10])).encode()
        middle = Cursor.of(db.session.get(RequestLog, ids[len(ids) // 2])).encode()
    day = (datetime.now(timezone.utc) - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    day_end = (datetime.now(timezone.utc) - timedelta(days=9)).strftime("%Y-%m-%dT%H:%M")
    return [
        ("first page", "/admin/logs"),
        ("page at the middle", f"/admin/logs?before={middle}"),
        ("page near the oldest", f"/admin/logs?before={deep}"),
        ("newer from the oldest", f"/admin/logs?after={deep}"),
        ("key", "/admin/logs?key=17"),
        ("key, deep", f"/admin/logs?key=17&before={deep}"),
        ("outcome upstream_error", "/admin/logs?outcome=upstream_error"),
        ("model", "/admin/logs?model=llama-3.3"),
        ("client", "/admin/logs?client=3"),
        ("one day", f"/admin/logs?since={day}&until={day_end}"),
        ("status 503 + day", f"/admin/logs?status=503&since={day}&until={day_end}"),
        ("search (bounded)", "/admin/logs?q=internal+error"),
        ("search, no match (bounded)", "/admin/logs?q=no+such+words"),
        ("search in one day", f"/admin/logs?q=api_key_invalid&since={day}&until={day_end}"),
        ("200 rows", "/admin/logs?per_page=200"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="logs-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    app = migrated_app({"DATABASE_URL": url, "SECRET_KEY": "logs-bench-secret-long-enough",
                        "BALANCER_INSTANCE_PATH": str(tmp), "REQUIRE_ADMIN_LOGIN": "false",
                        "LOG_LEVEL": "WARNING"})
    print(f"database: {sa.make_url(url).get_backend_name()}; building {args.rows:,} request-log rows ...")
    print(f"built in {build(app, args.rows):.0f} s")
    client = app.test_client()
    print(f"\n{'case':<28} {'rows':>5} {'p50 ms':>8} {'max ms':>8}")
    for name, path in cases(app):
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            resp = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        shown = resp.get_data(as_text=True).count("data-log-id=")
        print(f"{name:<28} {shown:>5} {statistics.median(times):8.1f} {max(times):8.1f}"
              + ("" if resp.status_code == 200 else f"  HTTP {resp.status_code}"))
    rt = app.extensions["balancer"]
    if rt.services is not None:
        rt.services.stop(timeout=5)


if __name__ == "__main__":
    main()
