"""A database the flusher has to wait for does not hold up the worker's requests.

Under gunicorn's gevent workers the flusher shares the worker with every request.
While another connection holds the database locked, the flusher's write waits
for it; requests sent meanwhile must still be answered at their usual pace, and
once the lock is gone every one of them reaches request_logs.

On SQLite the lock is ``BEGIN EXCLUSIVE`` on the file (the writer waits on the
busy timeout, inside the driver); on PostgreSQL and MariaDB a table lock on
request_logs (the writer waits for the server).

Underneath: under gevent the work runs in one native thread other than the
loop's, always the same one, and its errors come back to the caller; without
gevent the caller does the work itself.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
import requests
import sqlalchemy as sa

from balancer.dbthread import DatabaseThread
from tests import conftest
from tests.conftest import TOKEN
from tests.fake_upstream import make_key
from tests.live import ROOT

pytestmark = pytest.mark.e2e

#: How long the database stays locked.
LOCKED = 3.0
#: A request to the fake upstream takes milliseconds; a worker whose loop waits on
#: the database stalls for a whole busy timeout (0.25 s under gevent) at each flush
#: round, several times while the lock lasts.
PROMPT = 0.2
#: A busy machine may hold up any one request: that is not the loop waiting.
OUTLIERS = 1
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "off the loop"}]}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class TableLock:
    """Holds the database (SQLite) or the request_logs table (others) locked."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.sqlite: sqlite3.Connection | None = None
        self.conn: sa.Connection | None = None
        self.engine: sa.Engine | None = None

    def __enter__(self) -> "TableLock":
        if self.url.startswith("sqlite"):
            self.sqlite = sqlite3.connect(self.url.split("///", 1)[1], timeout=30,
                                          isolation_level=None)
            self.sqlite.execute("BEGIN EXCLUSIVE")
            return self
        self.engine = sa.create_engine(self.url)
        self.conn = self.engine.connect()
        if self.engine.dialect.name == "postgresql":
            self.conn.execute(sa.text("LOCK TABLE request_logs IN EXCLUSIVE MODE"))
        else:
            self.conn.execute(sa.text("LOCK TABLES request_logs WRITE"))
        return self

    def __exit__(self, *exc) -> None:
        if self.sqlite is not None:
            self.sqlite.execute("ROLLBACK")
            self.sqlite.close()
        if self.conn is not None:
            if self.engine.dialect.name != "postgresql":
                self.conn.execute(sa.text("UNLOCK TABLES"))
            self.conn.rollback()
            self.conn.close()
            self.engine.dispose()


def logged(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT COUNT(*) FROM request_logs "
                                        "WHERE route = 'chat.completions'")).scalar()
    finally:
        engine.dispose()


def wait_logged(database_url: str, n: int, timeout: float = 15.0) -> int:
    """Wait until ``n`` requests are in request_logs; how many are."""
    deadline = time.monotonic() + timeout
    found = logged(database_url)
    while found < n and time.monotonic() < deadline:
        time.sleep(0.2)
        found = logged(database_url)
    return found


def test_requests_are_answered_while_the_flusher_waits_for_the_database(
        start, database_url, upstream):
    live = start([make_key("offloop", i) for i in range(2)])
    session = requests.Session()  # one connection: one worker gets the traffic and flushes it

    def send() -> float:
        began = time.monotonic()
        resp = session.post(f"{live.url}/v1/chat/completions", json=CHAT, headers=AUTH, timeout=30)
        assert resp.status_code == 200, resp.text
        return time.monotonic() - began

    for _ in range(10):
        send()
    assert wait_logged(database_url, 10) == 10

    took = []
    with TableLock(database_url):
        ends = time.monotonic() + LOCKED
        while time.monotonic() < ends:
            took.append(send())
    sent = 10 + len(took)

    slow = sorted((t for t in took if t > PROMPT), reverse=True)
    assert len(slow) <= OUTLIERS, (f"{len(slow)} of {len(took)} requests waited for the database: "
                                   f"{[round(t, 3) for t in slow]}", live.log()[-3000:])
    assert wait_logged(database_url, sent) == sent, live.log()[-3000:]


#: Under gevent, as in a gunicorn worker: where the work runs and what comes back.
IN_A_WORKER = textwrap.dedent("""
    from gevent import monkey; monkey.patch_all()
    import json, os
    import sqlalchemy as sa
    from balancer import create_app
    from balancer.config import Config
    from balancer.dbthread import DatabaseThread

    native = monkey.get_original("threading", "get_ident")
    thread = DatabaseThread.start(create_app(Config(dict(os.environ))))

    def count(session):
        return native(), session.scalar(sa.text("SELECT COUNT(*) FROM request_logs"))

    ident, n = thread.run(count)
    try:
        thread.run(lambda session: session.execute(sa.text("SELECT * FROM no_such_table")))
        raised = None
    except Exception as exc:
        raised = type(exc).__name__
    print(json.dumps({"loop": native(), "thread": ident, "again": thread.run(count)[0],
                      "count": n, "raised": raised}))
""")


def test_under_gevent_the_database_work_runs_in_one_other_thread(database_url, tmp_path):
    env = {**os.environ, **conftest.test_env(database_url, "http://127.0.0.1:9", tmp_path)}
    out = subprocess.run([sys.executable, "-c", IN_A_WORKER], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["thread"] != seen["loop"]
    assert seen["again"] == seen["thread"]  # its connections never change threads
    assert isinstance(seen["count"], int)
    assert seen["raised"] in ("OperationalError", "ProgrammingError")  # as the driver names it


def test_without_gevent_the_caller_does_the_database_work(make_app):
    assert DatabaseThread.start(make_app()) is None


#: A worker's sync round under gevent: every statement it runs, and in which thread.
SYNC_IN_A_WORKER = textwrap.dedent("""
    from gevent import monkey; monkey.patch_all()
    import json, os
    import sqlalchemy as sa
    from balancer import create_app
    from balancer.config import Config
    from balancer.dbthread import DatabaseThread
    from balancer.services import keys as key_service

    native = monkey.get_original("threading", "get_ident")
    app = create_app(Config(dict(os.environ)))
    services = app.extensions["balancer"].services
    services.bootstrap()
    services._db_thread = DatabaseThread.start(app)
    with app.app_context():  # another process adds a key: the sync must bring it
        (added,) = key_service.add_keys(app.extensions["balancer"], [os.environ["NEW_KEY"]]).added
    seen = []
    sa.event.listen(sa.Engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *rest: seen.append(
                        (native(), statement.split()[0].upper())))
    services.sync()
    print(json.dumps({"loop": native(), "threads": sorted({t for t, _ in seen}),
                      "statements": len(seen), "kinds": sorted({k for _, k in seen}),
                      "learned": added in app.extensions["balancer"].keypool.key_ids()}))
""")


def test_under_gevent_a_sync_reads_the_database_outside_the_loop(database_url, tmp_path):
    env = {**os.environ, **conftest.test_env(database_url, "http://127.0.0.1:9", tmp_path),
           "NEW_KEY": make_key("offloop-sync", 0)}
    out = subprocess.run([sys.executable, "-c", SYNC_IN_A_WORKER], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["statements"] >= 5 and "SELECT" in seen["kinds"]
    assert len(seen["threads"]) == 1 and seen["threads"][0] != seen["loop"], seen
    assert seen["learned"]
