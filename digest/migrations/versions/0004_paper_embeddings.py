"""stored sentence embeddings per paper

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows from before this revision get theirs at their next ingest or ranking (when a model loads).
    with op.batch_alter_table('papers') as batch:
        batch.add_column(sa.Column('embedding', sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column('embedding_version', sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('papers') as batch:
        batch.drop_column('embedding_version')
        batch.drop_column('embedding')
