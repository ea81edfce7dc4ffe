"""usage per API dialect: api_format on the minute buckets and histograms, "api" rollups

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 06:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# Written out here, not imported from balancer.models: a migration must keep building
# the schema of its revision when the models move on.
DIMS = ('minute', 'pool_id', 'key_id', 'model', 'client_id')
BINS = tuple(f'lat_{i}' for i in range(14)) + tuple(f'ttfb_{i}' for i in range(14))
SUMS = ('count', 'success', 'client_error', 'rate_limited', 'upstream_error', 'no_key',
        'client_gone', 'tokens_in', 'tokens_out', 'latency_ms_sum', 'ttfb_ms_sum') + BINS
TABLES = {'usage_buckets': DIMS + ('api_format', 'status_class'),
          'usage_histograms': DIMS + ('api_format',)}


def upgrade():
    for name, unique in TABLES.items():
        # Rows counted before keep "" ("unknown" on the statistics page): the request
        # log that could tell their dialect is kept for a shorter time than they are.
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column('api_format', sa.String(length=16), nullable=False,
                                          server_default=''))
            batch_op.drop_constraint(f'uq_{name}_dims', type_='unique')
            batch_op.create_unique_constraint(f'uq_{name}_dims', list(unique))
    # The hours and days so far count under "unknown", so the table per API adds up
    # to the whole traffic of any range, as every other breakdown does.
    for name in ('usage_hours', 'usage_days'):
        table = sa.table(name, *[sa.column(c) for c in ('start', 'dimension', 'subject') + SUMS])
        columns = ('start', 'dimension', 'subject') + SUMS
        op.execute(table.insert().from_select(
            columns, sa.select(table.c.start, sa.literal_column("'api'"), sa.literal_column("''"),
                               *[table.c[c] for c in SUMS])
            .where(table.c.dimension == 'all')))


def downgrade():
    for name in ('usage_hours', 'usage_days'):
        table = sa.table(name, sa.column('dimension'))
        op.execute(table.delete().where(table.c.dimension == 'api'))
    for name, unique in TABLES.items():
        old = [c for c in unique if c != 'api_format']
        # Rows of one minute that differ only in their dialect would collide: sum them first.
        _merge(name, old)
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_constraint(f'uq_{name}_dims', type_='unique')
            batch_op.create_unique_constraint(f'uq_{name}_dims', old)
            batch_op.drop_column('api_format')


def _merge(name, dims):
    sums = (('count', 'tokens_in', 'tokens_out', 'latency_ms_sum', 'ttfb_ms_sum')
            if name == 'usage_buckets' else BINS)
    table = sa.table(name, sa.column('id'), *[sa.column(c) for c in dims + list(sums)])
    conn = op.get_bind()
    groups = conn.execute(
        sa.select(*[table.c[c] for c in dims], sa.func.min(table.c.id),
                  *[sa.func.sum(table.c[c]) for c in sums])
        .group_by(*[table.c[c] for c in dims]).having(sa.func.count() > 1)).all()
    for row in groups:
        where = [table.c[c] == row[i] for i, c in enumerate(dims)]
        keep = row[len(dims)]
        conn.execute(table.update().where(table.c.id == keep)
                     .values({c: row[len(dims) + 1 + i] for i, c in enumerate(sums)}))
        conn.execute(table.delete().where(*where, table.c.id != keep))
