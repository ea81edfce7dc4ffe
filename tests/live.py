"""Running Balancer under real gunicorn for end-to-end tests and benchmarks."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveBalancer:
    """A gunicorn master with gevent workers, on a loopback port."""

    def __init__(self, env: dict, workers: int = 2, log_path: Optional[Path] = None,
                 root: Path = ROOT):
        self.root = root  # the checkout to run (a benchmark may compare two)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {**os.environ, **env, "PORT": str(self.port), "HOST": "127.0.0.1",
                    "WEB_CONCURRENCY": str(workers), "PYTHONUNBUFFERED": "1"}
        self.log_path = log_path or Path(env.get("BALANCER_INSTANCE_PATH", "/tmp")) / f"gunicorn-{self.port}.log"
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 30.0) -> "LiveBalancer":
        """Start gunicorn and wait until every worker answers /readyz.

        A worker accepts connections only after its key pool is loaded, so once
        each worker's pid has answered 200 on a fresh connection, all are ready.
        """
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py"], cwd=self.root, env=self.env,
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        answered: set[int] = set()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()}")
            try:
                resp = requests.get(f"{self.url}/readyz", timeout=2, headers={"Connection": "close"})
                if resp.status_code == 200:
                    answered.add(resp.json()["pid"])
            except requests.RequestException:
                pass
            if len(answered) >= self.workers:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gunicorn did not become ready:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40.0) -> int:
        """Stop gunicorn (gracefully by default) and wait for it."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        code = self.proc.returncode
        self.proc = None
        return code

    def worker_pids(self) -> list[int]:
        """The worker processes (children of the gunicorn master)."""
        if self.proc is None:
            return []
        found = []
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            found += [int(pid) for pid in task.read_text().split()]
        return found

    def log(self) -> str:
        """Everything gunicorn and Balancer wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def flask_cli(env: dict, *args: str, input: Optional[str] = None,
              root: Path = ROOT) -> subprocess.CompletedProcess:
    """Run ``flask ...`` as a user would, with the given environment (in checkout ``root``)."""
    return subprocess.run([str(VENV_BIN / "flask"), *args], cwd=root, input=input,
                          env={**os.environ, **env, "FLASK_APP": "balancer"},
                          capture_output=True, text=True, timeout=60)


def keys_list(env: dict) -> list[dict]:
    """``flask keys list --json``, parsed."""
    out = flask_cli(env, "keys", "list", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def logged_chats(database_url: str) -> int:
    """Chat completions in the request log, read as anyone would read the database."""
    import sqlalchemy as sa
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT COUNT(*) FROM request_logs "
                                 "WHERE route = 'chat.completions'")).scalar()
    engine.dispose()
    return n


def migrated_app(env: dict):
    """An app on ``env["DATABASE_URL"]``, after dropping every table there and migrating afresh.

    For the test session's database and the benchmarks' own: each starts from
    exactly the schema the migrations build.
    """
    import sqlalchemy as sa

    from balancer import create_app
    from balancer.config import Config
    engine = sa.create_engine(env["DATABASE_URL"])
    with engine.begin() as conn:
        meta = sa.MetaData()
        meta.reflect(conn)
        meta.drop_all(conn)
    engine.dispose()
    app = create_app(Config(env))
    with app.app_context():
        from flask_migrate import upgrade
        upgrade()
    return app
