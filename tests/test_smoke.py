import datetime as dt

from digest.jobs import run_demo
from digest.delivery.senders import MemorySender

from helpers import SAMPLE


def test_demo_sends_one_digest_per_sample_subscriber(settings):
    now = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)
    sender = MemorySender()
    report = run_demo(settings, now, sender=sender)
    assert report.ingested[0].new == 158
    assert report.delivery.counts["sent"] == SAMPLE
    assert len(sender.sent) == SAMPLE
    again = run_demo(settings, now, sender=sender)
    assert again.delivery.counts["sent"] == 0
    assert len(sender.sent) == SAMPLE
