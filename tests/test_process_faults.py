"""A worker killed under load: gunicorn replaces it, and at most one flush interval of
its records is lost; a SIGTERM to the master flushes everything."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests

from tests.conftest import TOKEN
from tests.fake_upstream import make_key
from tests.live import logged_chats

pytestmark = pytest.mark.e2e

CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "kill"}]}
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: the flusher's interval (background.FLUSH_INTERVAL) and room for one flush to run
LOSS_WINDOW = 0.5 + 0.5


def test_kill_9_of_a_worker_loses_at_most_one_flush_interval(start, upstream, database_url):
    live = start([make_key("kill", i) for i in range(4)])
    answered: list[float] = []  # when each successful answer came back
    failed = []
    stop = threading.Event()

    def client() -> None:
        session = requests.Session()
        while not stop.is_set():
            try:
                resp = session.post(f"{live.url}/v1/chat/completions", json=CHAT, headers=AUTH,
                                    timeout=10)
            except requests.RequestException:  # refused, reset, or cut mid-answer
                failed.append(time.time())  # in flight on the killed worker
                session = requests.Session()
                continue
            if resp.status_code == 200:
                answered.append(time.time())
            else:
                failed.append(time.time())

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    victim = live.worker_pids()[0]
    killed_at = time.time()
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        pids = live.worker_pids()
        if len(pids) == 2 and victim not in pids:
            break
        time.sleep(0.1)
    replaced = live.worker_pids()
    time.sleep(2.0)  # traffic goes on through the replacement
    stop.set()
    for t in threads:
        t.join(15)
    assert live.stop() == 0  # SIGTERM: the survivors flush everything they hold

    assert len(replaced) == 2 and victim not in replaced
    after = [t for t in answered if t > killed_at + 1.0]
    assert after, "no request was answered after the kill"
    lost = len(answered) - logged_chats(database_url)
    at_risk = sum(1 for t in answered if killed_at - LOSS_WINDOW <= t <= killed_at)
    assert 0 <= lost <= at_risk, (lost, at_risk, len(answered))
    # Only requests in flight on the killed worker can fail.
    assert all(abs(t - killed_at) < 2.0 for t in failed), failed


def test_sigterm_to_the_master_flushes_everything_and_a_restart_keeps_key_states(
        start, upstream, database_url):
    keys = [make_key("term", i) for i in range(3)]
    upstream.set_key(keys[0], "invalid")
    live = start(keys)
    session = requests.Session()
    for _ in range(50):
        assert session.post(f"{live.url}/v1/chat/completions", json=CHAT, headers=AUTH,
                            timeout=10).status_code == 200
    assert live.stop() == 0
    assert logged_chats(database_url) == 50  # nothing was waiting for its flush interval
    again = start(keys)
    upstream.reset()
    for _ in range(6):
        assert session.post(f"{again.url}/v1/chat/completions", json=CHAT, headers=AUTH,
                            timeout=10).status_code == 200
    assert keys[0] not in {r["key"] for r in upstream.requests}  # still known dead
