"""each digest item keeps the key sentence its card showed, so the web edition and the feed show it too

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('digest_items') as batch:
        # Nullable: an item sent before this revision has none, and its card is shown without one.
        batch.add_column(sa.Column('sentence', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('digest_items') as batch:
        batch.drop_column('sentence')
