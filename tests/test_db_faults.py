"""A database that goes away under load: proxying goes on from memory, records are
buffered (bounded: the oldest dropped and counted), and writes resume afterwards.

On PostgreSQL and MariaDB the outage is a cut TCP relay between Balancer and the
(shared) server; on SQLite another process holds the write lock.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TOKEN, database_kind
from tests.fake_upstream import make_key
from tests.live import logged_chats
from tests.tcp_relay import TcpRelay

pytestmark = pytest.mark.e2e

OUTAGE = 30.0
BUFFER = 100  # records per worker (the least allowed): the outage overflows it
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "db fault"}]}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Outage:
    """Makes the database unreachable (or unwritable) and brings it back."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.relay = None
        self.lock: sqlite3.Connection | None = None
        if not database_url.startswith("sqlite"):
            parts = urlsplit(database_url)
            self.relay = TcpRelay((parts.hostname, parts.port))
            self.relay.mend()
            auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
            self.url = urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{self.relay.port}"))

    def begin(self) -> None:
        if self.relay is not None:
            self.relay.cut()
        else:
            self.lock = sqlite3.connect(self.url.split("///", 1)[1], timeout=30,
                                        isolation_level=None)
            self.lock.execute("BEGIN EXCLUSIVE")  # every other writer waits, then fails

    def end(self) -> None:
        if self.relay is not None:
            self.relay.mend()
        elif self.lock is not None:
            self.lock.execute("ROLLBACK")
            self.lock.close()
            self.lock = None

    def close(self) -> None:
        if self.relay is not None:
            self.relay.cut()
        elif self.lock is not None:
            self.end()


def readyz_statuses(url: str, n: int = 4, timeout: float = 20) -> list[dict]:
    out = []
    for _ in range(n):
        resp = requests.get(f"{url}/readyz", timeout=timeout, headers={"Connection": "close"})
        out.append({"code": resp.status_code, **resp.json()})
    return out


class Traffic:
    """Chat completions sent one after another on one connection, counted."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.sent = self.failed = 0

    def burst(self, n: int) -> None:
        for _ in range(n):
            resp = self.session.post(f"{self.url}/v1/chat/completions", json=CHAT,
                                     headers=AUTH, timeout=30)
            self.sent += 1
            self.failed += resp.status_code != 200


def metric(url: str, name: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name)


def test_a_database_outage_under_load(start, database_url, upstream):
    outage = Outage(database_url)
    try:
        live = start([make_key("dbfault", i) for i in range(4)], DATABASE_URL=outage.url,
                     TELEMETRY_BUFFER_RECORDS=str(BUFFER))
        traffic = Traffic(live.url)
        burst, session = traffic.burst, traffic.session
        burst(40)
        outage.begin()
        ends = time.monotonic() + OUTAGE
        seen_down = []
        while time.monotonic() < ends:
            burst(25)
            if not seen_down and time.monotonic() > ends - OUTAGE / 2:
                # On the traffic's own connection: the worker that holds the records.
                for _ in range(3):
                    resp = session.get(f"{live.url}/readyz", timeout=20)
                    seen_down.append({"code": resp.status_code, **resp.json()})
                seen_down += readyz_statuses(live.url)
            time.sleep(0.1)
        during = traffic.sent
        outage.end()

        deadline = time.monotonic() + 40
        recovered = []
        while time.monotonic() < deadline:
            recovered = readyz_statuses(live.url)
            if all(r["status"] == "ready" for r in recovered):
                break
            time.sleep(0.5)
        burst(40)
        time.sleep(2)  # a few flush rounds
        dropped = metric(live.url, "balancer_telemetry_dropped_records")
        live.stop()

        sent = traffic.sent
        assert traffic.failed == 0, f"{traffic.failed} of {sent} failed while the database was away"
        assert all(r["code"] == 200 for r in seen_down)  # still in rotation
        assert any(r["status"] == "degraded" for r in seen_down), (seen_down, live.log()[-3000:])
        assert any(r["checks"]["database"] != "ok" or "telemetry" in r["checks"]
                   for r in seen_down), seen_down
        assert all(r["status"] == "ready" for r in recovered), recovered

        logged = logged_chats(database_url)
        # More was sent during the outage than two workers may hold (each its buffer, and a
        # flush's batch that was drained from it just before the cut and waits with the
        # database): the oldest were dropped and counted; everything else reached the
        # database after recovery.
        assert during - 40 > 2 * 2 * BUFFER, during
        assert dropped > 0
        assert logged + dropped == sent, (logged, dropped, sent)
    finally:
        outage.close()


@pytest.mark.skipif(database_kind() == "sqlite", reason="SQLite has no connection to lose")
def test_a_database_that_stops_answering(start, database_url, upstream):
    """A partition: the server neither answers nor resets the connections, and new ones are
    taken in but never greeted. /readyz still answers at once (degraded, still in
    rotation), requests are served, and once the partition heals every record is written."""
    outage = Outage(database_url)
    try:
        # A short read timeout: MariaDB's connections give up on the silent server (and
        # its greeting) and are made anew; PostgreSQL's wait, as the loopback answers
        # their keepalives, and go on where they were.
        live = start([make_key("dbsilent", i) for i in range(2)], DATABASE_URL=outage.url,
                     DATABASE_READ_TIMEOUT="2")
        traffic = Traffic(live.url)
        burst = traffic.burst
        burst(20)
        # Written before the partition: no write is in flight when it begins (a commit
        # cut off before its answer could not be told from one never made).
        wait_for(lambda: logged_chats(database_url) == traffic.sent, 20)
        outage.relay.freeze()
        burst(20)
        during = readyz_statuses(live.url, timeout=5)
        time.sleep(3)  # past the read timeout: MariaDB's flush has failed by now
        burst(20)
        during += readyz_statuses(live.url, timeout=5)
        outage.relay.thaw()
        deadline = time.monotonic() + 40
        while not all(r["status"] == "ready" for r in readyz_statuses(live.url)):
            assert time.monotonic() < deadline, live.log()[-3000:]
            time.sleep(0.5)
        burst(20)
        wait_for(lambda: logged_chats(database_url) >= traffic.sent, 20)
        time.sleep(1.5)  # a few more flush rounds: nothing is written twice
        logged = logged_chats(database_url)
        dropped = metric(live.url, "balancer_telemetry_dropped_records")
        live.stop()

        sent = traffic.sent
        assert traffic.failed == 0, f"{traffic.failed} of {sent} failed while the database was silent"
        assert all(r["code"] == 200 and r["status"] == "degraded" for r in during), during
        assert all(r["checks"]["database"].startswith("unavailable") for r in during), during
        assert dropped == 0
        assert logged == sent, (logged, sent)
    finally:
        outage.close()


def wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_balancer_started_while_the_database_is_away_waits_for_it(live_env, database_url,
                                                                    upstream):
    """A restart that meets the database restarting too: the workers wait for it (gunicorn
    would stop the whole server for a worker that fails to boot), then serve."""
    from tests.live import LiveBalancer
    outage = Outage(database_url)
    live = LiveBalancer(live_env([make_key("dbstart", i) for i in range(2)],
                                 DATABASE_URL=outage.url))
    started: list = []
    try:
        outage.begin()
        starting = threading.Thread(target=lambda: started.append(live.start(timeout=50)))
        starting.start()
        time.sleep(4.0)
        outage.end()  # here: a SQLite lock is released by the thread that took it
        starting.join(60)
        assert started, live.log()[-3000:]
        resp = requests.post(f"{live.url}/v1/chat/completions", json=CHAT, headers=AUTH,
                             timeout=30)
        assert resp.status_code == 200, resp.text
        assert "the database cannot be reached" in live.log()
        assert all(r["status"] == "ready" for r in readyz_statuses(live.url))
    finally:
        live.stop()
        outage.close()
