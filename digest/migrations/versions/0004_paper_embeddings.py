"""stored sentence embeddings per paper, and of topic phrases

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
        batch.add_column(sa.Column('sentence_embeddings', sa.LargeBinary(), nullable=True))
    op.create_table(
        'phrase_embeddings',
        sa.Column('key', sa.String(length=64), primary_key=True),
        sa.Column('phrase', sa.Text(), nullable=False),
        sa.Column('version', sa.SmallInteger(), nullable=False),
        sa.Column('embedding', sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('phrase_embeddings')
    with op.batch_alter_table('papers') as batch:
        batch.drop_column('sentence_embeddings')
        batch.drop_column('embedding_version')
        batch.drop_column('embedding')
