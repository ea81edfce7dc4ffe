"""Liveness and readiness for load balancers and platforms."""
from __future__ import annotations

import hmac
import os
import time
from typing import Optional

import gevent
import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request
from flask_login import current_user
from prometheus_client import CONTENT_TYPE_LATEST

from balancer.engine_options import under_gevent
from balancer.extensions import db
from balancer.forwarded import in_networks
from balancer.proxy.auth import bearer_token
from balancer.telemetry import metrics

bp = Blueprint("ops", __name__)

#: How long /readyz waits for the database to answer "SELECT 1".
DATABASE_CHECK_SECONDS = 0.5


@bp.get("/healthz")
def healthz():
    """The process is up and answering."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Whether this process can serve: 503 until its key pool is loaded.

    A database that stops answering afterwards makes the process "degraded",
    not unready: it proxies from memory and buffers its records, so a load
    balancer must keep sending it traffic. The checks say what is wrong, to the
    metrics scraper and a signed-in admin only: anyone else learns ready or not,
    never key counts or process ids, which would help an attacker more than a
    load balancer.
    """
    rt = current_app.extensions["balancer"]
    checks = {"database": database_check(), "key_pool": "ok" if rt.loaded else "not loaded"}
    services = rt.services
    if services is not None and services.last_flush_error:
        checks["telemetry"] = f"flush failing ({services.last_flush_error})"
    refused = services.refused_lately() if services is not None else {}
    if refused and "telemetry" not in checks:
        # Records are being dropped: the database takes the rest, but someone should look.
        checks["telemetry"] = "records refused by the database and dropped lately ({})".format(
            ", ".join(f"{n} {reason}" for reason, n in sorted(refused.items())))
    healthy = checks["database"] == "ok" and "telemetry" not in checks
    status = ("ready" if healthy else "degraded") if rt.loaded else "not ready"
    code = 200 if rt.loaded else 503
    if not (_scraper() or _signed_in()):
        return jsonify(status=status), code
    body = {"status": status, "checks": checks,
            "keys": rt.keypool.stats() if rt.loaded else {},
            "buffered_records": len(rt.records), "dropped_records": rt.records.dropped,
            "pid": os.getpid(), "time": time.time()}
    return jsonify(body), code


@bp.get("/metrics")
def prometheus_metrics():
    """Prometheus metrics, for a scraper that sends METRICS_TOKEN or comes from METRICS_ALLOW."""
    refused = _scraper_refused()
    if refused is not None:
        return refused
    return Response(metrics.exposition(current_app.extensions["balancer"]),
                    mimetype=CONTENT_TYPE_LATEST)


def database_check() -> str:
    """"ok", or why the database cannot be used now.

    Bounded: a platform's probe gives up after a second or so, and a server that has
    stopped answering (a partition) would otherwise hold the probe until the read timeout.
    """
    wait = under_gevent() and gevent.Timeout(DATABASE_CHECK_SECONDS)
    try:
        if wait:
            wait.start()
        db.session.execute(sa.text("SELECT 1"))
    except gevent.Timeout as exc:
        if exc is not wait:
            raise
        # SQLAlchemy drops a connection interrupted mid-statement: none is left half read.
        return f"unavailable (no answer within {DATABASE_CHECK_SECONDS:g} s)"
    except sa.exc.SQLAlchemyError as exc:
        return f"unavailable ({type(exc).__name__})"
    finally:
        if wait:
            wait.close()
        db.session.remove()
    return "ok"


def _scraper_refused() -> Optional[tuple[Response, int]]:
    """None for the metrics scraper (METRICS_TOKEN or METRICS_ALLOW), else the refusal."""
    config = current_app.config
    token = config.get("METRICS_TOKEN")
    sent = bearer_token(request)
    if token and sent is not None:
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return jsonify(error="invalid metrics token"), 401
    elif not in_networks(request.remote_addr, config.get("METRICS_ALLOW", ())):
        message = ("send 'Authorization: Bearer <METRICS_TOKEN>'" if token
                   else "this address is not in METRICS_ALLOW")
        return jsonify(error=f"metrics are not served to this client: {message}"), 403
    return None


def _signed_in() -> bool:
    """True for a signed-in admin; False when the database cannot say (readiness must answer)."""
    try:
        return bool(current_user.is_authenticated)
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        db.session.remove()


def _scraper() -> bool:
    """True when the caller is the metrics scraper."""
    return _scraper_refused() is None
