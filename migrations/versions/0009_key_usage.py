"""each process's recent use per key, for keys' own per-minute limits

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 13:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import balancer.models.types


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('key_usage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process', sa.String(length=96), nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=False),
    sa.Column('recent', sa.Integer(), nullable=False),
    sa.Column('updated_at', balancer.models.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_usage')),
    sa.UniqueConstraint('process', 'key_id', name='uq_key_usage_process_key')
    )
    with op.batch_alter_table('key_usage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_usage_updated_at'), ['updated_at'], unique=False)


def downgrade():
    with op.batch_alter_table('key_usage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_key_usage_updated_at'))

    op.drop_table('key_usage')
