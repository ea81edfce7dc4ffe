"""several outgoing proxies per pool

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:20:00.000000

A nullable column added in place (no table copy on SQLite); NULL reads as
"no list": the pool's single proxy_url, or PROXY_URL, serves every key.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proxies', sa.JSON(), nullable=True))


def downgrade():
    # Not a batch: see 0002 (a table copy on SQLite would cascade to the keys).
    op.drop_column('pools', 'proxies')
