"""the client token that created each file and cached content

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 05:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    # Rows already there keep both columns NULL: they stay open to every client.
    with op.batch_alter_table('resource_owners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('client_tag', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_resource_owners_client_tag'), ['client_tag'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('resource_owners', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resource_owners_client_tag'))
        batch_op.drop_column('client_tag')
        batch_op.drop_column('client_id')
