"""pool model lists and aliases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:00:00.000000

The new columns are nullable: MariaDB cannot give a JSON column a literal
server default in every version, and a row written by an older release during
a rolling upgrade stays valid. The model reads NULL as empty; existing rows
are filled with ``{}`` and ``[]`` here all the same.
"""
from alembic import op
import sqlalchemy as sa

import balancer.models.types


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('aliases', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('models', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('models_refreshed_at', balancer.models.types.UTCDateTime(),
                                      nullable=True))
    pools = sa.table('pools', sa.column('aliases', sa.JSON()), sa.column('models', sa.JSON()))
    op.execute(pools.update().values(aliases={}, models=[]))


def downgrade():
    # Plain ALTER TABLE ... DROP COLUMN (SQLite has it since 3.35), not a batch:
    # on SQLite a batch would copy the table and drop the old one, and with
    # foreign keys on, that drop cascades to every key of every pool.
    for column in ('models_refreshed_at', 'models', 'aliases'):
        op.drop_column('pools', column)
