"""each subscriber's next send time in UTC (subscribers.next_send_at), indexed for the tick, filled for every row

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

The fill costs one pass over subscribers whatever their number: the send time
depends only on (time zone, hour, cadence), so it is computed once per distinct
triple in Python (zoneinfo) and joined in by one UPDATE; a row whose edition of
its local today is already finished gets the send after it.
"""
import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alembic import op
import sqlalchemy as sa

from digest.schedule import get_first_send, get_send_after, local_date


revision = '0009'
down_revision = "0008"
branch_labels = None
depends_on = None

FINAL_STATES = ("sent", "skipped", "failed", "suppressed")


def upgrade() -> None:
    op.add_column('subscribers', sa.Column('next_send_at', sa.DateTime(timezone=True), nullable=True))
    _fill(dt.datetime.now(dt.timezone.utc))
    # Built after the fill: one sort instead of an index entry written per updated row.
    op.create_index('ix_subscribers_due', 'subscribers', ['next_send_at', 'id'],
                    postgresql_where=sa.text("status = 'active'"), sqlite_where=sa.text("status = 'active'"))


def _fill(now: dt.datetime) -> None:
    bind = op.get_bind()
    triples = bind.execute(sa.text("SELECT DISTINCT timezone, send_hour, cadence FROM subscribers")).all()
    rows = []
    for timezone, hour, cadence in triples:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            continue  # left NULL: the tick reports it (validation never lets one in)
        today = local_date(timezone, now)
        rows.append({"timezone": timezone, "send_hour": hour, "cadence": cadence, "today": today,
                     "first_send": get_first_send(timezone, hour, cadence, now),
                     "after_send": get_send_after(timezone, hour, cadence, today)})
    if not rows:
        return
    plan = op.create_table(
        'next_send_fill',
        sa.Column('timezone', sa.String(64), primary_key=True),
        sa.Column('send_hour', sa.Integer(), primary_key=True),
        sa.Column('cadence', sa.String(10), primary_key=True),
        sa.Column('today', sa.Date()),
        sa.Column('first_send', sa.DateTime(timezone=True)),
        sa.Column('after_send', sa.DateTime(timezone=True)),
    )
    op.bulk_insert(plan, rows)
    finals = ", ".join(f"'{state}'" for state in FINAL_STATES)
    chosen = f"""CASE WHEN EXISTS (
                SELECT 1 FROM digests WHERE digests.subscriber_id = subscribers.id
                AND digests.edition_date = f.today AND digests.state IN ({finals})
            ) THEN f.after_send ELSE f.first_send END"""
    match = ("f.timezone = subscribers.timezone AND f.send_hour = subscribers.send_hour "
             "AND f.cadence = subscribers.cadence")
    if bind.dialect.name == "postgresql":  # a hash join instead of a subquery per row (1M rows: 29 s, was 37 s)
        op.execute(f"UPDATE subscribers SET next_send_at = {chosen} FROM next_send_fill f WHERE {match}")
    else:  # UPDATE ... FROM needs SQLite 3.33
        op.execute(f"UPDATE subscribers SET next_send_at = (SELECT {chosen} FROM next_send_fill f WHERE {match})")
    op.drop_table('next_send_fill')


def downgrade() -> None:
    op.drop_index('ix_subscribers_due', table_name='subscribers')
    op.drop_column('subscribers', 'next_send_at')
