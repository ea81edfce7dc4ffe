"""per-client request size limit; each process's recent use per client

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 07:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import balancer.models.types


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('client_usage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process', sa.String(length=96), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('recent', sa.Integer(), nullable=False),
    sa.Column('in_flight', sa.Integer(), nullable=False),
    sa.Column('updated_at', balancer.models.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_usage')),
    sa.UniqueConstraint('process', 'client_id', name='uq_client_usage_process_client')
    )
    with op.batch_alter_table('client_usage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_client_usage_updated_at'), ['updated_at'], unique=False)
    # In place (no table copy on SQLite); NULL: no limit beyond MAX_REQUEST_MB.
    with op.batch_alter_table('client_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_request_kb', sa.Integer(), nullable=True))


def downgrade():
    op.drop_column('client_tokens', 'max_request_kb')
    op.drop_table('client_usage')
