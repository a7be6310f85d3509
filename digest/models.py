"""SQLAlchemy 2 typed models: sources, papers, subscribers, digests, digest items, feedback, inbound mail."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON, list: JSON, dt.datetime: UTCDateTime}


class Source(Base):
    """A feed or listing we ingest, with its health."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40))
    # True for sources added with `digest sources add` (run daily); False for
    # ones only seen through DIGEST_SOURCES or an ad hoc `digest ingest FILE`.
    added: Mapped[bool] = mapped_column(default=False)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    last_attempt_at: Mapped[dt.datetime | None]
    last_success_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[dt.datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(40))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_counts: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime]


class PhraseEmbedding(Base):
    """A topic phrase's sentence embedding, shared by every profile that names it (ranking.semantic)."""

    __tablename__ = "phrase_embeddings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the phrase as written
    phrase: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(SmallInteger)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)


class Paper(Base):
    """One work, whatever source or version it arrived from (key = canonical id)."""

    __tablename__ = "papers"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    version: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text, default="")
    authors: Mapped[list] = mapped_column(JSON, default=list)
    categories: Mapped[list] = mapped_column(JSON, default=list)
    url: Mapped[str | None] = mapped_column(Text)
    pdf_url: Mapped[str | None] = mapped_column(Text)
    doi: Mapped[str | None] = mapped_column(String(300))
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    source_names: Mapped[list] = mapped_column(JSON, default=list)
    announced_at: Mapped[dt.datetime | None]
    first_seen_at: Mapped[dt.datetime]
    # The paper's first announcement (v1) as best known at its first ingest (digest.sources.announcements);
    # NULL: unknown but earlier (a revision without an id), or a row older than the column (estimated on read).
    first_announced_at: Mapped[dt.datetime | None]
    # When we read a later version of a paper first announced earlier (a replacement): the "Updated" block.
    revised_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime]
    upvotes: Mapped[int] = mapped_column(Integer, default=0)
    comments: Mapped[int] = mapped_column(Integer, default=0)
    github_stars: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str] = mapped_column(String(64))
    # Ranking features of title, abstract and authors (digest.ranking.features), stored once so that no ranking
    # call tokenises text; NULL, or an older version, until digest.features.fill_features computes them.
    features: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    features_version: Mapped[int | None] = mapped_column(SmallInteger)
    # Sentence embedding of title and abstract (digest.ranking.embed: float16 x 384, 768 bytes) of EMBED_VERSION
    # `embedding_version`; NULL until digest.embeddings computes it, and for good when no model loads. Kept
    # however old the paper (a liked paper is ranked by its vector), unlike the features.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    embedding_version: Mapped[int | None] = mapped_column(SmallInteger)
    # The abstract's sentences embedded (ranking.quotes.sentences, float16 × 384 each), stored with `embedding`:
    # a reason names the sentence closest to the reader's topic without running the model.
    sentence_embeddings: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)

    __table_args__ = (Index("ix_papers_first_seen_at", "first_seen_at"), Index("ix_papers_revised_at", "revised_at"))


class Subscriber(Base):
    """A person who receives digests; `email_key` is the address lower-cased (unique)."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # pending | active | unsubscribed | bounced | complained | suppressed; only the reader's own
    # confirmed action moves an address from any other state to active.
    status: Mapped[str] = mapped_column(String(20), default="active")
    status_at: Mapped[dt.datetime | None]  # when status last changed
    topics: Mapped[list] = mapped_column(JSON, default=list)
    categories: Mapped[list] = mapped_column(JSON, default=list)
    exclude: Mapped[list] = mapped_column(JSON, default=list)
    authors: Mapped[list] = mapped_column(JSON, default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    send_hour: Mapped[int] = mapped_column(Integer, default=7)
    max_papers: Mapped[int] = mapped_column(Integer, default=10)
    min_score: Mapped[float] = mapped_column(Float, default=0.0)
    cadence: Mapped[str] = mapped_column(String(10), default="daily")
    # Also wants new versions of older papers relevant to them, in an "Updated" block.
    updates: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    permanent_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]
    confirmed_at: Mapped[dt.datetime | None]
    unsubscribed_at: Mapped[dt.datetime | None]
    # The one live confirmation link's id (carried in its signed token) and the settings it confirms.
    confirm_nonce: Mapped[str | None] = mapped_column(String(64))
    pending_prefs: Mapped[dict | None] = mapped_column(JSON)
    # The next UTC moment the subscriber may be due (digest.schedule): never later than it, so a tick reads
    # the due rows through ix_subscribers_due instead of every subscriber's clock. Set when the profile or
    # the status changes; moved on by the tick that finds the edition finished. NULL: the next tick sets it.
    next_send_at: Mapped[dt.datetime | None]

    digests: Mapped[list["Digest"]] = relationship(back_populates="subscriber")

    __table_args__ = (
        Index("ix_subscribers_due", "next_send_at", "id", postgresql_where=text("status = 'active'"),
              sqlite_where=text("status = 'active'")),
    )


class Digest(Base):
    """One edition for one subscriber; UNIQUE(subscriber, edition_date) is the idempotency key."""

    __tablename__ = "digests"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    edition_date: Mapped[dt.date]
    # pending -> sending -> sent | skipped | failed | suppressed
    state: Mapped[str] = mapped_column(String(20), default="pending")
    message_id: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Who a failure is blamed on, from the reply's RFC 3463 class: recipient | sender | transient | unknown.
    failure_class: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    paper_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]

    subscriber: Mapped[Subscriber] = relationship(back_populates="digests")
    items: Mapped[list["DigestItem"]] = relationship(back_populates="digest", cascade="all, delete-orphan")

    __table_args__ = (
        UniqueConstraint("subscriber_id", "edition_date", name="uq_digest_subscriber_edition"),
        Index("ix_digests_state_edition", "state", "edition_date"),
        Index("ix_digests_message_id", "message_id"),  # a returned message names its digest by Message-ID
    )


class DigestItem(Base):
    """Which paper went to whom, at which rank, with which score, reason and key sentence."""

    __tablename__ = "digest_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    topic: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int | None] = mapped_column(Integer)  # the paper's version the digest showed
    # Shown in the "Updated" block (a new version of an older paper), not among the new picks.
    updated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The key sentence the card showed in bold (Pick.sentence); NULL when it had none, or was sent before it was kept.
    sentence: Mapped[str | None] = mapped_column(Text)

    digest: Mapped[Digest] = relationship(back_populates="items")

    __table_args__ = (
        UniqueConstraint("digest_id", "paper_id", name="uq_item_digest_paper"),
        Index("ix_items_subscriber_paper", "subscriber_id", "paper_id"),
    )


class SentPaper(Base):
    """A paper a subscriber was sent in a digest pruned since (DIGEST_KEEP_DAYS): never sent to them again.

    The compact remainder of pruned digest_items rows, one per (subscriber, paper), with the newest
    version shown (the Updated block compares against it).
    """

    __tablename__ = "sent_papers"

    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class Feedback(Base):
    """A reader's "more like this" (+1) or "less like this" (-1) on one work; the rules live in digest.feedback.

    `key` names the work as papers.key does (`arxiv:<id>`, `doi:…`, `title:<words>`): one row per
    (subscriber, key), so a new choice replaces the old one. `paper_id` is NULL for an entry not in the
    database (an imported library entry, an arXiv id not ingested yet), which keeps its own text; it is
    matched to the paper by key when read.
    """

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    paper_id: Mapped[int | None] = mapped_column(ForeignKey("papers.id", ondelete="SET NULL"))
    key: Mapped[str] = mapped_column(String(300))
    arxiv_id: Mapped[str | None] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(Text, default="")
    abstract: Mapped[str] = mapped_column(Text, default="")
    authors: Mapped[list] = mapped_column(JSON, default=list)
    categories: Mapped[list] = mapped_column(JSON, default=list)
    sign: Mapped[int] = mapped_column(SmallInteger)  # +1 more like this, -1 less like this
    origin: Mapped[str] = mapped_column(String(10))  # link | cli | library
    created_at: Mapped[dt.datetime]

    __table_args__ = (
        UniqueConstraint("subscriber_id", "key", name="uq_feedback_subscriber_key"),
        CheckConstraint("sign IN (1, -1)", name="ck_feedback_sign"),
        Index("ix_feedback_paper", "paper_id"),
    )


class InboundMessage(Base):
    """One message that came back (a bounce, a complaint, a command, a reply), handled once; rules in digest.inbound.

    (message_id, rcpt) is the idempotency key: the same message delivered again
    (a retried LMTP transaction, a mailbox polled twice) finds its row and does
    nothing. `raw` keeps the message itself when an operator may need to read it
    (replies, refused and unattributed mail); `replied` marks the ones we answered
    by mail (confirmations), which the per-sender and hourly limits count.
    """

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(300))
    rcpt: Mapped[str] = mapped_column(String(320), default="")
    via: Mapped[str] = mapped_column(String(10))  # pipe | lmtp | smtp | imap
    received_at: Mapped[dt.datetime]
    # bounce | delay | complaint | unsubscribe | subscribe | reply | autoreply | refused
    kind: Mapped[str] = mapped_column(String(20))
    sender: Mapped[str] = mapped_column(String(320), default="")  # the From address, lower-cased
    subject: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(Text, default="")  # what was done, one line
    status: Mapped[str | None] = mapped_column(String(40))  # RFC 3463 code of a bounce, feedback type of a complaint
    blame: Mapped[str | None] = mapped_column(String(20))  # recipient | sender | transient | unknown (bounces)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"))
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id", ondelete="SET NULL"))
    replied: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    size: Mapped[int] = mapped_column(Integer, default=0)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)

    __table_args__ = (
        UniqueConstraint("message_id", "rcpt", name="uq_inbound_message_rcpt"),
        Index("ix_inbound_kind_received", "kind", "received_at"),
        Index("ix_inbound_sender_received", "sender", "received_at"),
        Index("ix_inbound_digest", "digest_id"),  # which of a reader's latest digests came back
    )
