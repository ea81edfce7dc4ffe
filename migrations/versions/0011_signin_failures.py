"""failed admin sign-ins and the admin session version, shared by every worker

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 06:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import balancer.models.types


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('signin_failures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('created_at', balancer.models.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signin_failures'))
    )
    with op.batch_alter_table('signin_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signin_failures_address'), ['address'], unique=False)
        batch_op.create_index(batch_op.f('ix_signin_failures_created_at'), ['created_at'],
                              unique=False)
    op.create_table('admin_session',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_session'))
    )


def downgrade():
    op.drop_table('admin_session')
    with op.batch_alter_table('signin_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signin_failures_created_at'))
        batch_op.drop_index(batch_op.f('ix_signin_failures_address'))
    op.drop_table('signin_failures')
