"""pools.image_host: where a pool's generated images are uploaded

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 06:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('image_host', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.drop_column('image_host')
