"""Liveness and readiness for load balancers and platforms."""
from __future__ import annotations

import hmac
import ipaddress
import os
import time

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST

from balancer.extensions import db
from balancer.proxy.auth import bearer_token
from balancer.telemetry import metrics

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up and answering."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Whether this process can serve: 503 until its key pool is loaded.

    A database that stops answering afterwards makes the process "degraded",
    not unready: it proxies from memory and buffers its records, so a load
    balancer must keep sending it traffic. The checks say what is wrong.
    """
    rt = current_app.extensions["balancer"]
    checks = {"database": "ok", "key_pool": "ok" if rt.loaded else "not loaded"}
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        checks["database"] = f"unavailable ({type(exc).__name__})"
    finally:
        db.session.remove()
    services = rt.services
    if services is not None and services.last_flush_error:
        checks["telemetry"] = f"flush failing ({services.last_flush_error})"
    healthy = checks["database"] == "ok" and "telemetry" not in checks
    status = ("ready" if healthy else "degraded") if rt.loaded else "not ready"
    body = {"status": status, "checks": checks,
            "keys": rt.keypool.stats() if rt.loaded else {},
            "buffered_records": len(rt.records), "dropped_records": rt.records.dropped,
            "pid": os.getpid(), "time": time.time()}
    return jsonify(body), (200 if rt.loaded else 503)


@bp.get("/metrics")
def prometheus_metrics():
    """Prometheus metrics, for a scraper that sends METRICS_TOKEN or comes from METRICS_ALLOW."""
    config = current_app.config
    token = config.get("METRICS_TOKEN")
    sent = bearer_token(request)
    if token and sent is not None:
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return jsonify(error="invalid metrics token"), 401
    elif not _allowed(request.remote_addr, config.get("METRICS_ALLOW", ())):
        message = ("send 'Authorization: Bearer <METRICS_TOKEN>'" if token
                   else "this address is not in METRICS_ALLOW")
        return jsonify(error=f"metrics are not served to this client: {message}"), 403
    return Response(metrics.exposition(current_app.extensions["balancer"]),
                    mimetype=CONTENT_TYPE_LATEST)


def _allowed(address, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in net for net in networks)
