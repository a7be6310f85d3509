"""The outbox sender: each message as `<edition>/<address>.eml` (plus an HTML view) and an index.html that
previews them, newest first (templates/outbox/index.html)."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from email import message_from_bytes, policy
from pathlib import Path

from digest.delivery.errors import SenderUnavailable
from digest.email.markup import environment
from digest.wording import plural


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


PREVIEWS = 200  # the newest messages shown with a preview; older ones are listed


def write_outbox_index(folder: Path) -> Path:
    """index.html: every message, newest first, grouped by edition; the newest with a text preview and their
    HTML view behind a "Preview" switch. A file that cannot be parsed is listed as its headers read."""
    files = sorted(folder.glob("*/*.eml"), key=_mtime, reverse=True)
    groups: dict[str, list[dict]] = {}
    for number, path in enumerate(files):
        view = path.with_suffix(".html")
        item = {"eml": path.relative_to(folder).as_posix(),
                "view": view.relative_to(folder).as_posix() if view.exists() else None,
                **_summary(path, preview=number < PREVIEWS)}
        name = path.parent.name
        groups.setdefault("Other messages" if name == "messages" else f"Edition {name}", []).append(item)
    index = folder / "index.html"
    page = environment().get_template("outbox/index.html").render(
        total=plural(len(files), "message"), groups=list(groups.items()))
    index.write_text(page, encoding="utf-8")
    return index


def _mtime(path: Path) -> tuple[float, str]:
    try:
        return path.stat().st_mtime, path.name
    except OSError:  # removed while the index is written
        return 0.0, path.name


def _summary(path: Path, preview: bool) -> dict:
    """To, Subject, Date and (for a preview) the text part's first lines; never raises on a bad file."""
    try:
        with path.open("rb") as fh:
            data = fh.read() if preview else fh.read(8192)
    except OSError:
        data = b""
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    to, subject, date = _index_headers(head)
    return {"to": to, "subject": subject, "date": date, "snippet": _snippet(data) if preview else None}


def _snippet(data: bytes) -> str:
    """The headline and the numbered paper titles of a digest, else the first lines of the text part."""
    try:
        part = message_from_bytes(data, policy=policy.default).get_body(preferencelist=("plain",))
        text = part.get_content() if part is not None else ""
    except (ValueError, TypeError, IndexError, LookupError, AttributeError):
        return ""
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not re.fullmatch(r"(?:[\w ]+: )?https?://\S+", line.strip())]
    titles = [line for line in lines if re.match(r"\d+\. ", line)]
    if not titles:
        return "\n".join(lines[:4])
    return "\n".join([lines[0], *titles[:5], *(["…"] if len(titles) > 5 else [])])


def _index_headers(head: bytes) -> tuple[str, str, str]:
    """To, Subject and Date of one outbox file for the index; a header the parser rejects is shown raw."""
    names = ("To", "Subject", "Date")
    try:
        msg = message_from_bytes(head, policy=policy.default)
        values = [str(msg.get(name, "")) for name in names]
    except (ValueError, TypeError, IndexError, LookupError):  # as stored, undecoded: one bad file must not stop the index
        msg = message_from_bytes(head, policy=policy.compat32)
        values = [str(msg.get(name, "")) for name in names]
    return tuple(" ".join(v.split()) for v in values)
