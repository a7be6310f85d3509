"""stored ranking features per paper

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows from before this revision get their features on their next ingest or ranking.
    with op.batch_alter_table('papers') as batch:
        batch.add_column(sa.Column('features', sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column('features_version', sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('papers') as batch:
        batch.drop_column('features_version')
        batch.drop_column('features')
