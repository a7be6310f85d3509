"""The outbox sender: each message as `<edition>/<address>.eml` (plus an HTML view) and an index.html."""

from __future__ import annotations

import hashlib
import html
import os
import re
import tempfile
from email import message_from_bytes, policy
from pathlib import Path

from digest.delivery.errors import SenderUnavailable


class OutboxSender:
    """Writes `<edition>/<address>.eml` files and an index.html that links them."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.written: list[Path] = []

    def _unavailable(self, exc: OSError) -> SenderUnavailable:
        why = "it is a file" if self.folder.is_file() else exc.strerror or str(exc)
        return SenderUnavailable(f"DIGEST_OUTBOX_DIR={self.folder} is not a writable folder ({why}): "
                                 "point it at one, or set DIGEST_SMTP_URL to send by SMTP")

    def check(self) -> None:
        """The folder exists (or can be made) and takes a file."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.folder, prefix=".check-"):
                pass
        except OSError as exc:
            raise self._unavailable(exc) from None

    def send(self, sender: str, recipient: str, data: bytes) -> str:
        try:
            return self._write(recipient, data)
        except OSError as exc:  # the folder went away or filled up: nothing was written for this message
            raise self._unavailable(exc) from None

    def _write(self, recipient: str, data: bytes) -> str:
        msg = message_from_bytes(data, policy=policy.default)
        edition = re.sub(r"[^0-9-]", "", msg.get("X-Digest-Edition", "")) or "messages"
        folder = self.folder / edition
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".tmp-", suffix=".eml", delete=False) as tmp:
            tmp.write(data)
        try:
            path = _claim(folder, outbox_stem(recipient), Path(tmp.name))
        finally:
            Path(tmp.name).unlink(missing_ok=True)
        part = msg.get_body(preferencelist=("html",))
        if part is not None:
            try:
                with path.with_suffix(".html").open("x", encoding="utf-8") as fh:
                    fh.write(part.get_content())
            except FileExistsError:  # never overwrite; the .eml is the message itself
                pass
        self.written.append(path)
        return f"written to {path}"

    def close(self) -> None:
        if self.written:
            try:
                write_outbox_index(self.folder)
            except OSError as exc:
                raise self._unavailable(exc) from None
            self.written = []


def outbox_stem(recipient: str) -> str:
    """A readable file name stem plus a short hash of the exact address: `x_y@example.org-3f2a9c1b`.

    The readable part alone collides (`x/y@` and `x_y@`, or names that differ
    only in case on a case-insensitive disk); the hash does not.
    """
    readable = re.sub(r"[^A-Za-z0-9@._+-]", "_", recipient)[:80].lstrip(".") or "_"
    return f"{readable}-{hashlib.sha256(recipient.encode()).hexdigest()[:10]}"


def _claim(folder: Path, stem: str, tmp: Path) -> Path:
    """Publish `tmp` under the first free `<stem>[-n].eml`, never replacing a file.

    A hard link is atomic and fails if the name exists, so a reader never sees
    half a message and a second message to one address gets a new name.
    """
    for n in range(1, 10_000):
        path = folder / (f"{stem}.eml" if n == 1 else f"{stem}-{n}.eml")
        try:
            os.link(tmp, path)
        except FileExistsError:
            continue
        except OSError:  # a disk without hard links: an exclusive create, not atomic but never overwriting
            try:
                with path.open("xb") as fh:
                    fh.write(tmp.read_bytes())
            except FileExistsError:
                continue
        return path
    raise OSError(f"no free file name for {stem} in {folder}")


def write_outbox_index(folder: Path) -> Path:
    """index.html linking every .eml (and its HTML view), newest edition first."""
    rows = []
    for path in sorted(folder.glob("*/*.eml"), key=lambda p: (p.parent.name, p.name), reverse=True):
        with path.open("rb") as fh:
            head = fh.read(8192).split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        to, subject = _index_headers(head)
        rel = path.relative_to(folder).as_posix()
        view = path.with_suffix(".html")
        rows.append(
            "<tr><td>{e}</td><td>{to}</td><td>{subj}</td><td><a href=\"{rel}\">.eml</a>{view}</td></tr>".format(
                e=html.escape(path.parent.name), to=html.escape(to), subj=html.escape(subject), rel=html.escape(rel),
                view=f' · <a href="{html.escape(view.relative_to(folder).as_posix())}">view</a>' if view.exists() else "",
            )
        )
    index = folder / "index.html"
    index.write_text(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>digest outbox</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 12px;text-align:left}</style></head>"
        f"<body><h1>digest outbox</h1><p>{len(rows)} message(s)</p><table><tr><th>Edition</th><th>To</th>"
        "<th>Subject</th><th>Files</th></tr>" + "".join(rows) + "</table></body></html>",
        encoding="utf-8",
    )
    return index


def _index_headers(head: bytes) -> tuple[str, str]:
    """To and Subject of one outbox file for the index; a header the parser rejects is shown raw."""
    try:
        msg = message_from_bytes(head, policy=policy.default)
        values = [str(msg.get(name, "")) for name in ("To", "Subject")]
    except (ValueError, TypeError, IndexError, LookupError):  # as stored, undecoded: one bad file must not stop the index
        msg = message_from_bytes(head, policy=policy.compat32)
        values = [str(msg.get(name, "")) for name in ("To", "Subject")]
    return " ".join(values[0].split()), " ".join(values[1].split())
