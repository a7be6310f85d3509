"""feedback: liked and disliked papers per subscriber

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per (subscriber, work): a new choice replaces the old one. `key` names the work as papers.key
    # does; paper_id is NULL for a library entry or an arXiv id not ingested yet (matched by key when read).
    op.create_table(
        'feedback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), nullable=False),
        sa.Column('paper_id', sa.Integer(), nullable=True),
        sa.Column('key', sa.String(300), nullable=False),
        sa.Column('arxiv_id', sa.String(40), nullable=True),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('abstract', sa.Text(), nullable=False),
        sa.Column('authors', sa.JSON(), nullable=False),
        sa.Column('categories', sa.JSON(), nullable=False),
        sa.Column('sign', sa.SmallInteger(), nullable=False),
        sa.Column('origin', sa.String(10), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('sign IN (1, -1)', name='ck_feedback_sign'),
        sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['paper_id'], ['papers.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('subscriber_id', 'key', name='uq_feedback_subscriber_key'),
    )
    op.create_index('ix_feedback_paper', 'feedback', ['paper_id'])


def downgrade() -> None:
    op.drop_index('ix_feedback_paper', table_name='feedback')
    op.drop_table('feedback')
