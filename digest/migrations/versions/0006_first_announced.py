"""first announcement and revisions of papers; the Updated block

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('papers') as batch:
        # Nullable: rows from before this revision are estimated when read (digest.sources.announcements).
        batch.add_column(sa.Column('first_announced_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('revised_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_index('ix_papers_revised_at', ['revised_at'])
    with op.batch_alter_table('subscribers') as batch:
        batch.add_column(sa.Column('updates', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('digest_items') as batch:
        batch.add_column(sa.Column('version', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('updated', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('digest_items') as batch:
        batch.drop_column('updated')
        batch.drop_column('version')
    with op.batch_alter_table('subscribers') as batch:
        batch.drop_column('updates')
    with op.batch_alter_table('papers') as batch:
        batch.drop_index('ix_papers_revised_at')
        batch.drop_column('revised_at')
        batch.drop_column('first_announced_at')
