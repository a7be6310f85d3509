"""Commands for subscribers: `subscribe`, `unsubscribe`, `subscribers`."""

from __future__ import annotations


import click

from digest.config import Settings
from digest.cli.common import UserError, now_utc, open_sessions, settings_of, table
from digest.cli.likes import parse_ids, read_libraries, record_likes


@click.command()
@click.argument("email")
@click.option("--topic", "-t", "topics", multiple=True, help="A topic phrase; repeat for several.")
@click.option("--category", "-c", "categories", multiple=True, help="Only papers in this arXiv category (e.g. cs.LG).")
@click.option("--exclude", "-x", multiple=True, help="Never send papers containing this word.")
@click.option("--author", "authors", multiple=True, help="Always consider papers by this author.")
@click.option("--timezone", "tz", default=None, help="IANA time zone, e.g. Europe/Berlin (default UTC).")
@click.option("--hour", type=click.IntRange(0, 23), default=None, help="Local hour to send at (default 7).")
@click.option("--max-papers", type=click.IntRange(1, 50), default=None, help="At most this many papers (default 10).")
@click.option("--weekly/--daily", "weekly", default=None, help="One roll-up a week instead of daily (or back).")
@click.option("--updates/--no-updates", "updates", default=None,
              help="Also an Updated block: new versions of older papers on their topics (or not).")
@click.option("--name", default=None, help="Display name.")
@click.option("--resubscribe", is_flag=True,
              help="For an address that opted out (or never confirmed): email it a new confirmation link.")
@click.option("--like", "likes", multiple=True, metavar="ARXIV_ID",
              help="A paper they like (2411.17730, arXiv:2411.17730v2 or its arxiv.org link); repeat for several.")
@click.option("--library", "libraries", multiple=True, metavar="FILE",
              help="A BibTeX, RIS or Zotero CSV export of their reference library: its papers count as liked.")
@click.pass_context
def subscribe(ctx, email, topics, categories, exclude, authors, tz, hour, max_papers, weekly, updates, name,
              resubscribe, likes, libraries) -> None:
    """Add a confirmed subscriber, or change only the given options of an existing one.

    An address that unsubscribed, bounced, complained or was suppressed is
    never re-activated: --resubscribe emails it a new confirmation link, and
    it stays as it is until the person confirms. Papers they like (--like, or
    every paper of a --library export) teach the digest what they want, with
    or without topics, and are never sent to them.

    \b
    Example:
      digest subscribe ada@example.org --topic "LLM quantization" --timezone Europe/London --hour 7
      digest subscribe ada@example.org --hour 8        # changes only her hour
      digest subscribe bob@example.org --library my-zotero.bib --like 2411.17730
      digest subscribe ada@example.org --updates       # new versions of older papers too
    """
    from digest import subscriptions as subs

    settings = settings_of(ctx)
    given = {key: value for key, value in {
        "topics": list(topics) or None, "categories": list(categories) or None, "exclude": list(exclude) or None,
        "authors": list(authors) or None, "timezone": tz, "send_hour": hour, "max_papers": max_papers,
        "cadence": None if weekly is None else "weekly" if weekly else "daily", "updates": updates}.items()
        if value is not None}
    defaults = {"timezone": settings.default_timezone, "send_hour": settings.default_hour, "max_papers": 10}
    liked, read = parse_ids(likes), read_libraries(libraries)  # checked before anything is written
    try:
        address = subs.normalise_email(email)
        with open_sessions(settings).begin() as session:
            subscriber = subs.get_subscriber(session, address)
            if resubscribe and (subscriber is None or subscriber.status != "active"):
                subscriber = _send_resubscription(settings, session, address, given, defaults)
            elif subscriber is None:
                prefs = subs.validate_preferences(**{**defaults, **given})
                subscriber, _ = subs.subscribe(session, address, prefs, now_utc(), name=name or "")
                learns = f", learns from the papers they like" if (liked or read) and not subscriber.topics else ""
                click.echo(f"subscribed {subscriber.email} (topics: {', '.join(subscriber.topics) or 'none'}{learns}; "
                           f"{subscriber.timezone} {subscriber.send_hour:02d}:00)")
            elif subscriber.status != "active":
                raise UserError(f"{subs.describe_status(subscriber)}; use --resubscribe to send them a new "
                                "confirmation")
            else:
                changes = subs.update_subscriber(session, subscriber, given, name=name, now=now_utc())
                if changes or not (liked or read):
                    click.echo(f"updated {subscriber.email}: {'; '.join(changes)}" if changes
                               else f"no change to {subscriber.email}")
            for line in record_likes(session, subscriber, liked, read):
                click.echo(line)
    except subs.SubscriptionError as exc:
        raise UserError(str(exc)) from None


def _send_resubscription(settings: Settings, session, address: str, given: dict, defaults: dict):
    """Mail a new double opt-in link; sent before the commit, so a failed send writes nothing."""
    from digest import subscriptions as subs
    from digest.delivery.confirmations import deliver_confirmation
    from digest.email.confirmation import build_confirmation
    from digest.delivery.senders import DeliveryError

    now = now_utc()
    subscriber = subs.request_resubscription(session, address, given, defaults, now)
    data = build_confirmation(settings, subscriber, settings.signing_key(), True, now)
    try:
        deliver_confirmation(settings, subscriber.email, data)
    except (DeliveryError, OSError, ValueError) as exc:
        where = "DIGEST_SMTP_URL" if settings.smtp is not None else f"DIGEST_OUTBOX_DIR ({settings.outbox_dir})"
        raise click.ClickException(f"confirmation to {subscriber.email} not sent: {exc}; check {where}") from None
    click.echo(f"sent a new confirmation to {subscriber.email}; it stays {subscriber.status} until they confirm "
               "through the link")
    return subscriber


@click.command()
@click.argument("email")
@click.pass_context
def unsubscribe(ctx, email) -> None:
    """Stop sending to EMAIL (effective before the next send).

    \b
    Example:
      digest unsubscribe ada@example.org
    """
    from digest import subscriptions as subs

    with open_sessions(settings_of(ctx)).begin() as session:
        subscriber = subs.get_subscriber(session, email)
        if subscriber is None:
            raise UserError(f"no subscriber {email!r}")
        changed = subs.unsubscribe(session, subscriber, now_utc())
        click.echo(f"unsubscribed {subscriber.email}" if changed else f"{subscriber.email} was already unsubscribed")


@click.command()
@click.option("--status", type=click.Choice(["pending", "active", "unsubscribed", "bounced", "complained", "suppressed"]),
              help="Only this status.")
@click.pass_context
def subscribers(ctx, status) -> None:
    """List subscribers as a table.

    \b
    Example:
      digest subscribers --status active
    """
    from sqlalchemy import func, select

    from digest.models import Feedback, Subscriber

    with open_sessions(settings_of(ctx))() as session:
        query = select(Subscriber).order_by(Subscriber.email_key)
        if status:
            query = query.where(Subscriber.status == status)
        liked = dict(session.execute(select(Feedback.subscriber_id, func.count()).where(Feedback.sign == 1)
                                     .group_by(Feedback.subscriber_id)).all())
        rows = [[s.email, s.status, "; ".join(s.topics), ", ".join(s.categories) or "-", liked.get(s.id, 0),
                 s.timezone, f"{s.send_hour:02d}:00", s.cadence, s.max_papers] for s in session.scalars(query)]
    if not rows:
        click.echo("no subscribers yet: add one with `digest subscribe EMAIL --topic T`")
        return
    click.echo(table(rows, ["email", "status", "topics", "categories", "liked", "timezone", "hour", "cadence", "max"]))
