"""consent state and delivery failure classes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('subscribers') as batch:
        # When `status` last changed: "unsubscribed since 2026-11-30" in refusals and status.
        batch.add_column(sa.Column('status_at', sa.DateTime(timezone=True), nullable=True))
        # The one live confirmation link (its id travels in the signed token) and the settings
        # that link confirms: a newer sign-up replaces both, so an older link says it was superseded.
        batch.add_column(sa.Column('confirm_nonce', sa.String(64), nullable=True))
        batch.add_column(sa.Column('pending_prefs', sa.JSON(), nullable=True))
    with op.batch_alter_table('digests') as batch:
        # Who a failure is blamed on (RFC 3463 class): recipient | sender | transient | unknown.
        batch.add_column(sa.Column('failure_class', sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('digests') as batch:
        batch.drop_column('failure_class')
    with op.batch_alter_table('subscribers') as batch:
        batch.drop_column('pending_prefs')
        batch.drop_column('confirm_nonce')
        batch.drop_column('status_at')
