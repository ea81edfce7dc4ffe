"""Usage rolled up to hours and days, and latency histograms per minute.

The statistics page reads these instead of the request log or the minute
buckets when a range is long. Hour and day rows are *marginal* rollups: one row
per period and one value of one dimension (all traffic, a pool, a key, a model,
a client or an API dialect), with the outcome classes as count columns. A full cross product
of the dimensions would hold about as many rows as the request log on a busy
install (every request picks another key), and no long range would stay fast;
one dimension at a time keeps a 30-day breakdown by key to 30 x keys rows.

Percentiles cannot be summed, so every row carries two fixed histograms
(latency and time to first byte) whose bins add up across rows and periods.
"""
from __future__ import annotations

from bisect import bisect_left
from typing import Optional

import sqlalchemy as sa

from balancer.extensions import db
from balancer.models.types import BigId, UTCDateTime

#: Upper bounds (ms, inclusive) of the histogram bins, roughly log-spaced; one more
#: bin above the last bound takes everything slower.
BOUNDS_MS: tuple[int, ...] = (50, 100, 200, 400, 700, 1000, 1500, 2500, 4000, 7000, 12000,
                              25000, 60000)
BINS = len(BOUNDS_MS) + 1
LATENCY_BINS: tuple[str, ...] = tuple(f"lat_{i}" for i in range(BINS))
TTFB_BINS: tuple[str, ...] = tuple(f"ttfb_{i}" for i in range(BINS))

#: Outcome classes counted in their own column (``balancer.telemetry.record``); any
#: other class still counts in ``count``.
OUTCOME_COLUMNS: tuple[str, ...] = ("success", "client_error", "rate_limited", "upstream_error",
                                    "no_key", "client_gone")
#: Columns that add up when rows of one period and subject meet.
SUMS: tuple[str, ...] = ("count",) + OUTCOME_COLUMNS + (
    "tokens_in", "tokens_out", "latency_ms_sum", "ttfb_ms_sum") + LATENCY_BINS + TTFB_BINS

#: What a rollup row is about; ``subject`` is "" for "all", the id as text for
#: pool, key and client, the model name for "model", the client's API dialect
#: (``RequestLog.api_format``: "openai", "gemini", "anthropic", "responses") for "api".
DIMENSIONS: tuple[str, ...] = ("all", "pool", "key", "model", "client", "api")


def bin_of(ms: Optional[int]) -> int:
    """Index of the histogram bin holding ``ms`` milliseconds."""
    return bisect_left(BOUNDS_MS, max(0, int(ms or 0)))


def _rollup_table(name: str) -> sa.Table:
    columns = [
        sa.Column("id", BigId, primary_key=True),
        sa.Column("start", UTCDateTime, nullable=False),
        sa.Column("dimension", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("count", sa.Integer, nullable=False, default=0),
    ]
    columns += [sa.Column(c, sa.Integer, nullable=False, default=0) for c in OUTCOME_COLUMNS]
    columns += [sa.Column(c, sa.BigInteger, nullable=False, default=0)
                for c in ("tokens_in", "tokens_out", "latency_ms_sum", "ttfb_ms_sum")]
    columns += [sa.Column(c, sa.Integer, nullable=False, default=0)
                for c in LATENCY_BINS + TTFB_BINS]
    return sa.Table(
        name, db.metadata, *columns,
        # Range scans (a dimension over a time range) use this index's leading columns.
        sa.UniqueConstraint("dimension", "start", "subject", name=f"uq_{name}_dims"),
        # One subject over a long range (a filter) without reading its neighbours.
        sa.Index(f"ix_{name}_subject", "dimension", "subject", "start"),
    )


def _histogram_table() -> sa.Table:
    columns = [
        sa.Column("id", BigId, primary_key=True),
        sa.Column("minute", UTCDateTime, nullable=False),
        # 0 and "" stand for "none", as in usage_buckets: NULLs never collide.
        sa.Column("pool_id", sa.Integer, nullable=False, default=0),
        sa.Column("key_id", sa.Integer, nullable=False, default=0),
        sa.Column("model", sa.String(128), nullable=False, default=""),
        sa.Column("client_id", sa.Integer, nullable=False, default=0),
        sa.Column("api_format", sa.String(16), nullable=False, default=""),
    ]
    columns += [sa.Column(c, sa.Integer, nullable=False, default=0)
                for c in LATENCY_BINS + TTFB_BINS]
    return sa.Table(
        "usage_histograms", db.metadata, *columns,
        sa.UniqueConstraint("minute", "pool_id", "key_id", "model", "client_id", "api_format",
                            name="uq_usage_histograms_dims"),
    )


class UsageHour(db.Model):
    """One hour of one dimension's usage (outcome counts, tokens, sums, histograms)."""

    __table__ = _rollup_table("usage_hours")


class UsageDay(db.Model):
    """One UTC day of one dimension's usage, the same columns as ``UsageHour``."""

    __table__ = _rollup_table("usage_days")


class UsageHistogram(db.Model):
    """Latency and TTFB histograms per minute, with the dimensions of ``UsageBucket``."""

    __table__ = _histogram_table()
