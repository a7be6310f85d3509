"""mail that comes back: inbound_messages (bounces, complaints, commands, replies); digests found by Message-ID

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'inbound_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.String(length=300), nullable=False),
        sa.Column('rcpt', sa.String(length=320), nullable=False),
        sa.Column('via', sa.String(length=10), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('sender', sa.String(length=320), nullable=False),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('outcome', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=40), nullable=True),
        sa.Column('blame', sa.String(length=20), nullable=True),
        sa.Column('subscriber_id', sa.Integer(), nullable=True),
        sa.Column('digest_id', sa.Integer(), nullable=True),
        sa.Column('replied', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('raw', sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(['digest_id'], ['digests.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('message_id', 'rcpt', name='uq_inbound_message_rcpt'),
    )
    op.create_index('ix_inbound_kind_received', 'inbound_messages', ['kind', 'received_at'])
    op.create_index('ix_inbound_sender_received', 'inbound_messages', ['sender', 'received_at'])
    op.create_index('ix_inbound_digest', 'inbound_messages', ['digest_id'])
    op.create_index('ix_digests_message_id', 'digests', ['message_id'])


def downgrade() -> None:
    op.drop_index('ix_digests_message_id', table_name='digests')
    op.drop_index('ix_inbound_digest', table_name='inbound_messages')
    op.drop_index('ix_inbound_sender_received', table_name='inbound_messages')
    op.drop_index('ix_inbound_kind_received', table_name='inbound_messages')
    op.drop_table('inbound_messages')
