"""which key owns each upstream file and cached content; per-pool request defaults

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 06:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

import balancer.models.types


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('resource_owners',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=False),
    sa.Column('resource', sa.JSON(), nullable=True),
    sa.Column('expires_at', balancer.models.types.UTCDateTime(), nullable=False),
    sa.Column('created_at', balancer.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['key_id'], ['api_keys.id'], name=op.f('fk_resource_owners_key_id_api_keys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resource_owners')),
    sa.UniqueConstraint('name', name=op.f('uq_resource_owners_name'))
    )
    with op.batch_alter_table('resource_owners', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resource_owners_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_resource_owners_key_id'), ['key_id'], unique=False)
    # A nullable column added in place (no table copy on SQLite); NULL reads as {}.
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_defaults', sa.JSON(), nullable=True))


def downgrade():
    # Not a batch: see 0002 (a table copy on SQLite would cascade to the keys).
    op.drop_column('pools', 'request_defaults')
    op.drop_table('resource_owners')
