"""stored Responses-API responses, for previous_response_id

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 07:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

import balancer.models.types


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def _long_text():
    return sa.Text().with_variant(mysql.LONGTEXT(), 'mysql', 'mariadb')


def upgrade():
    op.create_table('stored_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('client_tag', sa.String(length=32), nullable=False),
    sa.Column('model', sa.String(length=255), nullable=False),
    sa.Column('items', _long_text(), nullable=False),
    sa.Column('response', _long_text(), nullable=False),
    sa.Column('created_at', balancer.models.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stored_responses')),
    sa.UniqueConstraint('response_id', name=op.f('uq_stored_responses_response_id'))
    )
    with op.batch_alter_table('stored_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stored_responses_client_tag'), ['client_tag'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_stored_responses_created_at'), ['created_at'],
                              unique=False)


def downgrade():
    op.drop_table('stored_responses')
