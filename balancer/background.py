"""Background services of one process: bootstrap, flusher, sync loop, and the loops of
the upkeep rounds (``balancer.upkeep``: probes, retention, model lists).

Under gunicorn's gevent worker these threads are greenlets. They are the only
code that reads or writes the database on behalf of the proxy. The flusher's
writes run there in a native thread (``balancer.dbthread``), so that a slow or
locked database does not hold up the worker's requests.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from typing import Callable, Optional, TypeVar

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from balancer import upkeep
from balancer.dbthread import DatabaseThread
from balancer.extensions import db
from balancer.keypool.sync import Syncer, persist
from balancer.runtime import Runtime
from balancer.services import keys as key_service
from balancer.services import usage_share
from balancer.services import pools as pool_service
from balancer.services import settings as settings_service
from balancer.telemetry import metrics
from balancer.telemetry.flusher import write_records
from balancer.telemetry.split import Written, write_splitting

T = TypeVar("T")
log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.5
BATCH = 5000
#: How often the models round looks for lists older than models_refresh_seconds;
#: jittered so that workers started together do not all fetch at once.
MODELS_CHECK_INTERVAL = 60.0
#: How often old logs (past their retention) and rows of files and caches the
#: upstream has deleted are dropped.
HOUSEKEEPING_INTERVAL = 600.0
#: How many times a graceful stop tries to write what is buffered (about 1.5 s in all).
STOP_FLUSH_TRIES = 5
#: Batches one flush round writes at most (a backlog of MAX_BATCHES x BATCH records);
#: the rest waits for the next round, so a round always ends.
MAX_BATCHES = 20
#: For this long after the database refused a record, /readyz says "degraded".
REFUSED_WINDOW = 300.0
#: How long a starting worker waits for a database it cannot reach (restarting, a network
#: blip, a write lock held elsewhere) before it fails: well within gunicorn's 60 s
#: worker timeout. A worker that fails to boot makes gunicorn stop the whole server.
BOOT_WAIT = 40.0
#: What a batch holds: key-state transitions and request records.
TRANSITION, RECORD = "key_state", "request"


def database_away(exc: BaseException) -> bool:
    """Whether a failed write means the database cannot be written now (keep the batch
    for a later round) rather than that a row of it can never be (set that row aside).

    Integrity and data errors, and text or numbers the driver cannot even send, are a
    row's; a lost connection, a lock, a deadlock, a missing table are the database's.
    """
    if isinstance(exc, (sa.exc.IntegrityError, sa.exc.DataError)):
        return False
    if isinstance(exc, (sa.exc.DBAPIError, sa.exc.DisconnectionError, sa.exc.TimeoutError,
                        OSError)):
        return True
    return False


class NotMigrated(RuntimeError):
    """The database has no Balancer tables yet."""


class Services:
    """Starts, runs and stops the loops; flushes what is left on stop."""

    def __init__(self, app: Flask, rt: Runtime):
        self.app = app
        self.rt = rt
        self.syncer = Syncer(rt.keypool, rt.box.decrypt)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._flush_lock = threading.Lock()
        #: Where the flusher's database work runs under gevent (None: in the caller).
        self._db_thread: Optional[DatabaseThread] = None
        self.last_flush_ok: Optional[float] = None
        self.last_flush_error: Optional[str] = None
        #: (time, reason, how many) of records the database refused lately (REFUSED_WINDOW).
        self.refused: list[tuple[float, str, int]] = []
        self.last_sync_ok: Optional[float] = None
        #: pool id -> epoch before which a failed model-list refresh is not retried.
        self.models_failed: dict[int, float] = {}
        #: pools whose missing model list this process already asked for at once.
        self._models_asked: set[int] = set()
        rt.services = self

    # -- lifecycle -------------------------------------------------------
    def bootstrap(self) -> None:
        """Default pool, keys from GEMINI_API_KEYS, settings, catalog and key pool."""
        with self.app.app_context():
            inspector = sa.inspect(db.engine)
            if not inspector.has_table("api_keys"):
                raise NotMigrated("the database has no tables: run `flask db upgrade` first")
            pool_service.ensure_default_pool()
            settings_service.load(self.rt)
            pool_service.load_catalog(self.rt)
            result = key_service.import_env_keys(self.rt)
            if result.added:
                log.info("GEMINI_API_KEYS: %s", result.summary())
            self.syncer.load_all(db.session)
            db.session.remove()
        self.rt.loaded = True
        self._want_missing_models()
        config = self.rt.config
        if config.HOST in ("0.0.0.0", "::") and not config.TRUSTED_HOSTS_SET:
            log.warning("HOST=%s with no TRUSTED_HOSTS: requests whose Host is not one of this "
                        "machine's own names or addresses get 400; on a platform or behind a "
                        "reverse proxy, set TRUSTED_HOSTS to the public host name", config.HOST)
        if config.OPEN_ACCESS:
            log.warning("OPEN_ACCESS=true: while no client token exists, the proxy accepts "
                        "every caller that can reach it%s",
                        "" if self.rt.catalog.auth_required else " (and none exists now)")
        elif not self.rt.catalog.auth_required:
            log.warning("no client token is configured: the proxy serves only callers on this "
                        "machine (loopback); create one (admin UI -> Client tokens, `flask tokens "
                        "add NAME`, or ALLOWED_TOKENS) to let others in")

    def start(self) -> None:
        """Bootstrap, then run the loops in the background."""
        self._bootstrap_waiting()
        self._stop.clear()
        if self._db_thread is None:  # kept over a stop: a later start uses it again
            self._db_thread = DatabaseThread.start(self.app)
        for name, fn, interval in (
                ("flusher", self.flush, self._until_flush),
                ("sync", self.sync, lambda: self.rt.settings.current.sync_interval_seconds),
                ("probes", self.probe, self._probe_interval),
                ("models", self.refresh_models, self._until_models),
                ("housekeeping", self.housekeeping,
                 lambda: HOUSEKEEPING_INTERVAL * random.uniform(0.8, 1.2))):
            t = threading.Thread(target=self._loop, args=(name, fn, interval),
                                 name=f"balancer-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        log.info("background services started (%d keys loaded)", len(self.rt.keypool.key_ids()))

    def _bootstrap_waiting(self) -> None:
        """``bootstrap``, tried again while the database cannot be reached, for up to
        ``BOOT_WAIT`` seconds; a database without tables fails at once."""
        deadline = time.monotonic() + BOOT_WAIT
        pause = 0.5
        while True:
            try:
                self.bootstrap()
                return
            except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
                if time.monotonic() + pause > deadline:
                    raise
                # The class only: a driver's message may name the server and its user.
                log.warning("the database cannot be reached (%s); trying again in %.1f s",
                            type(getattr(exc, "orig", None) or exc).__name__, pause)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loops and flush everything buffered."""
        self._stop.set()
        self.rt.models_wanted.set()  # the models round may be waiting for it
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
        # The last chance to write what is buffered: a flush that fails for a passing
        # reason (a deadlock with another instance, a dropped connection) is tried again,
        # a few times, before the process goes.
        for attempt in range(STOP_FLUSH_TRIES):
            self.flush()
            if not len(self.rt.records) and not len(self.rt.transitions):
                break
            time.sleep(0.1 * (attempt + 1))
        left = len(self.rt.records)
        log.log(logging.WARNING if left else logging.INFO,
                "background services stopped; %s (%d records dropped in all)",
                f"{left} records could not be written" if left else "buffers flushed",
                self.rt.records.dropped + left)

    def _until_flush(self) -> float:
        """Wait for the next flush round: FLUSH_INTERVAL, or less when a key changed
        state, so that other workers and instances learn it within one sync."""
        self.rt.state_changed.wait(FLUSH_INTERVAL)
        self.rt.state_changed.clear()
        return 0.05  # a moment to gather what else changes with it

    def _until_models(self) -> float:
        """Wait for the next models round: its jittered interval (so that workers started
        together do not all fetch at once), or less when a pool wants its list now."""
        self.rt.models_wanted.wait(MODELS_CHECK_INTERVAL * random.uniform(0.8, 1.2))
        self.rt.models_wanted.clear()
        return 0.0

    def _want_missing_models(self) -> None:
        """Ask for a models round now if an enabled pool has a usable key but no model
        list yet: routing by model name, ``/v1/models`` and the playground need it in
        the first seconds of a pool's life, not after the first interval. Keys reach a
        process by every way in (``GEMINI_API_KEYS``, the admin UI, the CLI, another
        worker) through the load or the sync, so this is asked after both."""
        pools = [p for p in self.rt.catalog.pools.values()
                 if p.enabled and not p.models and p.id not in self._models_asked]
        if not pools:
            return
        usable = self.rt.keypool.stats()
        for pool in pools:
            if usable.get(pool.id, {}).get("active") \
                    and self.rt.pool_settings(pool).values.models_refresh_seconds > 0:
                # Once per pool: if the list cannot be had, the regular rounds try again.
                self._models_asked.add(pool.id)
                self.rt.models_wanted.set()

    def _loop(self, name: str, fn: Callable[[], None], interval: Callable[[], float]) -> None:
        while not self._stop.wait(interval()):
            try:
                fn()
            except Exception:  # a loop must survive a bad round; the next one retries
                log.exception("background %s round failed", name)

    def _probe_interval(self) -> float:
        value = self.rt.settings.current.recovery_interval_seconds
        return value if value > 0 else 60.0

    # -- rounds ----------------------------------------------------------
    def flush(self) -> None:
        """Write queued transitions and request records, a batch at a time.

        A bounded loop: a big backlog drains in several batches without waiting a
        whole interval, and a failing database ends the round at its first failure.
        """
        for _ in range(MAX_BATCHES):
            if not self._flush_batch():
                return

    def _flush_batch(self) -> bool:
        """Write one batch; True when it was written and more is waiting.

        Whatever is refused row by row is set aside (counted, logged without its
        content) so that the rest is written; while the database is away, what is
        not written stays queued for the next round. No error leaves this method:
        a flush that raised would lose the batch it had drained.

        The buffers are drained and refilled here, in the caller's greenlet; only
        the writing goes to the database thread (``_write_batch``).
        """
        with self._flush_lock:
            transitions = self.rt.transitions.drain(BATCH)
            records = self.rt.records.drain(BATCH)
            if not transitions and not records:
                self.last_flush_ok = time.time()
                metrics.telemetry(0, self.rt.records.dropped, 0.0)
                return False
            items = [(TRANSITION, t) for t in transitions] + [(RECORD, r) for r in records]
            log_requests = self.rt.settings.current.log_requests
            try:
                done = self._write_batch(items, log_requests)
            except Exception:  # noqa: BLE001 - only a bug gets here; keep the batch
                log.exception("flush failed; %d records kept for the next round", len(records))
                done = Written(kept=items, away=RuntimeError("flush failed"))
            if done.kept:
                self.rt.transitions.requeue([v for kind, v in done.kept if kind == TRANSITION])
                self.rt.records.requeue([v for kind, v in done.kept if kind == RECORD])
            if done.refused:
                self._set_aside(done.refused)
            if done.away is not None:
                self.last_flush_error = type(done.away).__name__
                log.warning("flush failed (%s); %d records kept for the next round",
                            type(done.away).__name__, len(self.rt.records))
            else:
                self.last_flush_ok = time.time()
                self.last_flush_error = None
            lag = time.time() - self.last_flush_ok if self.last_flush_ok else None
            metrics.telemetry(len(self.rt.records), self.rt.records.dropped, lag)
        return done.away is None and (len(self.rt.records) >= BATCH
                                      or len(self.rt.transitions) >= BATCH)

    def _write_batch(self, items: list[tuple[str, object]], log_requests: bool) -> Written:
        """Write a batch, split as the database demands (``write_splitting``).

        Under gevent in the database thread, so that neither a wait for the database
        nor the work of building the rows holds up this worker's requests. The final
        flush of a stop is written here in the caller: the loops are over, and the
        app's engine keeps its short waits for a process that is going away.
        """
        def write(session: Session) -> Written:
            return write_splitting(items, lambda chunk: self._write(session, chunk, log_requests),
                                   database_away)

        return self.in_database(write)

    def _write(self, session: Session, chunk: list[tuple[str, object]], log_requests: bool) -> None:
        """Write one chunk of a batch in one transaction (rolled back when it fails)."""
        try:
            transitions = [v for kind, v in chunk if kind == TRANSITION]
            if transitions:
                persist(session, transitions)
            write_records(session, [v for kind, v in chunk if kind == RECORD], log_requests)
            session.commit()
        except BaseException:
            try:
                session.rollback()
            except Exception:  # noqa: BLE001 - the connection may be gone; closing resets it
                log.debug("rollback after a failed flush failed too", exc_info=True)
            raise

    def _set_aside(self, refused: list[tuple[tuple[str, object], str]]) -> None:
        """Count and log rows the database refused: their kind and reason, never their content."""
        counts: dict[tuple[str, str], int] = {}
        for (kind, _), reason in refused:
            counts[(kind, reason)] = counts.get((kind, reason), 0) + 1
        now = time.time()
        for (kind, reason), n in counts.items():
            metrics.refused(kind, reason, n)
            log.error("flush: the database refused %d %s record%s (%s); set aside, the rest "
                      "of the batch is written", n, kind, "" if n == 1 else "s", reason)
            self.refused.append((now, reason, n))
        self.refused = [r for r in self.refused if r[0] > now - REFUSED_WINDOW]

    def refused_lately(self, now: Optional[float] = None) -> dict[str, int]:
        """Records set aside in the last ``REFUSED_WINDOW`` seconds, by reason."""
        since = (now or time.time()) - REFUSED_WINDOW
        counts: dict[str, int] = {}
        for at, reason, n in self.refused:
            if at > since:
                counts[reason] = counts.get(reason, 0) + n
        return counts

    def sync(self) -> None:
        """Pull settings, pools, client tokens and key changes from the database.

        The reading, and the sharing of usage counts, runs where the flusher writes (the
        database thread, under gevent): neither the queries nor decrypting the keys that
        changed hold up this worker's requests. What was read is applied here.
        """
        rt = self.rt
        # While the database thread reads, this worker's requests go on, and one of them
        # may change settings, pools or keys and install the change at once. What was read
        # before that change must not undo it: settings and catalog are applied only when
        # nothing replaced them meanwhile, and only keys known before the read can be
        # found gone (the next round reads the change anyway).
        settings_before, catalog_before = rt.settings.current, rt.catalog
        keys_before = rt.keypool.key_ids()
        settings, catalog, pulled = self.in_database(lambda session: (
            settings_service.stored(session), pool_service.read_catalog(rt, session),
            self.syncer.read(session)))
        if rt.settings.current is settings_before:
            rt.settings.load(settings)
        if rt.catalog is catalog_before:
            rt.catalog = catalog
        self.syncer.apply(pulled, known=keys_before)
        self._want_missing_models()
        if rt.limits is not None and rt.catalog.limits_apply:
            limiter, mine = rt.limits, rt.limits.snapshot()
            limiter.learn(self.in_database(
                lambda session: usage_share.share_clients(session, limiter.process, mine)))
        if rt.limits is not None and rt.keypool.limits_apply:
            process, leases = rt.limits.process, rt.keypool.key_usage()
            rt.keypool.learn_key_usage(self.in_database(
                lambda session: usage_share.share_keys(session, process, leases)))
        self.last_sync_ok = time.time()

    def in_database(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` in the database thread under gevent (``dbthread``): the calling
        greenlet waits, the worker's other requests go on. Here, in an app context,
        without gevent or once the loops are stopping. ``fn`` commits what it writes."""
        if self._db_thread is not None and not self._stop.is_set():
            return self._db_thread.run(fn)
        with self.app.app_context():
            try:
                return fn(db.session)
            finally:
                db.session.remove()

    def probe(self) -> None:
        """Re-check disabled and ejected keys with a cheap call; success restores."""
        upkeep.probe_keys(self.rt, self._stop.is_set)

    def housekeeping(self) -> None:
        """Delete logs past their retention; forget files and caches expired upstream."""
        upkeep.housekeeping(self.app, self.rt)

    def refresh_models(self) -> None:
        """Fetch again the model lists older than ``models_refresh_seconds``."""
        upkeep.refresh_models(self.app, self.rt, self.models_failed)
