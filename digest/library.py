"""A reader's reference library as liked papers: BibTeX, RIS or a Zotero CSV export, read into plain entries.

Pure apart from reading the one file (no database). The format is told by the content, not the file's
name: an export saved as .txt reads, and a picture named .bib is refused. Each entry is named by its
arXiv id where the file has one anywhere usual (eprint / arxivid fields, an arXiv DOI
10.48550/arXiv.X, an arxiv.org link, "arXiv:X" in a journal, number, note or Zotero's Extra), else by
its title, with its abstract and authors. A file that cannot be read as a whole (empty, binary, too
large, malformed) is a LibraryError, one line, and nothing of it is used.

Parsing leans on two small, well-kept libraries: bibtexparser (BibTeX's nesting, @string macros,
LaTeX accents and name lists) and rispy (RIS tags and their many aliases); Zotero's CSV is read with
the standard csv module.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from digest.latex import readable
from digest.sources.keys import find_arxiv_id
from digest.sources.text import clean_text, normalise_title

MAX_LIBRARY_BYTES = 8 * 1024 * 1024   # a 5,000-item Zotero export with abstracts is about 10 MB
MAX_LIBRARY_ENTRIES = 2000            # liked papers taken from one file
FORMATS = ("BibTeX", "RIS", "Zotero CSV")

# Fields searched for the entry's own arXiv id, most specific first; the abstract and the title never
# are (they cite other papers).
_BIBTEX_ID_FIELDS = ("eprint", "arxivid", "arxiv", "arxiv_id", "doi", "url", "number", "eid", "journal",
                     "journaltitle", "volume", "pages", "note", "howpublished", "archive_location")
_RIS_ID_FIELDS = ("doi", "urls", "notes", "number", "volume", "journal_name", "secondary_title", "id",
                  "accession_number", "start_page", "label", "call_number")
_CSV_ID_FIELDS = ("DOI", "Url", "Extra", "Archive ID", "Number", "Report Number", "Publication Title", "Pages",
                  "Journal Abbreviation", "Archive Location", "Call Number", "Volume", "Series")


class LibraryError(ValueError):
    """The file cannot be used as a whole; the message is one line that names it."""


@dataclass(frozen=True)
class LibraryEntry:
    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    arxiv_id: str | None = None

    @property
    def ident(self) -> str:
        return f"arxiv:{self.arxiv_id}" if self.arxiv_id else "title:" + (normalise_title(self.title) or self.title)


@dataclass
class Library:
    """What a file held: its format, its usable entries (each work once), and how many had neither id nor title."""

    name: str
    format: str
    entries: list[LibraryEntry] = field(default_factory=list)
    untitled: int = 0

    @property
    def by_arxiv_id(self) -> int:
        return sum(1 for e in self.entries if e.arxiv_id)


def read_library(path: str | Path) -> Library:
    """Read one export file; LibraryError (one line) if it is not a library this can use."""
    path = Path(path)
    name = path.name
    try:
        if path.is_dir():
            raise LibraryError(f"{name}: is a folder, not a library file")
        with path.open("rb") as handle:
            data = handle.read(MAX_LIBRARY_BYTES + 1)  # a FIFO or /dev/zero cannot make this read forever
    except OSError as exc:
        raise LibraryError(f"{name}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_LIBRARY_BYTES:
        raise LibraryError(f"{name}: larger than {MAX_LIBRARY_BYTES // (1024 * 1024)} MB; export a collection "
                           "instead of the whole library")
    return parse_library(_decode(data, name), name)


def _decode(data: bytes, name: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        data = data.decode("utf-16", "replace").encode()
    if not data.strip():
        raise LibraryError(f"{name}: the file is empty")
    for encoding in ("utf-8-sig", "cp1252"):  # old BibTeX files are often Windows-1252
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise LibraryError(f"{name}: not a text file (expected a BibTeX, RIS or Zotero CSV export)")
    controls = sum(1 for c in text[:65536] if c < " " and c not in "\t\r\n\f")
    if "\x00" in text or controls > len(text[:65536]) // 100:
        raise LibraryError(f"{name}: not a text file (expected a BibTeX, RIS or Zotero CSV export)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_library(text: str, name: str = "library") -> Library:
    """Entries of a BibTeX, RIS or Zotero CSV text (told by its content), each work once."""
    kind = detect_format(text)
    if kind is None:
        raise LibraryError(f"{name}: not a BibTeX, RIS or Zotero CSV export (no entry found)")
    raw = {"BibTeX": _bibtex, "RIS": _ris, "Zotero CSV": _zotero_csv}[kind](text, name)
    library = Library(name, kind)
    seen: set[str] = set()
    for entry in raw:
        if not entry.title and not entry.arxiv_id:
            library.untitled += 1
        elif entry.ident not in seen:
            seen.add(entry.ident)
            library.entries.append(entry)
    _check_count(len(library.entries), name)
    return library


def _check_count(count: int, name: str) -> None:
    if count > MAX_LIBRARY_ENTRIES:
        raise LibraryError(f"{name}: {count} entries, at most {MAX_LIBRARY_ENTRIES} can be imported at once; "
                           "export a collection instead of the whole library")


def detect_format(text: str) -> str | None:
    first = next((line for line in text.split("\n") if line.strip()), "")
    if re.match(r"\s*TY  - ", first):
        return "RIS"
    header = next(csv.reader([first]), [])
    if "Title" in header and {"Item Type", "Key", "Author"} & set(header):
        return "Zotero CSV"
    if re.search(r"^\s*@\s*[A-Za-z]+\s*[{(]", text, re.M):
        return "BibTeX"
    return None


def _arxiv_id(values) -> str | None:
    """The first arXiv id among the values (strings or lists of strings), in order."""
    for value in values:
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and (found := find_arxiv_id(text.strip()[:2000])):
                return found[0]
    return None


def _person(name: str) -> str:
    """'Last, First' -> 'First Last' (how papers list their authors); other forms as they are."""
    last, comma, first = name.partition(",")
    return clean_text(f"{first} {last}" if comma and first.strip() else name)


def _entry(title, abstract, authors, arxiv_id, categories=()) -> LibraryEntry:
    abstract = clean_text(abstract)
    if abstract.lower() in ("not available", "n/a", "no abstract available"):  # NASA ADS and others' placeholders
        abstract = ""
    return LibraryEntry(clean_text(title)[:1000], abstract[:10000], tuple(a for a in authors if a)[:100],
                        tuple(categories), arxiv_id)


def _bibtex(text: str, name: str) -> list[LibraryEntry]:
    import bibtexparser
    from bibtexparser import middlewares
    from bibtexparser.model import DuplicateBlockKeyBlock

    logging.getLogger("bibtexparser").setLevel(logging.CRITICAL)
    # LaTeX is decoded only in the fields kept, and only where there is any (latex.readable is cheap on plain
    # text): bibtexparser's own LaTeX middleware runs pylatexenc on every field, 5 ms an entry.
    stack = [middlewares.SeparateCoAuthors(), middlewares.SplitNameParts(), middlewares.MergeNameParts(style="first")]
    try:
        parsed = bibtexparser.parse_string(text, append_middleware=stack)
        broken = [b for b in parsed.failed_blocks if not isinstance(b, DuplicateBlockKeyBlock)]
        # Two entries under one key (a hand-kept file): both are papers; the second is read on its own.
        entries = parsed.entries + [entry for b in parsed.failed_blocks if isinstance(b, DuplicateBlockKeyBlock)
                                    for entry in bibtexparser.parse_string(b.raw, append_middleware=stack).entries]
    except Exception as exc:  # noqa: BLE001 - any failure of the parser means the file is malformed
        raise LibraryError(f"{name}: malformed BibTeX ({type(exc).__name__})") from None
    if broken:
        raise LibraryError(f"{name}: malformed BibTeX at line {broken[0].start_line + 1}: "
                           f"{broken[0].raw.strip().splitlines()[0][:60]!r}")
    _check_count(len(entries), name)
    out = []
    for entry in entries:
        fields = {key.lower(): f.value for key, f in entry.fields_dict.items()}
        prefix = str(fields.get("archiveprefix") or fields.get("eprinttype") or "arxiv").lower()
        ids = [fields.get(k) for k in _BIBTEX_ID_FIELDS if k != "eprint" or prefix == "arxiv"]
        authors = fields.get("author") or []
        authors = [_unlatex(str(a)) for a in (authors if isinstance(authors, list) else [authors])]
        out.append(_entry(_unlatex(str(fields.get("title") or "")), _unlatex(str(fields.get("abstract") or "")),
                          authors, _arxiv_id(ids), _categories(fields.get("primaryclass") or fields.get("eprintclass"))))
    return out


def _unlatex(value: str) -> str:
    """BibTeX field text as plain Unicode: LaTeX accents and math made readable, case-protecting braces gone."""
    return readable(value).replace("{", "").replace("}", "")


def _categories(value) -> tuple[str, ...]:
    from digest.arxiv_categories import UnknownCategory, canonical_category

    try:
        return (canonical_category(str(value).strip()),) if value else ()
    except UnknownCategory:
        return ()


def _ris(text: str, name: str) -> list[LibraryEntry]:
    import rispy

    _check_ris_records(text, name)
    try:
        records = rispy.loads(text, skip_unknown_tags=True)
    except Exception as exc:  # noqa: BLE001 - any failure of the parser means the file is malformed
        raise LibraryError(f"{name}: malformed RIS ({type(exc).__name__})") from None
    out = []
    for record in records:
        title = record.get("title") or record.get("primary_title") or record.get("short_title") or ""
        abstract = record.get("abstract") or record.get("notes_abstract") or ""
        authors = [_person(a) for a in (record.get("authors") or []) + (record.get("first_authors") or [])]
        out.append(_entry(str(title), str(abstract), authors, _arxiv_id(record.get(k) for k in _RIS_ID_FIELDS)))
    return out


def _check_ris_records(text: str, name: str) -> None:
    """Every record opened with 'TY  -' is closed with 'ER  -' (rispy drops an unclosed one without a word)."""
    opened = None
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith("TY  - "):
            if opened is not None:
                break
            opened = number
        elif line.startswith("ER  -"):
            if opened is None:
                raise LibraryError(f"{name}: malformed RIS: 'ER  -' at line {number} ends no record")
            opened = None
    if opened is not None:
        raise LibraryError(f"{name}: malformed RIS: the record at line {opened} has no 'ER  -' end")


def _zotero_csv(text: str, name: str) -> list[LibraryEntry]:
    out = []
    try:
        for row in csv.DictReader(io.StringIO(text)):
            authors = [_person(a) for a in (row.get("Author") or "").split(";") if a.strip()]
            out.append(_entry(row.get("Title") or "", row.get("Abstract Note") or "", authors,
                              _arxiv_id(row.get(k) for k in _CSV_ID_FIELDS)))
    except csv.Error as exc:
        raise LibraryError(f"{name}: malformed CSV: {exc}") from None
    return out
