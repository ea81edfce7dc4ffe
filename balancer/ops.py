"""Liveness and readiness for load balancers and platforms."""
from __future__ import annotations

import os
import time

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

from balancer.extensions import db

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up and answering."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """The database answers and the key pool is loaded; 503 otherwise, saying which."""
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
    ready = checks["database"] == "ok" and rt.loaded
    body = {"status": "ready" if ready else "not ready", "checks": checks,
            "keys": rt.keypool.stats() if rt.loaded else {},
            "buffered_records": len(rt.records), "dropped_records": rt.records.dropped,
            "pid": os.getpid(), "time": time.time()}
    return jsonify(body), (200 if ready else 503)
