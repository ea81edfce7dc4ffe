"""Database work off a gevent worker's event loop: one native thread, with connections of its own.

Under gunicorn's gevent worker every request of a worker runs in one event loop,
and database work done in that loop holds all of them: SQLite waits for a lock
inside C (its busy timeout), and building and sending a batch's rows is Python
work that never yields. In a native thread that work runs beside the loop; the
greenlet that asked for it waits for the result without holding anyone else up.

One thread, always the same, and an engine that only it uses: a gevent socket
(pymysql's) belongs to the hub of the thread that made it and cannot wait in
another thread, so no connection may pass between the loop and this thread.
(psycopg waits with a poll made at each wait, in the waiting thread, and SQLite
has no socket: for them the rule costs nothing.)

Without gevent (tests, the flask CLI) there is no loop to protect and no thread:
the callers do the work themselves.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Optional, TypeVar

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from balancer.engine_options import under_gevent
from balancer.extensions import db, sqlite_pragmas

T = TypeVar("T")

#: Seconds a thread may hold the GIL while another waits for it (see ``DatabaseThread``).
SWITCH_INTERVAL = 0.0001

#: How long a write in the thread waits for SQLite's lock (another worker's write, a
#: backup). The loop keeps the short busy timeout (balancer.engine_options); here
#: waiting stops no request, so a lock of a few seconds is waited out rather than
#: failed and retried. Bounded, so that a graceful stop is not held up long.
SQLITE_BUSY_TIMEOUT = 5.0


class DatabaseThread:
    """Runs ``fn(session)`` in this process's database thread, one call at a time."""

    def __init__(self, engine: sa.Engine) -> None:
        from gevent.threadpool import ThreadPool
        self.engine = engine
        # One worker thread that never retires (idle_task_timeout -1): the engine's
        # connections are made in it and stay in it. Nor is it ended on a stop: idle,
        # it waits on a native lock and goes with the process, as gevent's own pool
        # threads do. Ended, it would destroy its hub's loop, and watchers of a
        # destroyed loop can crash the interpreter as it finalizes (gevent #1098).
        self._pool = ThreadPool(1)
        # While the thread builds a batch's rows it holds the GIL, and the loop waits for
        # it up to the switch interval: 5 ms by default, longer than a whole proxied
        # request. A shorter interval hands the GIL back to the loop within a fraction
        # of a request; it costs nothing while only one of them wants it.
        sys.setswitchinterval(SWITCH_INTERVAL)

    @classmethod
    def start(cls, app: Flask) -> Optional["DatabaseThread"]:
        """The thread for this process, or None where the caller should do the work itself."""
        if not under_gevent():
            return None
        with app.app_context():
            url = db.engine.url  # as Flask-SQLAlchemy completed it (paths, charset)
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            return None  # a memory database lives in the loop's one connection only
        return cls(thread_engine(url, app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})))

    def run(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` in the thread; the calling greenlet waits, the loop goes on.

        The session is the thread's own and closed afterwards (its connection back
        in the thread's pool); ``fn`` commits or rolls back. An error raised by
        ``fn`` is raised here.
        """
        return self._pool.apply(self._call, (fn,))

    def _call(self, fn: Callable[[Session], T]) -> T:
        # No app context on purpose: db.session here would be the loop's engine,
        # whose connections must not come into this thread; without a context
        # such a slip fails at once, on every database.
        with Session(self.engine) as session:
            return fn(session)


def thread_engine(url: sa.URL, options: dict[str, Any]) -> sa.Engine:
    """An engine like the app's (same database and options) for the thread alone."""
    options = dict(options)
    if url.get_backend_name() == "sqlite":
        options["connect_args"] = {**options.get("connect_args", {}),
                                   "timeout": SQLITE_BUSY_TIMEOUT}
    engine = sa.create_engine(url, **options)
    sqlite_pragmas(engine)
    return engine
