"""What happened: sources' health, digests by state, skips and failures (`digest status`)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.wording import plural
from digest.delivery.outcomes import OUTAGE_PREFIX, UNKNOWN_PREFIX, outage_since, unknown_outcomes
from digest.email.replies import SENDER, classify_reply, sender_problem
from digest.models import Digest, InboundMessage, Paper, Source, Subscriber
from digest.ranking.embed import embedder_problem

STATES = ("pending", "sending", "sent", "skipped", "failed", "suppressed")


@dataclass
class StatusReport:
    sources: list[list] = field(default_factory=list)
    papers: int = 0
    papers_recent: int = 0
    subscribers_text: str = ""
    digests: list[list] = field(default_factory=list)
    oldest_pending: str | None = None
    skips: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # the sender problems first, then one line per digest
    sender_problems: list[str] = field(default_factory=list)
    delivery: list[str] = field(default_factory=list)  # a relay outage, unknown outcomes: what is waiting and why
    warnings: list[str] = field(default_factory=list)  # what runs degraded: no sentence-embedding model, say
    returned: list[str] = field(default_factory=list)  # mail that came back (digest inbound), by kind


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def source_rows(session: Session) -> list[list]:
    """One row per source: name, kind, last success, status, consecutive failures, what happened last."""
    return [[s.name, s.kind, _when(s.last_success_at), s.last_status or "-", s.consecutive_failures or 0,
             _source_detail(s)] for s in session.scalars(select(Source).order_by(Source.name))]


def _source_detail(source: Source) -> str:
    counts = source.last_counts or {}
    # Redirected elsewhere: the operator should re-add the source under its new address.
    moved = f"moved to {str(counts['final_url'])[:200]}" if counts.get("final_url") else ""
    if source.consecutive_failures and source.last_error:
        # Failing now: the reason is the news, not yesterday's counts.
        failing = f"last error {_when(source.last_error_at)}: {source.last_error[:100]}"
        return "; ".join(filter(None, (failing, moved)))
    if not counts.keys() - {"final_url"}:
        return moved
    if source.last_status in ("unchanged", "not-modified") and counts.get("papers") is not None:
        # Nothing was read: what the source holds is the news, not a row of zeros.
        return "; ".join(filter(None, (f"unchanged since last read ({plural(counts['papers'], 'paper')})", moved)))
    parts = [f"{counts.get('new', 0)} new, {counts.get('updated', 0)} updated, {plural(counts.get('problems', 0), 'problem')}"]
    if counts.get("message"):
        parts.append(str(counts["message"])[:100])  # e.g. "no announcement in this feed (...)"
    if counts.get("problems") and source.last_error:
        parts.append(f"first problem: {source.last_error[:100]}")
    if moved:
        parts.append(moved)
    return "; ".join(parts)


def get_status(session: Session, now: dt.datetime, days: int = 3) -> StatusReport:
    """Everything `digest status` prints, for editions of the last `days` days."""
    report = StatusReport(sources=source_rows(session))
    report.papers = session.scalar(select(func.count(Paper.id))) or 0
    report.papers_recent = session.scalar(
        select(func.count(Paper.id)).where(Paper.first_seen_at >= now - dt.timedelta(hours=24))) or 0
    by_status = dict(session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status)).all())
    report.subscribers_text = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) or "none"
    since = (now - dt.timedelta(days=days)).date()
    table: dict[dt.date, dict[str, int]] = defaultdict(dict)
    for date, state, count in session.execute(
        select(Digest.edition_date, Digest.state, func.count()).where(Digest.edition_date >= since)
        .group_by(Digest.edition_date, Digest.state)
    ):
        table[date][state] = count
    report.digests = [[d.isoformat(), *[table[d].get(s, 0) for s in STATES]] for d in sorted(table, reverse=True)]
    oldest = session.execute(
        select(Digest.created_at, Subscriber.email).join(Subscriber).where(Digest.state.in_(("pending", "sending")))
        .order_by(Digest.created_at).limit(1)).first()
    if oldest:
        report.oldest_pending = f"{oldest[1]} since {_when(oldest[0])}"
    for date, email, state, reason, error in session.execute(
        select(Digest.edition_date, Subscriber.email, Digest.state, Digest.reason, Digest.last_error).join(Subscriber)
        .where(Digest.edition_date >= since, Digest.state.in_(("skipped", "failed", "suppressed")))
        .order_by(Digest.edition_date.desc(), Subscriber.email).limit(50)
    ):
        line = f"{date} {email}: {state}: {reason or ''}{' — ' + error if error else ''}"
        (report.failures if state == "failed" else report.skips).append(line)
    report.delivery = get_waiting(session, since)
    report.sender_problems = get_sender_problems(session, since)
    report.failures[:0] = report.sender_problems
    report.warnings = ranking_warnings()
    report.returned = get_returned(session, now - dt.timedelta(days=days))
    return report


def ranking_warnings() -> list[str]:
    """One line when the sentence-embedding model cannot load: papers are then ranked by their words alone."""
    problem = embedder_problem()
    return [f"ranking by words only: {problem}"] if problem else []


RETURNED_WORDS = {"bounce": ("bounce", "bounces"), "complaint": ("complaint", "complaints"),
                  "unsubscribe": ("unsubscribe by mail", "unsubscribes by mail"),
                  "subscribe": ("sign-up by mail", "sign-ups by mail"), "reply": ("reply", "replies"),
                  "autoreply": ("auto-reply", "auto-replies"), "delay": ("delay notice", "delay notices"),
                  "refused": ("refused message", "refused messages")}


def get_returned(session: Session, since: dt.datetime) -> list[str]:
    """Mail that came back since `since`, by kind; complaints and replies waiting for the operator stand out."""
    counts = dict(session.execute(select(InboundMessage.kind, func.count()).where(
        InboundMessage.received_at >= since).group_by(InboundMessage.kind)).all())
    if not counts:
        return []
    parts = [plural(counts[k], *RETURNED_WORDS[k]) for k in RETURNED_WORDS if counts.get(k)]
    lines = [f"returned mail: {', '.join(parts)} (digest inbound --list)"]
    complained = session.scalar(select(func.count()).select_from(Subscriber).where(Subscriber.status == "complained"))
    if counts.get("complaint"):
        lines.append(f"complaints: {plural(counts['complaint'], 'reader')} marked a digest as spam; "
                     f"{plural(complained or 0, 'address', 'addresses')} unsubscribed for it in all")
    if counts.get("reply"):
        lines.append(f"replies: {plural(counts['reply'], 'message')} for the operator (digest inbound --list --kind reply)")
    return lines


def get_sender_problems(session: Session, since: dt.date) -> list[str]:
    """One line per kind of refusal blamed on us (policy/spam, DMARC, size, routing), with what to check."""
    by_status: Counter = Counter()
    for (error,) in session.execute(select(Digest.last_error).where(
            Digest.edition_date >= since, Digest.state == "failed", Digest.failure_class == SENDER)):
        by_status[classify_reply(None, error or "").status] += 1
    lines = []
    for status, count in sorted(by_status.items(), key=lambda kv: (-kv[1], kv[0] or "")):
        what, hint = sender_problem(status)
        lines.append(f"sender problem: {plural(count, 'digest')} refused by the relay {what} — {hint}")
    return lines


def get_waiting(session: Session, since: dt.date) -> list[str]:
    """Digests kept back by a relay outage, and those whose outcome was unknown (at most one extra copy each)."""
    lines = []
    outage = session.execute(select(Digest.reason, Digest.last_error).where(
        Digest.state == "pending", Digest.reason.startswith(OUTAGE_PREFIX)).order_by(Digest.updated_at.desc())).all()
    if outage:
        start = min(outage_since(reason) or dt.datetime.max.replace(tzinfo=dt.timezone.utc) for reason, _ in outage)
        lines.append(f"relay unreachable since {start:%Y-%m-%d %H:%M} UTC: {plural(len(outage), 'digest')} waiting "
                     f"(last error: {(outage[0][1] or '')[:120]})")
    unknown = session.scalar(select(func.count()).where(
        Digest.state == "pending", Digest.reason.startswith(UNKNOWN_PREFIX))) or 0
    if unknown:
        lines.append(f"outcome unknown after DATA: {plural(unknown, 'digest')} waiting to be retried with the same "
                     "Message-ID (the relay may have them already)")
    copies = sum(unknown_outcomes(reason) for (reason,) in session.execute(select(Digest.reason).where(
        Digest.edition_date >= since, Digest.state == "sent", Digest.reason.like("sent after%unknown outcome%"))))
    if copies:
        lines.append(f"sent after an unknown outcome: at most {plural(copies, 'extra copy', 'extra copies')} "
                     "may have arrived (same Message-ID: receiving systems can drop them)")
    return lines
