"""Prometheus metrics, summed over gunicorn's workers.

Under gunicorn, ``gunicorn.conf.py`` points ``PROMETHEUS_MULTIPROC_DIR`` at a
fresh folder before any worker starts; prometheus_client then keeps each
worker's values in files there, and ``/metrics`` adds them up. Without it (the
test client, ``flask run``) the process's own registry is served.

Counts are taken where the request is closed (``observe``) and where the key
pool reports a transition (``transitions``): no extra work on the hot path but
a few dictionary lookups. Key states are read at scrape time from the key pool
of the worker that answers (every worker holds the same state, synced within
``sync_interval_seconds``).
"""
from __future__ import annotations

import os
from typing import Any, Container, Iterable, Iterator, Optional

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from balancer.keypool.records import Transition
from balancer.telemetry.record import RequestRecord

#: Upstream answers take from milliseconds (errors) to minutes (long generations).
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

REQUESTS = Counter("balancer_requests", "Client requests by pool, model and outcome.",
                   ["pool", "model", "api", "outcome"])
LATENCY = Histogram("balancer_request_latency_seconds",
                    "Time from a request's arrival to its last byte.", ["pool"],
                    buckets=LATENCY_BUCKETS)
TTFB = Histogram("balancer_time_to_first_byte_seconds",
                 "Time from a request's arrival to the first byte sent back.", ["pool"],
                 buckets=LATENCY_BUCKETS)
TOKENS = Counter("balancer_tokens", "Tokens by pool, model and direction (in, out).",
                 ["pool", "model", "direction"])
RETRIES = Counter("balancer_retries", "Upstream attempts beyond the first, by pool.", ["pool"])
AUTH_FAILURES = Counter("balancer_client_auth_failures",
                        "Requests refused for their client token (missing, invalid, not a "
                        "loopback caller while no token exists) or for too many such failures.",
                        ["reason"])
TRANSITIONS = Counter("balancer_key_transitions",
                      "Key state changes: cooldown, disable, eject, restore, ...", ["kind"])
BUFFERED = Gauge("balancer_telemetry_buffered_records",
                 "Request records waiting to be written, summed over workers.",
                 multiprocess_mode="livesum")
DROPPED = Gauge("balancer_telemetry_dropped_records",
                "Request records dropped because the buffer was full, summed over workers.",
                multiprocess_mode="livesum")
REFUSED = Counter("balancer_telemetry_refused_records",
                  "Records dropped because the database refused them (a bad row), set aside "
                  "so that the rest of their batch is written; by kind and reason.",
                  ["kind", "reason"])
FLUSH_LAG = Gauge("balancer_telemetry_flush_lag_seconds",
                  "Seconds since the last successful write of buffered records (worst worker).",
                  multiprocess_mode="livemax")


#: The ``model`` label of every name the pool neither lists nor aliases: a client's
#: made-up names must not add a series each to the metrics files.
OTHER_MODEL = "other"


def model_label(model: Optional[str], listed: Container[str]) -> str:
    """``model`` when the pool lists or aliases it (``models/`` aside), else ``other``."""
    if not model:
        return "-"
    name = model[len("models/"):] if model.startswith("models/") else model
    return name if name in listed else OTHER_MODEL


#: (metric, label values) -> its child. ``labels()`` checks its values and looks them up
#: under a lock on every call; a request counts in the same few series over and over,
#: so each is looked up once. Bounded: models are listed names or "other".
_CHILDREN: dict[tuple, Any] = {}


def _child(metric: Any, *values: str) -> Any:
    found = _CHILDREN.get((metric, values))
    if found is None:
        found = _CHILDREN[(metric, values)] = metric.labels(*values)
    return found


def observe(record: RequestRecord, pool_name: str, listed: Container[str] = ()) -> None:
    """Count one finished request; ``listed``: the model names its pool serves."""
    model = model_label(record.model, listed)
    _child(REQUESTS, pool_name, model, record.api_format, record.status_class).inc()
    _child(LATENCY, pool_name).observe(record.latency_ms / 1000)
    if record.ttfb_ms is not None:
        _child(TTFB, pool_name).observe(record.ttfb_ms / 1000)
    if record.tokens_in:
        _child(TOKENS, pool_name, model, "in").inc(record.tokens_in)
    if record.tokens_out:
        _child(TOKENS, pool_name, model, "out").inc(record.tokens_out)
    if record.attempts > 1:
        _child(RETRIES, pool_name).inc(record.attempts - 1)


def auth_failure(reason: str) -> None:
    """Count a refused client-token check (the request log gets no row for it)."""
    AUTH_FAILURES.labels(reason).inc()


def transitions(items: Iterable[Transition]) -> None:
    """Count key state changes as the key pool reports them."""
    for item in items:
        TRANSITIONS.labels(item.kind.value).inc()


def telemetry(buffered: int, dropped: int, lag: Optional[float]) -> None:
    """This worker's buffer, as of its last flush round."""
    BUFFERED.set(buffered)
    DROPPED.set(dropped)
    if lag is not None:
        FLUSH_LAG.set(lag)


def refused(kind: str, reason: str, n: int) -> None:
    """Count records the database refused, by kind (request, key_state) and reason (the
    error's name: a small, fixed set)."""
    REFUSED.labels(kind, reason).inc(n)


class KeyStates:
    """``balancer_keys{pool, state}`` from this worker's key pool, at scrape time."""

    def __init__(self, rt) -> None:
        self.rt = rt

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("balancer_keys", "Keys by pool and state.",
                                   labels=["pool", "state"])
        names = {pool.id: pool.name for pool in self.rt.catalog.pools.values()}
        for pool_id, counts in self.rt.keypool.stats().items():
            for state, count in counts.items():
                family.add_metric([names.get(pool_id, str(pool_id)), state], count)
        yield family


def exposition(rt) -> bytes:
    """The text format of every metric, summed over workers when there are several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    states = CollectorRegistry()
    states.register(KeyStates(rt))
    return counted + generate_latest(states)
