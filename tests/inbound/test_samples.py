"""Every collected real bounce, complaint and auto-reply (tests/fixtures/bounces, see PROVENANCE.md) is read.

The sisimai samples carry sisimai's own expectations (its test suite's reason
and hard-bounce flag per recipient). Our rule differs on purpose in two ways,
each sample listed with why: we suppress at once only on a permanent 5.1.x or
"no such user" wording, so some of sisimai's hard bounces only count (their
code says policy, routing, or nothing we can read); and a few of sisimai's soft
reasons are reports whose own words say the mailbox does not exist.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from digest.inbound.classify import blame_of, classify
from digest.inbound.mime import read_mail

BOUNCES = Path(__file__).resolve().parents[1] / "fixtures" / "bounces"
SISIMAI = json.loads((BOUNCES / "sisimai" / "sisimai-expected.json").read_text())["samples"]
CAP = 10 * 1024 * 1024
# Not read as what sisimai calls them, and why.
OTHER_KIND = {
    **dict.fromkeys([f"lhost-amazonses-{n:02d}" for n in (9, 10, 11, 12, 13)],
                    ("reply", "an Amazon SES JSON notification: kept for the operator, not read")),
    **dict.fromkeys(["lhost-opensmtpd-04", "lhost-opensmtpd-12"],
                    ("delay", "'only a temporary failure report': the message is still queued")),
    "arf-26": ("unsubscribe", "iCloud's List-Unsubscribe mailto: an unsubscribe by mail, not a complaint"),
}
# sisimai: not a hard bounce; we suppress at once, because the report's own words say the address is gone.
SUPPRESSED_ON_THE_REPORTS_WORDS = {
    "lhost-courier-02": "550 Unknown user", "lhost-postfix-03": "550 Unknown user",
    "lhost-postfix-07": "User unknown", "lhost-yahoo-06": "User unknown", "lhost-zoho-03": "mailbox unavailable",
    "rfc3464-35": "550 user unknown", "rfc3464-42": "does not exist", "rfc3464-01": "User Unknown",
    "lhost-office365-04": "unknown recipient", "lhost-postfix-01": "No such user",
    "lhost-exim-51": "does not exist",  # 553 5.1.0: sisimai reads the domain as the sender's ('rejected')
}


def _read(path: Path):
    return read_mail(path.read_bytes(), CAP)


def _expected_kind(name: str) -> str:
    family = name.rsplit("-", 1)[0]
    return OTHER_KIND.get(name, ("complaint" if family == "arf" else "autoreply" if family == "rfc3834"
                                 else "bounce",))[0]


@pytest.mark.parametrize("name", sorted(SISIMAI))
def test_every_sisimai_sample_is_read_as_what_it_is(name):
    verdict = classify(_read(BOUNCES / "sisimai" / f"{name}.eml"), "digest@example.org")
    expected = _expected_kind(name)
    theirs = SISIMAI[name]
    if expected == "bounce" and all(r["reason"] in ("delivered", "expired", "onhold") or r["status"].startswith("4")
                                    for r in theirs):
        assert verdict.kind in ("bounce", "delay"), verdict
    else:
        assert verdict.kind == expected, verdict
    if verdict.kind == "complaint":
        assert verdict.complaint.feedback_type == (theirs[0].get("feedback") or "abuse")
    if verdict.kind != "bounce":
        return
    hard = [blame_of(f) for f in verdict.failures if f.action == "failed" and blame_of(f).hard]
    for found in hard:  # at once only on a permanent 5.1.x, or wording that says no such mailbox
        failure = next(f for f in verdict.failures if blame_of(f) is found or blame_of(f) == found)
        assert (found.status or "5.1").startswith(("5.1", "5.0")) or re.search(
            r"unknown|does not exist|no such|unavailable", failure.diagnostic, re.I), (name, failure)
    if hard and not any(r["hard"] for r in theirs):
        assert name in SUPPRESSED_ON_THE_REPORTS_WORDS, (name, verdict.failures)
        words = SUPPRESSED_ON_THE_REPORTS_WORDS[name]
        assert any(words.lower() in f.diagnostic.lower() for f in verdict.failures), (name, verdict.failures)


def test_most_of_sisimais_hard_bounces_suppress_at_once_and_none_of_ours_is_unexplained():
    hard_theirs = hard_both = 0
    for name, theirs in SISIMAI.items():
        if not any(r["hard"] for r in theirs):
            continue
        hard_theirs += 1
        verdict = classify(_read(BOUNCES / "sisimai" / f"{name}.eml"), "digest@example.org")
        hard_both += any(blame_of(f).hard for f in verdict.failures if f.action == "failed")
    assert hard_theirs >= 90
    assert hard_both / hard_theirs >= 0.6  # the rest count toward the threshold or blame no one: never the reverse


def test_policy_bounces_never_blame_the_reader():
    for name in ("lhost-exim-01", "lhost-exim-03", "lhost-gmail-04", "lhost-office365-03", "lhost-amazonses-01"):
        verdict = classify(_read(BOUNCES / "sisimai" / f"{name}.eml"), "digest@example.org")
        assert verdict.kind == "bounce"
        assert {blame_of(f).blame for f in verdict.failures} == {"sender"}, (name, verdict.failures)


BOUNCE_EMAIL = sorted((BOUNCES / "bounce_email" / "bounces").glob("*.txt"))
# bounce_email's tests name these codes: 5.1.2 no such domain (suppress at once), 5.7.1 a blocklist and 5.3.2
# a system not taking mail (ours, the reader is not blamed), 4.0.0 a delay, 5.1.1 no such user.
BOUNCE_EMAIL_CODES = {"tt_bounce_01": "5.1.2", "tt_bounce_02": "5.1.2", "tt_bounce_06": "5.7.1",
                      "tt_bounce_08": "5.3.2", "tt_bounce_09": "5.3.2", "tt_bounce_10": "4.0.0",
                      "malformed_bounce_01": "5.1.1"}


@pytest.mark.parametrize("path", BOUNCE_EMAIL, ids=lambda p: p.stem)
def test_every_bounce_email_bounce_is_a_bounce(path):
    verdict = classify(_read(path), "digest@example.org")
    assert verdict.kind in ("bounce", "delay"), verdict
    code = BOUNCE_EMAIL_CODES.get(path.stem)
    blames = {(blame_of(f).blame, blame_of(f).hard) for f in verdict.failures if f.action == "failed"}
    if code and code.startswith("5.1"):
        assert blames == {("recipient", True)}, verdict.failures
    elif code and code.startswith(("5.7", "5.3")):  # never the reader's fault (a timeout reads as unclassified)
        assert blames and blames <= {("sender", False), ("unknown", False)}, verdict.failures
    elif code:
        assert verdict.kind == "delay" or blames <= {("recipient", False), ("unknown", False)}, verdict.failures


@pytest.mark.parametrize("path", sorted((BOUNCES / "bounce_email" / "non_bounces").glob("*.txt")), ids=lambda p: p.stem)
def test_bounce_email_non_bounces_are_not_bounces(path):
    verdict = classify(_read(path), "digest@example.org")
    assert verdict.kind not in ("bounce", "delay"), verdict


def test_addresses_read_without_getaddresses_are_the_ones_getaddresses_reads():
    """mime.addresses reads a plain `Name <address>` itself; over every address header of the samples (and the odd
    forms beside them) it finds exactly what email.utils.getaddresses finds."""
    import email
    from email.utils import getaddresses

    from digest.inbound.mime import _ADDRESS, addresses, header_text

    values = {"J. Smith <j@x.org>", "'Ada' <a@b.c>", "a@b.c (Ada)", "x <a@b.c>, y <d@e.f>", "Ada<a@b.c>", "a @b.c",
              "Ada  Lovelace   <A@B.C>", "Ada <a@b..c>", '"Ada, L." <a@b.c>'}
    for path in sorted(BOUNCES.rglob("*.eml")):
        for part in email.message_from_bytes(path.read_bytes()).walk():
            for name in ("From", "To", "Delivered-To", "X-Original-To", "Cc", "Reply-To", "Return-Path"):
                values.update(str(v) for v in part.get_all(name) or [])
    assert len(values) > 300
    for value in values:
        expected = []
        for _, address in getaddresses([header_text(value)]):
            address = address.strip().strip("<>").lower()
            if _ADDRESS.fullmatch(address) and address not in expected:
                expected.append(address)
        assert addresses([value]) == expected, value
