"""Digest parsing against the real seed and hf_daily digests, plus the damaged and odd inputs users will bring."""

from __future__ import annotations

import datetime
import gzip
import json
from pathlib import Path

import pytest

from semsearch.errors import DigestError
from semsearch.ingest.digest import (
    Digest,
    DigestPaper,
    find_digest_files,
    parse_digest_file,
    parse_digest_text,
    read_digests,
)
from semsearch.ingest.readers.sniff import NO_RECORDS
from tests.helpers import DIGEST_HEADER, hard_wrap

ABSTRACT_A = "We study alpha. " * 20
ABSTRACT_B = "We study beta in depth and report results. " * 8
ABSTRACT_C = "Gamma is measured on three benchmarks. " * 8


def _entries(digest: Digest) -> list[tuple[str, str, str | None]]:
    return [(paper.title, paper.abstract, paper.date) for paper in digest.papers]


def _raises(text: str, name: str = "digest.txt", **kwargs) -> DigestError:
    with pytest.raises(DigestError) as caught:
        parse_digest_text(text, name, **kwargs)
    return caught.value


@pytest.fixture(scope="module")
def manifest(hf_daily: Path) -> list[dict]:
    with open(hf_daily / "manifest.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


# -- the real seed digest ------------------------------------------------------------------------------------------


def test_seed_digest_has_63_papers_dated_may_6_without_a_year(seed_digest: Path) -> None:
    digest = parse_digest_file(seed_digest)
    assert digest.source == str(seed_digest)
    assert len(digest.papers) == 63
    assert digest.dates == ("--05-06",)
    assert {paper.date for paper in digest.papers} == {"--05-06"}
    lines = seed_digest.read_text(encoding="utf-8").splitlines()
    for paper in digest.papers:
        assert paper.abstract and "\n" not in paper.abstract
        assert paper.title and "\n" not in paper.title
        assert lines[paper.line - 1].strip() == paper.title  # line is the 1-based line of the title
        assert paper.source == str(seed_digest) and paper.arxiv_id is None
    titles = [paper.title for paper in digest.papers]
    assert titles[0].startswith("Sinhala-English Word Embedding Alignment")
    assert (
        "IndicTrans2: Towards High-Quality and Accessible Machine Translation Models for all 22 Scheduled Indian "
        "Languages" in titles
    )
    # TeX is kept exactly as written.
    assert (
        "PanGu-$α$: Large-scale Autoregressive Pretrained Chinese Language Models with Auto-parallel Computation"
        in titles
    )
    indic = digest.papers[titles.index(next(t for t in titles if t.startswith("IndicTrans2")))]
    assert indic.abstract.startswith("India has a rich linguistic landscape")


def test_seed_digest_takes_the_year_from_the_default_date(seed_digest: Path) -> None:
    digest = parse_digest_file(seed_digest, default_date=datetime.date(2024, 1, 1))
    assert digest.dates == ("2024-05-06",)
    assert {paper.date for paper in digest.papers} == {"2024-05-06"}


# -- the real hf_daily digests ---------------------------------------------------------------------------------------


def test_every_hf_daily_digest_matches_its_manifest(hf_daily: Path, manifest: list[dict]) -> None:
    assert len(manifest) == 274
    total = 0
    for entry in manifest:
        # The year comes from the file name even when a default date says otherwise.
        digest = parse_digest_file(hf_daily / entry["file"], default_date=datetime.date(1999, 1, 1))
        assert len(digest.papers) == entry["n_papers"], entry["file"]
        assert digest.dates == (entry["date"],), entry["file"]
        assert {paper.date for paper in digest.papers} == {entry["date"]}, entry["file"]
        total += len(digest.papers)
    assert total == 3506


def test_hf_daily_titles_and_abstracts_are_the_arxiv_text(hf_daily: Path, data_dir: Path, manifest: list[dict]) -> None:
    papers_file = data_dir / "arxiv" / "papers.jsonl.gz"
    if not papers_file.is_file():
        pytest.skip(f"{papers_file} is absent")
    wanted = {arxiv_id for entry in manifest for arxiv_id in entry["arxiv_ids"]}
    truth: dict[str, tuple[str, str]] = {}
    with gzip.open(papers_file, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["id"] in wanted:
                truth[record["id"]] = (" ".join(record["title"].split()), " ".join(record["abstract"].split()))
    digests = {Path(digest.source).name: digest for digest in read_digests([hf_daily / "digests"])}
    for entry in manifest:
        parsed = [(paper.title, paper.abstract) for paper in digests[Path(entry["file"]).name].papers]
        assert parsed == [truth[arxiv_id] for arxiv_id in entry["arxiv_ids"]], entry["file"]


def test_read_digests_on_the_hf_daily_folder_skips_manifest_and_notes(hf_daily: Path) -> None:
    files = find_digest_files([hf_daily])
    assert len(files) == 274
    assert all(file.suffix == ".txt" and file.parent.name == "digests" for file in files)
    assert files == sorted(files)
    digests = read_digests([hf_daily])
    assert [digest.source for digest in digests] == [str(file) for file in files]
    assert sum(len(digest.papers) for digest in digests) == 3506
    # The manifest is JSONL without papers: skipped, and said so once, on the folder's first digest.
    warnings = [warning for digest in digests for warning in digest.warnings]
    assert warnings == [f"{hf_daily / 'manifest.jsonl'}: {NO_RECORDS}; skipped"]
    assert digests[0].warnings == tuple(warnings)


# -- damaged layouts -------------------------------------------------------------------------------------------------


def test_crlf_bom_trailing_spaces_and_blank_runs_parse_the_same(seed_digest: Path, tmp_path: Path) -> None:
    clean = parse_digest_file(seed_digest)
    lines = seed_digest.read_text(encoding="utf-8").splitlines()
    messy = "\r\n".join(line + (" \t " if line else "\t") + ("\r\n \r\n" if not line else "") for line in lines)
    target = tmp_path / "messy.txt"
    target.write_bytes(b"\xef\xbb\xbf" + ("\r\n\r\n" + messy + "\r\n\r\n\r\n").encode("utf-8"))
    assert _entries(parse_digest_file(target)) == _entries(clean)

    lone_cr = tmp_path / "old-mac.txt"
    lone_cr.write_bytes("\r".join(lines).encode("utf-8"))
    parsed = parse_digest_file(lone_cr)
    assert _entries(parsed) == _entries(clean)
    assert [paper.line for paper in parsed.papers] == [paper.line for paper in clean.papers]

    as_text = parse_digest_text("\ufeff" + "\r\n".join(lines), "pasted")
    assert _entries(as_text) == _entries(clean)


def test_multi_line_abstract_and_lost_blank_line() -> None:
    wrapped = ABSTRACT_A.strip().replace("alpha. We", "alpha.\n   We", 3)
    text = (
        DIGEST_HEADER
        + f"May 6\n\nFirst Title\n\n{wrapped}\n\nSecond  Title\n{ABSTRACT_B}\n\n\n\nThird Title\n\n{ABSTRACT_C}\n"
    )
    digest = parse_digest_text(text, "x.txt")
    assert [paper.title for paper in digest.papers] == ["First Title", "Second Title", "Third Title"]
    assert digest.papers[0].abstract == " ".join(ABSTRACT_A.split())
    assert digest.papers[1].abstract == " ".join(ABSTRACT_B.split())
    assert [paper.line for paper in digest.papers] == [11, 18, 23]


def test_title_wrapped_over_two_lines_is_joined() -> None:
    digest = parse_digest_text(f"May 6\n\nA Long Title That Was\nWrapped By An Editor\n\n{ABSTRACT_A}\n", "x.txt")
    assert digest.papers[0].title == "A Long Title That Was Wrapped By An Editor"


def test_unicode_and_tex_titles_are_kept_as_written() -> None:
    text = (
        f"Jun 10\n\n$Ψ$-Sampler:   Initial  Particle Sampling\t\n\n{ABSTRACT_A}\n\n"
        f"Φeat: Physically-Grounded\n\n{ABSTRACT_B}\n"
    )
    titles = [paper.title for paper in parse_digest_text(text, "x.txt").papers]
    assert titles == ["$Ψ$-Sampler: Initial Particle Sampling", "Φeat: Physically-Grounded"]


def test_arxiv_link_line_after_the_title_is_picked_up_and_skipped() -> None:
    text = (
        f"May 6\n\nFirst Title\nhttps://arxiv.org/abs/2306.06189v2\n\n{ABSTRACT_A}\n\n"
        f"Second Title\n\narXiv:2401.00001\n\n{ABSTRACT_B}\n\n"
        f"Third Title\n\nhttps://huggingface.co/papers/2402.00002\n{ABSTRACT_C}\n\n"
        f"Fourth Title\n\nSee 2306.06189 for details. {ABSTRACT_C}\n"
    )
    papers = parse_digest_text(text, "x.txt").papers
    assert [paper.arxiv_id for paper in papers] == ["2306.06189", "2401.00001", "2402.00002", None]
    expected = [" ".join(abstract.split()) for abstract in (ABSTRACT_A, ABSTRACT_B, ABSTRACT_C)]
    assert [paper.abstract for paper in papers[:3]] == expected


def test_duplicate_title_in_one_file_keeps_the_first() -> None:
    text = f"May 6\n\nSame Title\n\n{ABSTRACT_A}\n\nOther\n\n{ABSTRACT_B}\n\nSAME  title!\n\n{ABSTRACT_C}\n"
    papers = parse_digest_text(text, "x.txt").papers
    assert [paper.title for paper in papers] == ["Same Title", "Other"]
    assert papers[0].abstract == " ".join(ABSTRACT_A.split())


# -- dates ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name", "default", "expected"),
    [
        ("May 6", "digest.txt", None, "--05-06"),
        ("May 6", "digest.txt", datetime.date(2023, 12, 31), "2023-05-06"),
        ("May 6", "hf_daily_2025-06-10.txt", datetime.date(2023, 1, 1), "2025-05-06"),
        ("Jun 10", "notes/2024-02-29-digest.txt", None, "2024-06-10"),
        ("June 10, 2025", "digest.txt", datetime.date(2023, 1, 1), "2025-06-10"),
        ("June 10 2025", "hf_daily_2024-01-01.txt", None, "2025-06-10"),
        ("Sept 3", "digest.txt", None, "--09-03"),
        ("sep. 03", "digest.txt", None, "--09-03"),
        ("DECEMBER 31", "digest.txt", None, "--12-31"),
        ("Feb 29", "digest.txt", None, "--02-29"),
    ],
)
def test_date_line_forms_and_where_the_year_comes_from(
    line: str, name: str, default: datetime.date | None, expected: str
) -> None:
    digest = parse_digest_text(DIGEST_HEADER + f"{line}\n\nA Title\n\n{ABSTRACT_A}\n", name, default_date=default)
    assert digest.dates == (expected,)
    assert digest.papers[0].date == expected


@pytest.mark.parametrize(
    ("line", "name"), [("Feb 30", "digest.txt"), ("Feb 29", "hf_daily_2025-03-01.txt"), ("Apr 31, 2024", "d.txt")]
)
def test_impossible_date_is_an_error_with_its_line(line: str, name: str) -> None:
    error = _raises(DIGEST_HEADER + f"{line}\n\nA Title\n\n{ABSTRACT_A}\n", name)
    assert error.source == name and error.line == 9
    assert line in str(error) and "not a real date" in str(error)


def test_a_later_date_line_switches_the_date() -> None:
    text = f"May 6\n\nFirst\n\n{ABSTRACT_A}\n\nMay 7\n\nSecond\n\n{ABSTRACT_B}\n\nThird\n\n{ABSTRACT_C}\n"
    digest = parse_digest_text(text, "d.txt", default_date=datetime.date(2024, 1, 1))
    assert digest.dates == ("2024-05-06", "2024-05-07")
    assert [(paper.title, paper.date) for paper in digest.papers] == [
        ("First", "2024-05-06"),
        ("Second", "2024-05-07"),
        ("Third", "2024-05-07"),
    ]


def test_digest_without_a_date_line_uses_the_default_date_or_none() -> None:
    text = DIGEST_HEADER + "Daily Papers\n\n" + f"First\n\n{ABSTRACT_A}\n\nSecond\n\n{ABSTRACT_B}\n"
    undated = parse_digest_text(text, "d.txt")
    assert [(paper.title, paper.date) for paper in undated.papers] == [("First", None), ("Second", None)]
    assert undated.dates == ()
    dated = parse_digest_text(text, "hf_daily_2025-06-10.txt", default_date=datetime.date(2024, 3, 9))
    assert {paper.date for paper in dated.papers} == {"2024-03-09"}
    assert dated.dates == ("2024-03-09",)
    bare = parse_digest_text(f"First\n\n{ABSTRACT_A}\n", "d.txt")
    assert [paper.line for paper in bare.papers] == [1]


# -- errors ------------------------------------------------------------------------------------------------------------


def _skips(text: str, name: str = "digest.txt") -> tuple[list[str], tuple[str, ...]]:
    """The titles read and the warnings: a block that cannot be read is skipped, never the file."""
    digest = parse_digest_text(text, name)
    return [paper.title for paper in digest.papers], digest.warnings


def test_title_without_abstract_at_the_end_is_skipped_naming_its_line() -> None:
    titles, warnings = _skips(DIGEST_HEADER + f"May 6\n\nFirst\n\n{ABSTRACT_A}\n\nLonely Title\n\n\n")
    assert titles == ["First"] and len(warnings) == 1
    assert warnings[0].startswith("digest.txt:15: the title 'Lonely Title' has no abstract")
    assert warnings[0].endswith("skipped this block, read the rest")
    # A file where nothing can be read is still an error, naming the line.
    error = _raises(DIGEST_HEADER + "May 6\n\nLonely Title\n")
    assert error.line == 11 and "no abstract" in str(error)


def test_two_titles_in_a_row_skip_the_first_title() -> None:
    text = DIGEST_HEADER + f"May 6\n\nFirst\n\n{ABSTRACT_A}\n\nMissing Its Abstract\n\nNext Title\n\n{ABSTRACT_B}\n"
    titles, warnings = _skips(text)
    assert titles == ["First", "Next Title"]
    assert len(warnings) == 1 and warnings[0].startswith("digest.txt:15: the title 'Missing Its Abstract'")
    assert "line 17" in warnings[0]


def test_title_followed_by_a_date_line_is_skipped() -> None:
    titles, warnings = _skips(f"May 6\n\nFirst\n\nMay 7\n\nSecond\n\n{ABSTRACT_A}\n")
    assert titles == ["Second"]
    assert len(warnings) == 1 and warnings[0].startswith("digest.txt:3: ") and "no abstract" in warnings[0]


def test_paragraph_where_a_title_belongs_is_skipped() -> None:
    titles, warnings = _skips(f"May 6\n\nFirst\n\n{ABSTRACT_A}\n\n{ABSTRACT_B * 2}\n\nSecond\n\n{ABSTRACT_C}\n")
    assert titles == ["First", "Second"]
    assert len(warnings) == 1 and warnings[0].startswith("digest.txt:7: expected a paper title")


@pytest.mark.parametrize("content", [b"", b"   \n\n\t\r\n", b"\xef\xbb\xbf"])
def test_empty_file_is_an_error(tmp_path: Path, content: bytes) -> None:
    target = tmp_path / "empty.txt"
    target.write_bytes(content)
    with pytest.raises(DigestError, match="empty") as caught:
        parse_digest_file(target)
    assert caught.value.source == str(target)


@pytest.mark.parametrize("text", [DIGEST_HEADER, DIGEST_HEADER + "May 6\n\n", "new\n\nSubscribe\n\n\n"])
def test_digest_with_no_papers_is_an_error(text: str) -> None:
    error = _raises(text)
    assert "no papers found" in str(error) and "'May 6'" in str(error)
    assert error.line == len(text.rstrip("\n").split("\n"))


def test_single_line_file_that_is_a_title_is_an_error() -> None:
    error = _raises("May 6\n\nOnly A Title")
    assert error.line == 3


def test_binary_file_is_an_error(tmp_path: Path) -> None:
    target = tmp_path / "index.bin"
    target.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(DigestError, match="not a text digest") as caught:
        parse_digest_file(target)
    assert caught.value.source == str(target) and caught.value.line is None


def test_latin1_file_is_decoded(tmp_path: Path) -> None:
    target = tmp_path / "old.txt"
    target.write_bytes(f"May 6\n\nCaf\u00e9 Models \u2013 Again\n\n{ABSTRACT_A}\n".encode("cp1252"))
    assert parse_digest_file(target).papers[0].title == "Caf\u00e9 Models \u2013 Again"


def test_unreadable_path_is_a_digest_error(tmp_path: Path) -> None:
    with pytest.raises(DigestError, match="cannot read"):
        parse_digest_file(tmp_path)


# -- finding and reading files -----------------------------------------------------------------------------------------


def _write(path: Path, text: str = f"May 6\n\nA Title\n\n{ABSTRACT_A}\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_find_digest_files_walks_folders_sorted_and_skips_hidden(tmp_path: Path) -> None:
    root = tmp_path / "in"
    wanted = [
        _write(root / "a.txt"),
        _write(root / "b.TEXT"),
        _write(root / "c"),
        _write(root / "sub" / "a.txt"),
        _write(root / "sub" / "deeper" / "z.txt"),
        _write(root / "z.txt"),
    ]
    # Picked by content: a digest saved as Markdown is a digest; notes and a manifest of other records are not.
    wanted.append(_write(root / "digest.md"))
    _write(root / ".hidden.txt")
    _write(root / ".git" / "x.txt")
    _write(root / "notes.md", "# Notes\n\nThings to read later.\n")
    _write(root / "manifest.jsonl", '{"file": "a.txt", "n_papers": 1}\n')
    other = _write(tmp_path / "given.md", "# Not a digest, but named directly\n")
    found = find_digest_files([root, other, root / "a.txt"])
    assert found == [root / "a.txt", root / "b.TEXT", root / "c", root / "digest.md", root / "sub" / "a.txt",
                     root / "sub" / "deeper" / "z.txt", root / "z.txt", other]
    assert set(wanted) <= set(found)


def test_find_digest_files_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(DigestError, match="no such file or folder") as caught:
        find_digest_files([missing])
    assert caught.value.source == str(missing) and caught.value.line is None
    empty = tmp_path / "empty"
    _write(empty / "readme.md", "# About\n\nThese are my notes.\n")
    with pytest.raises(DigestError, match="no digest files") as caught:
        find_digest_files([empty])
    assert caught.value.source == str(empty)


def test_read_digests_parses_everything_and_names_the_bad_file(tmp_path: Path) -> None:
    good = _write(tmp_path / "a" / "1.txt")
    bad = _write(tmp_path / "a" / "2.txt", f"May 6\n\nA Title\n\n{ABSTRACT_A}\n\nFeb 30\n")
    later = _write(tmp_path / "a" / "3.txt")
    with pytest.raises(DigestError) as caught:
        read_digests([tmp_path / "a"])
    assert caught.value.source == str(bad) and caught.value.line == 7
    digests = read_digests([good, later], default_date=datetime.date(2020, 1, 1))
    assert [digest.source for digest in digests] == [str(good), str(later)]
    assert digests[0].papers == (
        DigestPaper("A Title", " ".join(ABSTRACT_A.split()), "2020-05-06", str(good), 3, None),
    )


# -- what real pages and copy-pastes carry ---------------------------------------------------------------------------


def _seed_papers(seed_digest: Path, count: int) -> list[DigestPaper]:
    return list(parse_digest_file(seed_digest).papers[:count])


def test_a_copied_daily_page_with_cards_metadata_and_links(seed_digest: Path) -> None:
    one, two, three, four = _seed_papers(seed_digest, 4)
    text = (
        "Hugging Face\nModels\nDatasets\nSpaces\nPapers\n\nDaily Papers\nbyAK and the research community\n\n"
        "Jun 10, 2025\n\n"
        f"1. {one.title}\nhttps://huggingface.co/papers/2506.01234\nSubmitted by akhaliq\n"
        "Ada Lovelace, Alan M. Turing, Grace Hopper\nUpvote\n42\n\n"
        f"{hard_wrap(one.abstract)}\n\n"
        f"2) {two.title}\nPublished on Jun 9, 2025\nAuthors: Donald Knuth, Edsger W. Dijkstra\n\n"
        f"Abstract\n{two.abstract}\n\nView arXiv page\nView PDF\nAdd to collection\n\n"
        f"#3 {three.title} (arxiv.org/abs/2506.01236)\n· 7 authors\n\n"
        "AI-generated summary\n\nA short summary a model wrote about this paper.\n\n"
        f"Abstract: {three.abstract}\n\n"
        f"{four.title}\n\nBarbara Liskov and John McCarthy\n\n▲ 12\n\n{four.abstract}\narXiv:2506.01237 [cs.CL]\n"
    )
    digest = parse_digest_text(text, "copied.txt")
    assert [(paper.title, paper.abstract) for paper in digest.papers] == [
        (paper.title, paper.abstract) for paper in (one, two, three, four)
    ]
    assert [paper.arxiv_id for paper in digest.papers] == ["2506.01234", None, "2506.01236", "2506.01237"]
    assert {paper.date for paper in digest.papers} == {"2025-06-10"} and digest.dates == ("2025-06-10",)
    lines = text.split("\n")
    assert [lines[paper.line - 1].startswith(("1.", "2)", "#3", four.title)) for paper in digest.papers] == [True] * 4
    assert digest.warnings == ()


def test_published_on_dates_a_paper_when_the_digest_has_no_date_line(seed_digest: Path) -> None:
    one, two = _seed_papers(seed_digest, 2)
    text = f"{one.title}\nPublished on Jun 9\n\n{one.abstract}\n\n{two.title}\n\n{two.abstract}\n"
    papers = parse_digest_text(text, "hf_daily_2025-06-10.txt").papers
    assert [paper.date for paper in papers] == ["2025-06-09", None]
    # A digest's own date (a date line, or --date) says when it was featured, and wins over the publication date.
    dated = parse_digest_text(text, "x.txt", default_date=datetime.date(2025, 6, 10)).papers
    assert [paper.date for paper in dated] == ["2025-06-10", "2025-06-10"]
    bad = parse_digest_text(text.replace("Jun 9", "Feb 30"), "x.txt")
    assert bad.papers[0].date is None
    assert bad.warnings == (
        "x.txt:2: 'Feb 30' is not a real date; fix the date line (e.g. 'May 6'); the date is ignored",
    )


@pytest.mark.parametrize("lead", [True, False])
def test_link_lines_between_papers_go_with_the_right_paper(seed_digest: Path, lead: bool) -> None:
    papers = _seed_papers(seed_digest, 3)
    ids = ["2506.00001", "2506.00002", "2506.00003"]
    blocks = []
    for paper, arxiv_id in zip(papers, ids):
        link = f"https://huggingface.co/papers/{arxiv_id}"
        blocks += [link, paper.title, paper.abstract] if lead else [paper.title, paper.abstract, link]
    digest = parse_digest_text("May 6\n\n" + "\n\n".join(blocks) + "\n", "x.txt")
    assert [paper.arxiv_id for paper in digest.papers] == ids
    assert [paper.title for paper in digest.papers] == [paper.title for paper in papers]


def test_duplicates_in_one_file_are_warnings_naming_both_lines() -> None:
    text = (
        f"May 6\n\nFirst\nhttps://arxiv.org/abs/2401.00001\n\n{ABSTRACT_A}\n\n"
        f"Renamed Later\narXiv:2401.00001\n\n{ABSTRACT_B}\n\n"
        f"first!\n\n{ABSTRACT_C}\n"
    )
    digest = parse_digest_text(text, "x.txt")
    assert [paper.title for paper in digest.papers] == ["First"]
    assert digest.warnings == (
        "x.txt:8: 'Renamed Later' repeats arXiv 2401.00001 of the paper at line 3; the first entry is kept",
        "x.txt:13: 'first!' repeats the title of the paper at line 3; the first entry is kept",
    )


def test_author_like_titles_are_still_titles() -> None:
    # Title-case titles with commas or "and" must not be mistaken for author lines.
    text = (
        f"May 6\n\nVision Transformers and Language Models:\nA Survey\n\n{ABSTRACT_A}\n\n"
        f"Segment Anything, Track Everything\n\n{ABSTRACT_B}\n"
    )
    titles = [paper.title for paper in parse_digest_text(text, "x.txt").papers]
    assert titles == ["Vision Transformers and Language Models: A Survey", "Segment Anything, Track Everything"]


def test_a_huge_line_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    target = tmp_path / "huge.txt"
    target.write_bytes(b"May 6\n\nTitle\n\n" + b"x" * (2 << 20) + b"\n")
    with pytest.raises(DigestError, match="over 1 MiB") as caught:
        parse_digest_file(target)
    assert caught.value.source == str(target) and caught.value.line == 5


def test_crlf_split_across_read_chunks_counts_one_line_end(tmp_path: Path) -> None:
    # The reader streams in blocks; a CR at a block's end and its LF in the next must not make an extra line.
    # Words, as an abstract is prose; puts the first abstract's CR at byte 8191, the last of the first 8 KiB block.
    pad = ("abc " * 2043)[:8170]
    text = f"May 6\r\n\r\nA Title\r\n\r\n{pad}.\r\n\r\nSecond\r\n\r\n{ABSTRACT_B}\r\n"
    target = tmp_path / "crlf.txt"
    target.write_bytes(text.encode("utf-8"))
    papers = parse_digest_file(target).papers
    assert [paper.line for paper in papers] == [3, 7]


@pytest.mark.parametrize("papers_on_page", [2, 12])
def test_upvote_counts_after_each_abstract_are_chrome_and_links_stay_with_their_paper(
    seed_digest: Path, papers_on_page: int
) -> None:
    # The saved page that stored a paper titled "upvotes" with its neighbour's id, and failed on a longer page.
    papers = _seed_papers(seed_digest, papers_on_page)
    ids = [f"2506.{10001 + index}" for index in range(papers_on_page)]
    blocks = [
        f"{paper.title}\n\n{paper.abstract}\n\n{7 + index}\nupvotes\nhttps://huggingface.co/papers/{arxiv_id}"
        for index, (paper, arxiv_id) in enumerate(zip(papers, ids))
    ]
    digest = parse_digest_text("Daily Papers\n\nJun 10\n\n" + "\n\n".join(blocks) + "\n", "page.txt")
    assert [(paper.title, paper.abstract, paper.arxiv_id) for paper in digest.papers] == [
        (paper.title, paper.abstract, arxiv_id) for paper, arxiv_id in zip(papers, ids)
    ]
    assert digest.warnings == ()


@pytest.mark.parametrize("crlf", [False, True])
def test_a_nul_byte_names_its_line_and_column(tmp_path: Path, crlf: bool) -> None:
    text = f"May 6\n\nA Title\n\n{ABSTRACT_A}\nand a stray \x00 here.\n"
    target = tmp_path / "nul.txt"
    target.write_bytes((text.replace("\n", "\r\n") if crlf else text).encode("utf-8"))
    with pytest.raises(DigestError, match=r"NUL byte at column 13, which no text digest holds") as caught:
        read_digests([target])
    assert caught.value.line == 6 and str(caught.value).startswith(f"{target}:6: ")
    assert _raises(text).line == 6
    # Past the sniffed head, the streaming reader names the place too.
    late = f"May 6\n\nA Title\n\n{ABSTRACT_A}\n" + f"Next Title\n\n{ABSTRACT_B}\n\n" * 600 + "x\x00\n"
    target.write_text(late, encoding="utf-8")
    with pytest.raises(DigestError, match=r"NUL byte at column 2") as caught:
        read_digests([target])
    assert caught.value.line == late.count("\n")


def test_a_sentence_where_a_title_belongs_is_skipped_not_taken_for_a_title() -> None:
    note = "This sentence is a note the page carries between two papers."
    text = f"May 6\n\nFirst\n\n{ABSTRACT_A}\n\n{note}\n\n{ABSTRACT_B}\n\nSecond\n\n{ABSTRACT_C}\n"
    titles, warnings = _skips(text)
    assert titles == ["First", "Second"] and len(warnings) == 2
    assert warnings[0].startswith("digest.txt:7: expected a paper title here but found a sentence")
