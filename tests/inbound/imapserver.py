"""A real Dovecot IMAP server on loopback for the tests and the bench (Debian's dovecot-imapd; .ci/run installs it)."""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers import free_port
from procs import Proc, wait_until

DOVECOT_CONF = """
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{tmp}/mail/%u
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = static
  args = password=secret
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={tmp}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


@contextmanager
def dovecot_server() -> Iterator[int]:
    """Dovecot listening on 127.0.0.1 (user `digest`, any user's password `secret`); yields its port."""
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    assert Path(binary).exists(), "dovecot is not installed: apt-get install dovecot-imapd (.ci/run does)"
    user = pwd.getpwnam("dovecot")
    # Dovecot's mail processes run as its own user: the folder must be reachable by it (pytest's are 0700).
    home = Path(tempfile.mkdtemp(prefix="digest-dovecot-"))
    home.chmod(0o755)
    (home / "mail").mkdir()
    os.chown(home / "mail", user.pw_uid, user.pw_gid)
    port = free_port()
    conf = home / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(tmp=home, port=port, uid=user.pw_uid, gid=user.pw_gid))
    proc = Proc([binary, "-F", "-c", str(conf)], {}, home / "stdout.log")
    try:
        wait_until(lambda: _imap_up(port), 30, what="dovecot listening")
        yield port
    finally:
        proc.stop()
        shutil.rmtree(home, ignore_errors=True)


def _imap_up(port):
    try:
        imaplib.IMAP4("127.0.0.1", port, timeout=2).logout()
        return True
    except OSError:
        return False
