"""gunicorn settings for Balancer (used by `make run` and the Procfile)."""
# The application is loaded once, in the master, and its workers share those pages (see
# preload_app): the standard library must be made cooperative before anything imports it,
# as the gevent worker would do in each worker otherwise.
from gevent import monkey

monkey.patch_all()

import gc  # noqa: E402
import glob
import os
import tempfile

from dotenv import load_dotenv

# HOST, PORT and the worker counts may come from .env, as every other variable does.
load_dotenv(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".env"))

# Loopback unless HOST says otherwise (the Procfile sets 0.0.0.0: platforms route to it).
# The workers read HOST too: REQUIRE_ADMIN_LOGIN=false and the trusted Host names
# depend on where Balancer listens.
HOST = os.environ.get("HOST", "").strip() or "127.0.0.1"
os.environ["HOST"] = HOST
bind = f"{f'[{HOST}]' if ':' in HOST and not HOST.startswith('[') else HOST}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gevent"
# Each worker serves this many requests (streams included) at once.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "2000"))
# With gevent this is a heartbeat timeout, not a request timeout: long streams are fine.
timeout = 60
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Connections waiting for a worker to accept them (the kernel caps it at somaxconn).
backlog = int(os.environ.get("BACKLOG", "2048"))
wsgi_app = "wsgi:app"
# The master loads the app once; the workers it forks share its pages.
preload_app = True
accesslog = None  # Balancer writes one line per proxied request itself.
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


# Prometheus metrics are summed over workers from files in this folder; it must be
# known before a worker imports prometheus_client, so it is set here, in the master.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="balancer-metrics-")


def on_starting(server):
    """Start the counts from zero: files left by an earlier run would add to them."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for stale in glob.glob(os.path.join(folder, "*.db")):
        os.remove(stale)


def when_ready(server):
    """The app is loaded: keep the collector off its objects, so that it does not write
    to (and so copy) the pages the workers share with the master."""
    gc.collect()
    gc.freeze()


def post_fork(server, worker):
    """A worker opens database connections of its own, never one the master opened."""
    from balancer.extensions import db
    with server.app.wsgi().app_context():
        db.engine.dispose(close=False)


def child_exit(server, worker):
    """A worker's live gauges (its buffer) leave the sums with it."""
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Load keys and settings, then start the background services of this worker."""
    worker.wsgi.extensions["balancer"].services.start()
    # What is loaded by now lives as long as the worker. Out of the collector's sight, a
    # full collection scans only what requests leave behind (well under a millisecond)
    # instead of the whole application (tens of milliseconds, during which every
    # request in flight in this worker waits).
    gc.collect()
    gc.freeze()


def worker_exit(server, worker):
    """Flush everything buffered before the worker goes away."""
    app = getattr(worker, "wsgi", None)
    if app is not None and "balancer" in app.extensions:
        app.extensions["balancer"].services.stop()
