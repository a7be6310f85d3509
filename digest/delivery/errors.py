"""What a sender raises: `TransientError` (try again later), `PermanentError` (do not), `SenderUnavailable`.

Both delivery errors carry the relay's reply and who it blames (`classify_reply`).
"""

from __future__ import annotations

from digest.email.replies import TRANSIENT, ReplyClass, classify_reply


class DeliveryError(Exception):
    def __init__(self, message: str, code: int | None = None, reply_class: ReplyClass | None = None):
        super().__init__(message)
        self.code = code
        self.reply_class = reply_class or classify_reply(code, message)


class TransientError(DeliveryError):
    """Try again later: a 4xx reply, a dropped connection, a timeout, or a relay we cannot reach.

    `maybe_delivered`: the connection dropped or timed out after the end of
    DATA, so the relay may have queued the message; a resend may duplicate it
    (the stable Message-ID lets the receiving side drop the copy).
    """

    def __init__(self, message: str, code: int | None = None, maybe_delivered: bool = False,
                 session: bool = False):
        super().__init__(message, code, ReplyClass(TRANSIENT, classify_reply(code, message).status))
        self.maybe_delivered = maybe_delivered
        self.session = session  # connect/TLS/AUTH failed, or never tried: the message never left


class PermanentError(DeliveryError):
    """Do not try again: a 5xx reply to this recipient or this message; the message is the relay's reply."""

    @property
    def enhanced_status(self) -> str | None:
        """The RFC 3463 code at the start of the reply text (`5.1.1`), if the relay gave one."""
        return self.reply_class.status

    @property
    def no_such_user(self) -> bool:
        """5.1.1/5.1.10, or a reply without a telling code that says the user is unknown."""
        return self.reply_class.no_such_user


class SenderUnavailable(Exception):
    """The sender cannot work at all (its setting is wrong); the message names the setting."""
