"""The "More like this" / "Less like this" pages every digest card links to, and the preferences page's list.

A link is signed for one subscriber and one paper (`digest.tokens.make_paper_token`); a tampered or
unknown one is refused with 400 and nothing is recorded. GET shows the paper with the choice
preselected and a button: link scanners open every link in a mail, so only the POST (CSRF-checked
like the preference pages) records the choice. The answer offers undo, a POST that removes it.
"""

from __future__ import annotations

from flask import abort, redirect, render_template, request

from digest import feedback as fb
from digest.latex import readable
from digest.email.render import shorten_authors
from digest.models import Paper, Subscriber
from digest.tokens import TokenError, read_paper_token
from digest.web.context import check_csrf, link_to, message, now, state

CHOICES = {"more": fb.LIKE, "less": fb.DISLIKE}
SHOWN = 200  # rated papers listed per kind on the preferences page


def choice_page(choice: str, token: str):
    """GET: the paper and the choice, preselected; POST: record it (or undo it) and say so."""
    web = state()
    with web.factory.begin() as db:
        subscriber, paper = _paper_of(db, token)
        title = readable(paper.title or "")
        if request.method == "POST":
            check_csrf()
            picked = request.form.get("choice", "")
            if picked == "undo":
                fb.remove_paper(db, subscriber.id, paper)
                return message(200, "Undone", f"Your choice on “{title}” was removed; it counts no more.",
                               link=(link_to("preferences", subscriber), "Your preferences"))
            if picked not in CHOICES:
                abort(400, "Choose “More like this” or “Less like this”.")
            fb.record_paper(db, subscriber.id, paper, CHOICES[picked], "link", now())
            return render_template("liked.html", title="Thanks, noted", paper_title=title, choice=picked,
                                   preferences_url=link_to("preferences", subscriber))
        current = {v: k for k, v in CHOICES.items()}.get(fb.get_choice(db, subscriber.id, paper))
        return render_template("like.html", title="More like this?" if choice == "more" else "Less like this?",
                               paper_title=title, url=paper.url,
                               authors=shorten_authors([readable(a) for a in paper.authors or ()]),
                               choice=choice, current=current)


def _paper_of(db, token: str) -> tuple[Subscriber, Paper]:
    try:
        subscriber_id, paper_id = read_paper_token(state().secret, token)
    except TokenError:
        abort(400, "This link is not valid. Check that it was copied whole.")
    subscriber = db.get(Subscriber, subscriber_id)
    if subscriber is None:
        abort(400, "This link is not valid. Check that it was copied whole.")
    paper = db.get(Paper, paper_id)
    if paper is None:
        abort(404, "This paper is no longer in the digest's records, so nothing was changed.")
    return subscriber, paper


def rated_lists(db, subscriber: Subscriber) -> dict:
    """What the preferences page lists: liked and disliked papers, newest first, at most SHOWN of each."""
    rated = fb.get_rated(db, subscriber.id)
    liked = [r for r in rated if r.sign == fb.LIKE]
    disliked = [r for r in rated if r.sign == fb.DISLIKE]
    return {"liked": liked[:SHOWN], "disliked": disliked[:SHOWN],
            "more_liked": max(len(liked) - SHOWN, 0), "more_disliked": max(len(disliked) - SHOWN, 0)}


def remove_rated(db, subscriber: Subscriber):
    """The preferences page's Remove button (CSRF checked by the caller): one of this reader's rows, by id."""
    value = request.form.get("feedback_id", "")
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        abort(400, "This form has no paper to remove. Reload the page and try again.")
    fb.remove_row(db, subscriber.id, int(value))  # another reader's row is not theirs to remove: nothing happens
    return redirect(request.path + "?saved=removed", 303)


ROUTES = [("/<any(more, less):choice>/<token>", choice_page, ["GET", "POST"])]
