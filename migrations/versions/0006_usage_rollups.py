"""hour and day usage rollups and latency histograms

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 12:00:00.000000

"""
from datetime import datetime, timedelta, timezone

from alembic import op
import sqlalchemy as sa

import balancer.models.types


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# Written out here, not imported from balancer.models.rollup: a migration must keep
# building the schema of its revision when the models move on.
BOUNDS_MS = (50, 100, 200, 400, 700, 1000, 1500, 2500, 4000, 7000, 12000, 25000, 60000)
LATENCY_BINS = tuple(f"lat_{i}" for i in range(len(BOUNDS_MS) + 1))
TTFB_BINS = tuple(f"ttfb_{i}" for i in range(len(BOUNDS_MS) + 1))
OUTCOMES = ("success", "client_error", "rate_limited", "upstream_error", "no_key", "client_gone")
SUMS = ("count",) + OUTCOMES + ("tokens_in", "tokens_out", "latency_ms_sum", "ttfb_ms_sum") \
    + LATENCY_BINS + TTFB_BINS
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
BATCH = 2000


def _bins():
    return [sa.Column(c, sa.Integer(), nullable=False) for c in LATENCY_BINS + TTFB_BINS]


def _rollup_columns():
    return ([sa.Column('id', BIG_ID, nullable=False),
             sa.Column('start', balancer.models.types.UTCDateTime(), nullable=False),
             sa.Column('dimension', sa.String(length=8), nullable=False),
             sa.Column('subject', sa.String(length=128), nullable=False),
             sa.Column('count', sa.Integer(), nullable=False)]
            + [sa.Column(c, sa.Integer(), nullable=False) for c in OUTCOMES]
            + [sa.Column(c, sa.BigInteger(), nullable=False)
               for c in ('tokens_in', 'tokens_out', 'latency_ms_sum', 'ttfb_ms_sum')]
            + _bins())


def upgrade():
    for name in ('usage_hours', 'usage_days'):
        op.create_table(name, *_rollup_columns(),
                        sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{name}')),
                        sa.UniqueConstraint('dimension', 'start', 'subject', name=f'uq_{name}_dims'))
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.create_index(f'ix_{name}_subject', ['dimension', 'subject', 'start'], unique=False)
    op.create_table('usage_histograms',
                    sa.Column('id', BIG_ID, nullable=False),
                    sa.Column('minute', balancer.models.types.UTCDateTime(), nullable=False),
                    sa.Column('pool_id', sa.Integer(), nullable=False),
                    sa.Column('key_id', sa.Integer(), nullable=False),
                    sa.Column('model', sa.String(length=128), nullable=False),
                    sa.Column('client_id', sa.Integer(), nullable=False),
                    *_bins(),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_histograms')),
                    sa.UniqueConstraint('minute', 'pool_id', 'key_id', 'model', 'client_id',
                                        name='uq_usage_histograms_dims'))
    backfill(op.get_bind())


def downgrade():
    op.drop_table('usage_histograms')
    op.drop_table('usage_days')
    op.drop_table('usage_hours')


# --- history: an upgraded install keeps its charts -------------------------------------

def _bin(ms):
    ms = max(0, int(ms or 0))
    for i, bound in enumerate(BOUNDS_MS):
        if ms <= bound:
            return i
    return len(BOUNDS_MS)


def _floor(value, seconds):
    ts = value.timestamp()
    return datetime.fromtimestamp(ts - ts % seconds, timezone.utc)


def backfill(conn):
    """Fill hour and day rollups from the minute buckets, one UTC day at a time.

    Counts, tokens and sums come from the buckets (they cover the longest history);
    the histograms from the request-log rows still kept, so percentiles of the
    older periods come from the requests that were logged.
    """
    when = balancer.models.types.UTCDateTime()
    buckets = sa.table('usage_buckets', sa.column('minute', when), sa.column('pool_id'),
                       sa.column('key_id'), sa.column('model'), sa.column('client_id'),
                       sa.column('status_class'), sa.column('count'), sa.column('tokens_in'),
                       sa.column('tokens_out'), sa.column('latency_ms_sum'),
                       sa.column('ttfb_ms_sum'))
    logs = sa.table('request_logs', sa.column('created_at', when), sa.column('pool_id'),
                    sa.column('key_id'), sa.column('model'), sa.column('client_id'),
                    sa.column('latency_ms'), sa.column('ttfb_ms'))
    first, last = conn.execute(sa.select(sa.func.min(buckets.c.minute),
                                         sa.func.max(buckets.c.minute))).one()
    if first is None:
        return
    # min()/max() skip the column type on some drivers: parse what comes back.
    first, last = (when.process_result_value(v if isinstance(v, datetime)
                                             else datetime.fromisoformat(str(v)), None)
                   for v in (first, last))
    tables = {name: sa.table(name, sa.column('start', when),
                             *[sa.column(c) for c in ('dimension', 'subject') + SUMS])
              for name in ('usage_hours', 'usage_days')}
    hist = sa.table('usage_histograms', sa.column('minute', when),
                    *[sa.column(c) for c in ('pool_id', 'key_id', 'model', 'client_id')
                      + LATENCY_BINS + TTFB_BINS])
    day = _floor(first, 86400)
    while day <= last:
        end = day + timedelta(days=1)
        rows = {'usage_hours': {}, 'usage_days': {}}
        minutes = {}

        def add(start, table, dims, values):
            for dimension, subject in dims:
                row = rows[table].setdefault((dimension, start, subject), dict.fromkeys(SUMS, 0))
                for name, n in values.items():
                    row[name] += n

        for b in conn.execute(sa.select(buckets).where(buckets.c.minute >= day, buckets.c.minute < end)):
            dims = (('all', ''), ('pool', str(b.pool_id)), ('key', str(b.key_id)),
                    ('model', b.model or ''), ('client', str(b.client_id)))
            values = {'count': b.count, 'tokens_in': b.tokens_in, 'tokens_out': b.tokens_out,
                      'latency_ms_sum': b.latency_ms_sum, 'ttfb_ms_sum': b.ttfb_ms_sum}
            if b.status_class in OUTCOMES:
                values[b.status_class] = b.count
            add(_floor(b.minute, 3600), 'usage_hours', dims, values)
            add(day, 'usage_days', dims, values)
        for r in conn.execute(sa.select(logs).where(logs.c.created_at >= day, logs.c.created_at < end)):
            dims = (('all', ''), ('pool', str(r.pool_id or 0)), ('key', str(r.key_id or 0)),
                    ('model', (r.model or '')[:128]), ('client', str(r.client_id or 0)))
            values = {LATENCY_BINS[_bin(r.latency_ms)]: 1}
            if r.ttfb_ms is not None:
                values[TTFB_BINS[_bin(r.ttfb_ms)]] = 1
            add(_floor(r.created_at, 3600), 'usage_hours', dims, values)
            add(day, 'usage_days', dims, values)
            key = (_floor(r.created_at, 60), r.pool_id or 0, r.key_id or 0, (r.model or '')[:128],
                   r.client_id or 0)
            row = minutes.setdefault(key, dict.fromkeys(LATENCY_BINS + TTFB_BINS, 0))
            for name, n in values.items():
                row[name] += n
        for name, found in rows.items():
            out = [{'dimension': d, 'start': s, 'subject': subj, **v} for (d, s, subj), v in found.items()]
            for i in range(0, len(out), BATCH):
                conn.execute(tables[name].insert(), out[i:i + BATCH])
        out = [dict(zip(('minute', 'pool_id', 'key_id', 'model', 'client_id'), k), **v)
               for k, v in minutes.items()]
        for i in range(0, len(out), BATCH):
            conn.execute(hist.insert(), out[i:i + BATCH])
        day = end
