"""Reading reference libraries: BibTeX, RIS and Zotero CSV exports, real and hostile."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from digest import library
from digest.library import LibraryError, read_library

LIBRARY = Path(__file__).resolve().parent / "fixtures" / "library"
BIB_IDS = ["2604.21952", "2604.21953", "2604.21956", "2604.22027", "2604.21935", "2604.22038", "2411.17730",
           "2411.17708", "2411.17720"]


def test_a_bibtex_file_mixing_every_common_exporter_reads_ids_titles_abstracts_and_authors():
    lib = read_library(LIBRARY / "library.bib")
    assert (lib.format, len(lib.entries), lib.by_arxiv_id, lib.untitled) == ("BibTeX", 12, 9, 2)
    assert [e.arxiv_id for e in lib.entries if e.arxiv_id] == BIB_IDS
    by_id = {e.arxiv_id: e for e in lib.entries}
    assert by_id["2604.21952"].title == ("Focus Session: Hardware and Software Techniques for Accelerating "
                                          "Multimodal Foundation Models")
    assert by_id["2604.21952"].abstract.startswith("This work presents a multi-layered methodology")
    assert by_id["2604.21952"].authors[:2] == ("Muhammad Shafique", "Abdul Basit")
    assert by_id["2604.22038"].authors == ("Etha Tianze Hua", "Tian Yun", "Ellie Pavlick")  # DBLP's "First Last"
    assert by_id["2411.17730"].title.startswith("Almost sure well-posedness and orbital stability for Schrödinger")
    assert by_id["2411.17730"].categories == ("math.AP",) and by_id["2604.22027"].categories == ("cs.CL",)
    assert by_id["2411.17708"].title == "Towards Efficient Neurally-Guided Program Induction for ARC-AGI"
    titles = [e.title for e in lib.entries if not e.arxiv_id]
    assert titles == ["SpatioCell: A Deep Learning Algorithm for High-resolution Single-cell Mapping through Deep "
                      "Integration of Histology Image and Sequencing Data",
                      "Dynamic brain connectivity predicts emotional arousal during naturalistic movie-watching",
                      "Deep Learning"]


def test_a_zotero_ris_export_with_crlf_and_a_dblp_record():
    lib = read_library(LIBRARY / "library.ris")
    assert (lib.format, len(lib.entries), lib.by_arxiv_id, lib.untitled) == ("RIS", 5, 3, 1)
    assert [e.arxiv_id for e in lib.entries] == ["2604.21956", "2604.22027", "2604.22038", None, None]
    first = lib.entries[0]
    assert first.authors[0] == "Michal Valko" and first.abstract.startswith("Timely detection of concerning events")
    assert lib.entries[3].title.startswith("SpatioCell") and "\r" not in lib.entries[3].title


def test_a_zotero_csv_export():
    lib = read_library(LIBRARY / "library-zotero.csv")
    assert (lib.format, len(lib.entries), lib.by_arxiv_id, lib.untitled) == ("Zotero CSV", 4, 3, 1)
    assert [e.arxiv_id for e in lib.entries] == ["2604.21952", "2604.21935", "2411.17730", None]
    assert lib.entries[2].title == "Almost sure well-posedness and orbital stability for Schrödinger equation with potential"
    assert lib.entries[1].authors == ("Michael Cooper", "Samuel Cooper")


def test_a_real_zotero_export_finds_arxiv_ids_where_ads_puts_them():
    lib = read_library(LIBRARY / "real-zotero-export-excerpt.csv")
    assert (lib.format, len(lib.entries), lib.untitled) == ("Zotero CSV", 7, 0)
    assert {e.title.split(":")[0].split(",")[0]: e.arxiv_id for e in lib.entries} == {
        "WebPlotDigitizer": "1708.02025",      # in "Pages": arXiv:1708.02025
        "Principles of high-dimensional data visualization in astronomy": None,
        "TOPCAT": "1707.02160",                # in "Pages"
        "Computer Programs for CCD Photometry": None,
        "AutoCal": None,
        "EzGal": None,
        "PICACS": "1212.0858",                 # in "Url" and "Publication Title"
    }
    hroch = next(e for e in lib.entries if e.title.startswith("Computer Programs"))
    assert hroch.abstract == "" and hroch.authors == ("F. Hroch",)  # ADS's "Not Available" is no abstract
    assert next(e for e in lib.entries if e.title.startswith("AutoCal")).authors == ("Daniël J. Wium",
                                                                                     "Brian van Soelen")


@pytest.mark.parametrize("source, as_name", [("library.bib", "export.txt"), ("library.ris", "library.bib"),
                                             ("library-zotero.csv", "My Library")])
def test_the_format_is_told_by_the_content_not_the_name(tmp_path, source, as_name):
    shutil.copy(LIBRARY / source, tmp_path / as_name)
    assert read_library(tmp_path / as_name).entries == read_library(LIBRARY / source).entries


def one_line_error(path, *words) -> str:
    with pytest.raises(LibraryError) as caught:
        read_library(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(Path(path).name + ": "), message
    assert all(w in message for w in words), message
    return message


@pytest.mark.parametrize("name, data, words", [
    ("empty.bib", b"", ["the file is empty"]),
    ("blank.ris", b"  \n\r\n\t\n", ["the file is empty"]),
    ("picture.bib", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 40, ["not a text file"]),
    ("nul.csv", b'"Key","Title"\n"A","B\x00C"\n', ["not a text file"]),
    ("notes.txt", b"Papers to read:\n- attention is all you need\n", ["not a BibTeX, RIS or Zotero CSV export"]),
    ("unclosed.bib", b"@article{a,\n  title = {Fine},\n}\n\n@article{b,\n  title = {Unclosed,\n  year = 2020\n",
     ["malformed BibTeX at line 5", "@article{b"]),
    ("unended.ris", b"TY  - JOUR\nTI  - One\nER  - \nTY  - JOUR\nTI  - Two\n", ["record at line 4 has no 'ER  -' end"]),
    ("stray-end.ris", b"TY  - JOUR\nTI  - One\nER  - \nER  - \n", ["'ER  -' at line 4 ends no record"]),
    ("quote.csv", b'"Key","Item Type","Title"\n"A","journalArticle","' + b"x" * 200_000 + b"\n",
     ["malformed CSV"]),
])
def test_a_broken_file_is_one_clear_error(tmp_path, name, data, words):
    (tmp_path / name).write_bytes(data)
    one_line_error(tmp_path / name, *words)


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path):
    huge = tmp_path / "everything.bib"
    with huge.open("wb") as handle:
        handle.write((LIBRARY / "library.bib").read_bytes())
        handle.truncate(library.MAX_LIBRARY_BYTES + 1)  # sparse: no need to write 8 MB
    one_line_error(huge, "larger than 8 MB")


def test_an_endless_stream_is_read_only_up_to_the_cap(tmp_path):
    fifo = tmp_path / "pipe.bib"
    os.mkfifo(fifo)
    pid = os.fork()
    if pid == 0:  # the writer: more than the cap, then as much as the reader takes
        try:
            with open(fifo, "wb") as handle:
                while True:
                    handle.write(b"@misc{x, title={y}}\n" * 4096)
        finally:
            os._exit(0)
    try:
        one_line_error(fifo, "larger than 8 MB")
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def test_more_entries_than_one_import_takes_is_refused(tmp_path):
    many = "".join(f"TY  - JOUR\nTI  - Paper number {n}\nER  - \n" for n in range(library.MAX_LIBRARY_ENTRIES + 1))
    (tmp_path / "many.ris").write_text(many)
    one_line_error(tmp_path / "many.ris", f"{library.MAX_LIBRARY_ENTRIES + 1} entries", "at most")


def test_a_folder_or_a_missing_file_is_one_clear_error(tmp_path):
    one_line_error(tmp_path, "is a folder")
    one_line_error(tmp_path / "missing.bib", "cannot read it", "No such file")


def test_a_windows_1252_bibtex_file_reads(tmp_path):
    (tmp_path / "old.bib").write_bytes("@article{a, title = {Caf\u00e9 society}, author = {M\u00fcller, J.}}\n"
                                       .encode("cp1252"))
    (entry,) = read_library(tmp_path / "old.bib").entries
    assert (entry.title, entry.authors) == ("Café society", ("J. Müller",))


def test_the_same_work_twice_counts_once_and_eprints_of_other_archives_are_not_arxiv_ids():
    text = ("@misc{a, title={One}, eprint={2411.17730}, archiveprefix={arXiv}}\n"
            "@misc{b, title={One again}, url={https://arxiv.org/abs/2411.17730v2}}\n"
            "@misc{c, title={Not arXiv}, eprint={2411.17731}, eprinttype={pubmed}}\n"
            "@misc{a, title={Same key, other paper}}\n")
    lib = library.parse_library(text, "x.bib")
    assert [(e.arxiv_id, e.title) for e in lib.entries] == [("2411.17730", "One"), (None, "Not arXiv"),
                                                            (None, "Same key, other paper")]
