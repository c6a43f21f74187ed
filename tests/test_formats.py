"""Every input format users bring (saved pages, e-mails, mailboxes, JSON records, folders of them) and the bad ones.

Fixtures are generated here from the real titles and abstracts of the seed digest, never stored.
"""

from __future__ import annotations

import datetime
import gzip
import html
import json
import mailbox
import tracemalloc
from email.message import EmailMessage
from pathlib import Path

import pytest

from semsearch.errors import DigestError, SemsearchError
from semsearch.ingest.digest import (
    Digest,
    DigestPaper,
    find_digest_files,
    parse_digest_file,
    read_digest_bytes,
    read_digest_file,
    read_digests,
)

IDS = [f"2506.{10001 + number:05d}" for number in range(8)]
# Text that gzip cannot squeeze much, so a cut-off archive still holds some of it.
NOISE = " ".join(str(number * 7919 % 100_003) for number in range(40_000)).encode() + b".\n"


@pytest.fixture(scope="module")
def seed(seed_digest: Path) -> list[DigestPaper]:
    """The first eight papers of the seed digest."""
    return list(parse_digest_file(seed_digest).papers[:8])


def _texts(digest: Digest) -> list[tuple[str, str]]:
    return [(paper.title, paper.abstract) for paper in digest.papers]


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def _digest_text(papers: list[DigestPaper], date_line: str = "Jun 10") -> str:
    body = "\n\n".join(f"{paper.title}\n\n{paper.abstract}" for paper in papers)
    return f"new\n\nGet trending papers in your email inbox!\n\n{date_line}\n\n{body}\n"


def _card(paper: DigestPaper, arxiv_id: str, upvotes: int, abstract: bool = True) -> str:
    """One card of a huggingface.co/papers daily page, as the site marks it up (plus the abstract)."""
    summary = f'<p class="line-clamp-4 text-gray-700">{html.escape(paper.abstract)}</p>' if abstract else ""
    return f"""
<article class="relative flex flex-col overflow-hidden rounded-xl border">
  <a href="/papers/{arxiv_id}" class="shadow-alternate-sm"><img src="/thumbnails/{arxiv_id}.png" alt=""></a>
  <div class="px-6 pb-6 pt-8">
    <div class="flex flex-col items-center"><svg viewBox="0 0 12 12"><path d="M6 0"/></svg>
      <div class="font-semibold text-orange-500">{upvotes}</div></div>
    <h3 class="mb-1 text-lg font-semibold leading-[1.2]">
      <a href="/papers/{arxiv_id}" class="line-clamp-3 cursor-pointer">{html.escape(paper.title)}</a></h3>
    <div class="flex items-center">Submitted by <img alt="" src="/avatars/ak.png"> akhaliq</div>
    <ul class="flex"><li title="Ada Lovelace"><img alt=""></li><li title="Alan Turing"><img alt=""></li></ul>
    <span>&middot; {3 + upvotes % 5} authors</span>
    {summary}
    <a href="/papers/{arxiv_id}#community" class="flex items-center">{upvotes % 7}</a>
  </div>
</article>"""


def _daily_page(papers: list[DigestPaper], ids: list[str], date: str = "2025-06-10", abstracts: bool = True) -> str:
    cards = "".join(_card(paper, arxiv_id, 40 + n, abstracts) for n, (paper, arxiv_id) in enumerate(zip(papers, ids)))
    day = datetime.date.fromisoformat(date)
    return f"""<!DOCTYPE html>
<!-- saved from url=(0048)https://huggingface.co/papers?date={date} -->
<html lang="en"><head><meta charset="utf-8"><title>Daily Papers - Hugging Face</title>
<link rel="canonical" href="https://huggingface.co/papers/date/{date}">
<script>window.x = "<h3><a href='/papers/2401.00001'>Not A Card</a></h3>";</script>
<style>h3 {{ color: black }}</style></head>
<body><header><nav><a href="/models">Models</a> <a href="/datasets">Datasets</a>
<a href="/papers">Papers</a></nav></header>
<main><h1>Daily Papers</h1><p>by <a href="/akhaliq">AK</a> and the research community</p>
<div class="flex items-center"><time datetime="{date}">{day:%b} {day.day}</time></div>
<section class="grid">{cards}</section></main>
<footer><p>&copy; Hugging Face</p></footer></body></html>"""


def _paper_page(paper: DigestPaper, arxiv_id: str) -> str:
    """A paper's own page: heading title, publication date, authors, a generated summary, then the abstract."""
    return f"""<!doctype html><html><head><meta charset="utf-8">
<meta property="og:url" content="https://huggingface.co/papers/{arxiv_id}"></head><body>
<section><div><a href="/papers">Papers</a><a href="https://arxiv.org/abs/{arxiv_id}">arxiv:{arxiv_id}</a></div>
<h1 class="text-2xl">{html.escape(paper.title)}</h1>
<div>Published on Jun 9, 2025</div><div>Submitted by <a href="/akhaliq">akhaliq</a> on Jun 10</div>
<div><button>Upvote</button> <span>42</span></div>
<div>Authors: <a href="/a">Ada Lovelace</a>, <a href="/b">Alan Turing</a></div>
<h2>AI-generated summary</h2><p>A model read this paper and wrote two sentences about it. Here they are.</p>
<h2>Abstract</h2><div><p class="text-gray-700">{html.escape(paper.abstract)}</p></div>
<div><a href="https://arxiv.org/abs/{arxiv_id}">View arXiv page</a>
<a href="https://arxiv.org/pdf/{arxiv_id}">View PDF</a></div>
<h3>Community</h3><p>Sign up or log in to comment</p></section></body></html>"""


def _mail(plain: str | None, page: str | None, date: str = "Tue, 10 Jun 2025 07:00:00 +0000") -> EmailMessage:
    """A digest e-mail: quoted-printable text and/or a base64 HTML alternative."""
    message = EmailMessage()
    message["From"] = "Hugging Face <no-reply@huggingface.co>"
    message["To"] = "reader@example.org"
    message["Subject"] = "Daily Papers"
    message["Date"] = date
    if plain is not None:
        message.set_content(plain, cte="quoted-printable")
    if page is not None:
        if plain is None:
            message.set_content(page, subtype="html", cte="base64")
        else:
            message.add_alternative(page, subtype="html", cte="base64")
    return message


# -- saved pages ------------------------------------------------------------------------------------------------


def test_saved_daily_page_reads_cards_with_ids_dates_and_lines(tmp_path: Path, seed: list[DigestPaper]) -> None:
    page = _write(tmp_path / "Daily Papers - Hugging Face.html", _daily_page(seed, IDS))
    digest = parse_digest_file(page)
    assert _texts(digest) == [(paper.title, paper.abstract) for paper in seed]
    assert [paper.arxiv_id for paper in digest.papers] == IDS
    assert digest.dates == ("2025-06-10",) and digest.warnings == ()
    lines = page.read_text(encoding="utf-8").split("\n")
    for paper in digest.papers:
        assert html.escape(paper.title) in lines[paper.line - 1]  # the line of the title's link in the HTML


def test_saved_page_skips_a_card_without_abstract_and_refuses_a_page_with_none(
    tmp_path: Path, seed: list[DigestPaper]
) -> None:
    missing = f'<p class="line-clamp-4 text-gray-700">{html.escape(seed[1].abstract)}</p>'
    page = _daily_page(seed[:3], IDS[:3]).replace(missing, "")
    digest = parse_digest_file(_write(tmp_path / "page.html", page))
    assert [paper.arxiv_id for paper in digest.papers] == [IDS[0], IDS[2]]
    assert len(digest.warnings) == 1 and "has no abstract on this page; skipped" in digest.warnings[0]
    assert digest.warnings[0].startswith(f"{tmp_path / 'page.html'}:")
    listing = _write(tmp_path / "list.html", _daily_page(seed[:3], IDS[:3], abstracts=False))
    with pytest.raises(DigestError, match="found 3 paper titles but no abstracts") as caught:
        parse_digest_file(listing)
    assert caught.value.source == str(listing) and caught.value.line is not None


def test_a_papers_own_page_gives_its_abstract_not_the_summary(tmp_path: Path, seed: list[DigestPaper]) -> None:
    digest = parse_digest_file(_write(tmp_path / "paper.html", _paper_page(seed[2], IDS[2])))
    assert _texts(digest) == [(seed[2].title, seed[2].abstract)]
    assert digest.papers[0].arxiv_id == IDS[2]
    assert digest.papers[0].date == "2025-06-09"  # "Published on": the page has no digest date


def test_a_page_in_a_declared_legacy_charset(tmp_path: Path) -> None:
    title, abstract = "Caf\u00e9 Models \u2013 \u201cQuoted\u201d", "We measure na\u00efve caf\u00e9 models. " * 10
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252"></head><body>'
        f'<h3><a href="https://arxiv.org/abs/2506.00001">{title}</a></h3><p>{abstract}</p></body></html>'
    )
    declared = parse_digest_file(_write(tmp_path / "declared.html", page.encode("cp1252")))
    assert _texts(declared) == [(title, " ".join(abstract.split()))]
    undeclared = page.replace("; charset=windows-1252", "").encode("cp1252")
    assert _texts(parse_digest_file(_write(tmp_path / "undeclared.html", undeclared))) == _texts(declared)


def test_a_page_that_is_the_digest_text_in_html(tmp_path: Path, seed_digest: Path) -> None:
    text = seed_digest.read_text(encoding="utf-8")
    page = f"<html><body><pre>{html.escape(text)}</pre></body></html>"
    digest = parse_digest_file(_write(tmp_path / "digest.html", page))
    assert _texts(digest) == _texts(parse_digest_file(seed_digest))


def test_a_page_without_papers_is_an_error_naming_it(tmp_path: Path) -> None:
    page = _write(tmp_path / "docs.html", "<html><body><h1>Docs</h1><p>Install it.</p><p>Then run it</p></body></html>")
    with pytest.raises(DigestError, match="no paper cards on this page") as caught:
        parse_digest_file(page)
    assert caught.value.source == str(page)


# -- e-mail ------------------------------------------------------------------------------------------------------


def test_eml_with_quoted_printable_text_and_base64_html(tmp_path: Path, seed: list[DigestPaper]) -> None:
    message = _mail(_digest_text(seed[:5]), _daily_page(seed[:5], IDS[:5]))
    raw = bytes(message)
    assert b"quoted-printable" in raw and b"base64" in raw
    digest = parse_digest_file(_write(tmp_path / "daily.eml", raw))
    assert digest.source == str(tmp_path / "daily.eml")
    assert _texts(digest) == [(paper.title, paper.abstract) for paper in seed[:5]]
    # The HTML alternative carries arXiv ids, so it is the one read.
    assert [paper.arxiv_id for paper in digest.papers] == IDS[:5]
    assert digest.dates == ("2025-06-10",)


def test_plain_text_mail_takes_its_year_from_the_date_header(tmp_path: Path, seed: list[DigestPaper]) -> None:
    # A digest of Dec 31 sent just after midnight on Jan 1 belongs to the year before.
    message = _mail(_digest_text(seed[:2], "Dec 31") + "\n-- \nYou get this because you subscribed.\n", None,
                    date="Thu, 01 Jan 2026 00:05:00 +0000")
    # Saved by a mail client with CRLF line ends, as most are.
    digest = parse_digest_file(_write(tmp_path / "mail.eml", bytes(message).replace(b"\n", b"\r\n")))
    assert _texts(digest) == [(paper.title, paper.abstract) for paper in seed[:2]]
    assert digest.dates == ("2025-12-31",)


def test_a_mail_part_in_a_legacy_charset(tmp_path: Path, seed: list[DigestPaper]) -> None:
    title = "\u0391\u03bb\u03c6\u03b1: Greek Models for Greek Text"
    abstract = "\u0395\u03b4\u03ce we study Greek. " * 12
    body = f"May 6\n\n{title}\n\n{abstract}\n".encode("iso-8859-7")
    raw = (
        b"From: a@example.org\nSubject: digest\nMIME-Version: 1.0\n"
        b'Content-Type: text/plain; charset="iso-8859-7"\nContent-Transfer-Encoding: 8bit\n\n' + body
    )
    digest = parse_digest_file(_write(tmp_path / "greek.eml", raw))
    assert _texts(digest) == [(title, " ".join(abstract.split()))]


def test_a_mail_without_a_digest_is_an_error_naming_it(tmp_path: Path) -> None:
    message = _mail("Welcome! Confirm your subscription to the daily papers by clicking the link.", None)
    target = _write(tmp_path / "welcome.eml", bytes(message))
    with pytest.raises(DigestError) as caught:
        parse_digest_file(target)
    assert caught.value.source == str(target) and "text/plain part" in str(caught.value)


def test_mbox_of_several_mails_gives_one_digest_each(tmp_path: Path, seed: list[DigestPaper]) -> None:
    path = tmp_path / "Daily Papers.mbox"
    box = mailbox.mbox(path)
    box.add(_mail(_digest_text(seed[0:3], "Jun 10"), None, "Tue, 10 Jun 2025 07:00:00 +0000"))
    box.add(_mail("Welcome to the daily papers!", None, "Wed, 11 Jun 2025 07:00:00 +0000"))
    box.add(_mail(None, _daily_page(seed[3:6], IDS[3:6], "2025-06-12"), "Thu, 12 Jun 2025 07:00:00 +0000"))
    # A body line starting with "From " is quoted in an mbox; the message still reads.
    box.add(_mail(_digest_text(seed[6:8], "Jun 13") + "\nFrom the team.\n", None, "Fri, 13 Jun 2025 07:00:00 +0000"))
    box.flush()
    box.close()
    digests = read_digests([path])
    assert [digest.source for digest in digests] == [f"{path}#message-{n}" for n in (1, 3, 4)]
    assert [digest.dates for digest in digests] == [("2025-06-10",), ("2025-06-12",), ("2025-06-13",)]
    assert [_texts(digest) for digest in digests] == [
        [(paper.title, paper.abstract) for paper in seed[start:end]] for start, end in ((0, 3), (3, 6), (6, 8))
    ]
    assert digests[1].papers[0].arxiv_id == IDS[3]
    assert len(digests[0].warnings) == 1 and digests[0].warnings[0].startswith(f"{path}#message-2")
    assert digests[0].warnings[0].endswith("skipped")
    with pytest.raises(DigestError, match="read it with read_digests"):
        parse_digest_file(path)


def test_mbox_without_any_digest_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "inbox.mbox"
    box = mailbox.mbox(path)
    box.add(_mail("Hello there, nothing to read today.", None))
    box.close()
    with pytest.raises(DigestError, match="none of its 1 e-mails holds a digest") as caught:
        read_digests([path])
    assert caught.value.source == str(path)


# -- JSON and JSONL ----------------------------------------------------------------------------------------------


def _record(paper: DigestPaper, arxiv_id: str | None, **extra) -> dict:
    record = {"id": arxiv_id, "title": paper.title, "abstract": paper.abstract, "authors": ["Ada Lovelace"],
              "categories": ["cs.CL"], "first_seen": "2025-06-10", "source": "test"}
    record.update(extra)
    return {key: value for key, value in record.items() if value is not None}


def test_jsonl_gz_with_bad_records_keeps_the_good_ones_and_warns(tmp_path: Path, seed: list[DigestPaper]) -> None:
    lines = [json.dumps(_record(seed[0], IDS[0]))]
    lines.append(json.dumps({"id": IDS[1], "title": seed[1].title}))  # no abstract
    lines.append("")
    lines.append(json.dumps(_record(seed[2], None, url=f"https://arxiv.org/abs/{IDS[2]}v2", first_seen=None,
                                    date="2025-06-11T08:00:00Z")))
    lines.append(json.dumps(_record(seed[3], "W123", published="June 12")))  # not an arXiv id; odd date
    lines.append(json.dumps(_record(seed[4], IDS[0])))  # the same arXiv id again
    lines.append('{"id": "2506.99999", "title": "Cut off in the midd')
    target = _write(tmp_path / "papers.jsonl.gz", gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))
    digest = parse_digest_file(target)
    assert _texts(digest) == [(paper.title, paper.abstract) for paper in (seed[0], seed[2], seed[3])]
    assert [paper.arxiv_id for paper in digest.papers] == [IDS[0], IDS[2], None]
    assert [paper.line for paper in digest.papers] == [1, 4, 5]
    assert [paper.date for paper in digest.papers] == ["2025-06-10", "2025-06-11", "2025-06-10"]
    assert digest.warnings == (
        f"{target}:2: record 2 ('{seed[1].title[:57]}...') has no abstract; skipped",
        f"{target}:6: '{seed[4].title[:57]}...' repeats arXiv {IDS[0]} of the paper at line 1; the first entry is kept",
        f"{target}:7: record 6 is not valid JSON (a truncated or damaged line?); skipped",
    )


def test_jsonl_dates_and_a_non_utf8_line(tmp_path: Path, seed: list[DigestPaper]) -> None:
    first = json.dumps(_record(seed[0], IDS[0], first_seen=None, published="12 June"), ensure_ascii=False)
    second = json.dumps({"title": "Caf\u00e9 Models", "abstract": "About caf\u00e9s. " * 20}, ensure_ascii=False)
    target = _write(tmp_path / "mixed.jsonl", first.encode("utf-8") + b"\n" + second.encode("cp1252") + b"\n")
    digest = parse_digest_file(target, default_date=datetime.date(2024, 1, 2))
    assert [paper.title for paper in digest.papers] == [seed[0].title, "Caf\u00e9 Models"]
    assert [paper.date for paper in digest.papers] == ["2024-01-02", "2024-01-02"]
    assert digest.warnings == (f"{target}:1: record 1: 'published' '12 June' is not a YYYY-MM-DD date; ignored",)


def test_json_array_object_and_single_record(tmp_path: Path, seed: list[DigestPaper]) -> None:
    records = [_record(paper, arxiv_id) for paper, arxiv_id in zip(seed[:4], IDS)]
    array = _write(tmp_path / "papers.json", json.dumps(records, indent=2))
    digest = parse_digest_file(array)
    assert [paper.arxiv_id for paper in digest.papers] == IDS[:4]
    text_lines = array.read_text().split("\n")
    assert all(text_lines[paper.line - 1].strip() == "{" for paper in digest.papers)
    nested = _write(tmp_path / "export.json", json.dumps({"version": 1, "papers": records}))
    assert _texts(parse_digest_file(nested)) == _texts(digest)
    single = _write(tmp_path / "one.json", json.dumps(records[0], indent=1))
    assert _texts(parse_digest_file(single)) == _texts(digest)[:1]


def test_hugging_face_daily_papers_api_records(tmp_path: Path, seed: list[DigestPaper]) -> None:
    rows = [
        {"paper": {"id": arxiv_id, "title": paper.title, "summary": paper.abstract, "upvotes": 12,
                   "authors": [{"name": "Ada Lovelace"}], "publishedAt": "2025-06-08T17:59:59.000Z",
                   "submittedOnDailyAt": "2025-06-10T00:00:00.000Z"},
         "publishedAt": "2025-06-08T17:59:59.000Z", "title": paper.title, "numComments": 2}
        for paper, arxiv_id in zip(seed[:3], IDS)
    ]
    digest = parse_digest_file(_write(tmp_path / "daily_papers.json", json.dumps(rows)))
    assert _texts(digest) == [(paper.title, paper.abstract) for paper in seed[:3]]
    assert [paper.arxiv_id for paper in digest.papers] == IDS[:3] and digest.dates == ("2025-06-10",)


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        ('[{"title": "A", "abstract": "B."}, {"title": "C", "abst', "not valid JSON", 1),
        ('[\n{"title": "A", "abstract": "B."}\n{"title": "C"}]', "expected ',' or ']' after record 1", 3),
        ('[{"title": "A", "abstract": "B."}] trailing', "unexpected text after the JSON array", 1),
        ('[\n  {"name": "A"},\n  {"name": "B"}\n]', "no paper records with a 'title' and an 'abstract'", None),
        ('{"version": 1}', "a JSON object without a 'title'", None),
    ],
)
def test_malformed_json_is_an_error_with_its_line(tmp_path: Path, content: str, message: str, line: int | None) -> None:
    target = _write(tmp_path / "bad.json", content)
    with pytest.raises(DigestError, match=message) as caught:
        parse_digest_file(target)
    assert caught.value.source == str(target) and caught.value.line == line


def test_the_real_arxiv_corpus_reads_as_one_digest(data_dir: Path) -> None:
    digest = parse_digest_file(data_dir / "arxiv" / "papers.jsonl.gz")
    assert len(digest.papers) == 82_779 and digest.warnings == ()
    assert all(paper.arxiv_id for paper in digest.papers)
    assert len(digest.dates) == 362 and min(digest.dates) == "2025-03-18" and max(digest.dates) == "2026-07-24"
    first = digest.papers[0]
    assert (first.arxiv_id, first.line, first.date) == ("1812.06145", 1, "2025-10-13")


# -- folders and format detection -------------------------------------------------------------------------------


def test_a_folder_of_every_format_is_picked_by_content(tmp_path: Path, seed: list[DigestPaper]) -> None:
    root = tmp_path / "inbox"
    text = _write(root / "2025" / "hf_daily_2025-06-10.txt", _digest_text(seed[0:2]))
    page = _write(root / "saved" / "page.htm", _daily_page(seed[2:4], IDS[2:4], "2025-06-11"))
    mail = _write(root / "mail" / "digest", bytes(_mail(_digest_text(seed[4:5]), None)))  # no extension: an e-mail
    records = _write(root / "export.jsonl.gz", gzip.compress(json.dumps(_record(seed[5], IDS[5])).encode()))
    markdown = _write(root / "notes" / "digest.md", _digest_text(seed[6:7], "Jun 14"))
    _write(root / "README.md", "# My digests\n\nSaved from the daily papers page.\n")
    _write(root / "manifest.jsonl", '{"file": "a.txt", "n_papers": 2}\n')
    _write(root / "empty.txt", "")
    _write(root / "logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    _write(root / ".cache" / "old.txt", _digest_text(seed[7:8]))
    _write(root / "notes" / "todo.html", "<html><body><p>Read more papers</p></body></html>")
    found = find_digest_files([root])
    assert found == [text, records, mail, markdown, root / "notes" / "todo.html", page]
    digests = read_digests([root])
    assert [digest.source for digest in digests] == [str(path) for path in (text, records, mail, markdown, page)]
    titles = [paper.title for digest in digests for paper in digest.papers]
    assert titles == [paper.title for paper in seed[0:2] + seed[5:6] + seed[4:5] + seed[6:7] + seed[2:4]]
    assert [" ".join(warning.split(": ")[:1]) for warning in digests[0].warnings] == [
        str(root / "empty.txt"), str(root / "manifest.jsonl"), str(root / "notes" / "todo.html")
    ]
    assert all(warning.endswith("skipped") for warning in digests[0].warnings)


def test_format_overrides_detection(tmp_path: Path, seed: list[DigestPaper]) -> None:
    target = _write(tmp_path / "records.txt", json.dumps(_record(seed[0], IDS[0])) + "\n")
    with pytest.raises(DigestError):
        read_digests([target], format="text")
    assert read_digests([target], format="auto")[0].papers[0].arxiv_id == IDS[0]
    assert read_digests([target], format="jsonl")[0].papers[0].arxiv_id == IDS[0]
    assert read_digests([tmp_path], format="jsonl")[0].papers[0].arxiv_id == IDS[0]
    with pytest.raises(ValueError, match="unknown input format"):
        read_digests([target], format="pdf")


def test_a_folder_with_nothing_usable_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path / "in" / "empty.txt", "")
    _write(tmp_path / "in" / "manifest.jsonl", '{"n": 1}\n')
    with pytest.raises(DigestError, match="no digest files in this folder") as caught:
        read_digests([tmp_path / "in"])
    assert caught.value.source == str(tmp_path / "in")
    _write(tmp_path / "in2" / "header-only.txt", "new\n\nSubscribe\n\nMay 6\n")
    with pytest.raises(DigestError, match="hold any papers") as caught:
        read_digests([tmp_path / "in2"])
    assert "header-only.txt:5: no papers found" in str(caught.value)


# -- bad input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"", "the file is empty"),
        ("blank.html", b"\n\n  \n", "the file is empty"),
        ("image.txt", b"GIF89a\x01\x00\x01\x00\x00\xff\x00,", "not a text digest"),
        ("zero.txt", b"new\n\nGet trending papers in your email inbox!\n\nMay 6\n", "no papers found"),
        ("cut.txt.gz", gzip.compress(b"May 6\n\nA Title\n\n" + NOISE)[: len(NOISE) // 4], "ends early"),
        ("bad.gz", b"\x1f\x8b\x08\x00" + b"\x00" * 40, "damaged|ends early"),
        ("nothing.jsonl", b'{"title": "T"}\n{"abstract": "A."}\n', "no paper records"),
        ("double.gz", gzip.compress(gzip.compress(b"May 6\n")), "gzip data inside gzip"),
    ],
)
def test_bad_files_named_directly_are_one_line_errors(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    target = _write(tmp_path / name, content)
    with pytest.raises(DigestError, match=message) as caught:
        read_digests([target])
    assert caught.value.source == str(target)
    assert "\n" not in str(caught.value) and str(caught.value).startswith(str(target))


def test_nothing_is_returned_when_one_input_is_bad(tmp_path: Path, seed: list[DigestPaper]) -> None:
    good = _write(tmp_path / "good.eml", bytes(_mail(_digest_text(seed[:2]), None)))
    bad = _write(tmp_path / "bad.json", '[{"title": "A", "abstract": "B."},')
    with pytest.raises(DigestError) as caught:
        read_digests([good, bad])
    assert caught.value.source == str(bad)


def test_truncated_jsonl_gz_keeps_the_records_before_the_cut(tmp_path: Path, seed: list[DigestPaper]) -> None:
    lines = "".join(json.dumps(_record(paper, arxiv_id)) + "\n" for paper, arxiv_id in zip(seed, IDS))
    data = gzip.compress(lines.encode() * 40)
    target = _write(tmp_path / "cut.jsonl.gz", data[: len(data) * 2 // 3])
    digest = parse_digest_file(target)
    assert [paper.title for paper in digest.papers] == [paper.title for paper in seed]
    assert any("ends early" in warning and "the records before it are kept" in warning for warning in digest.warnings)


# -- large inputs stream -------------------------------------------------------------------------------------------


def _peak_while(read) -> int:
    tracemalloc.start()
    try:
        read()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_big_mbox_is_read_one_message_at_a_time(tmp_path: Path, seed: list[DigestPaper]) -> None:
    path = tmp_path / "big.mbox"
    message = _mail(_digest_text(seed[:2]), None)
    # A big attachment on one long line: the mail stays big while parsing it stays quick.
    message.add_attachment("x" * (512 << 10), subtype="plain", cte="8bit", disposition="attachment", filename="a.log")
    raw = b"From digest@example.org Tue Jun 10 07:00:00 2025\n" + bytes(message).replace(b"\r\n", b"\n") + b"\n"
    with open(path, "wb") as handle:
        for _ in range(80):
            handle.write(raw)
    size = path.stat().st_size
    assert size > 40 << 20
    digests: list[Digest] = []
    peak = _peak_while(lambda: digests.extend(read_digests([path])))
    assert len(digests) == 80 and all(_texts(digest) == _texts(digests[0]) for digest in digests)
    assert peak < size // 5, (peak, size)


@pytest.mark.parametrize("name", ["big.jsonl.gz", "big.json", "big.txt"])
def test_big_record_files_stream(tmp_path: Path, seed: list[DigestPaper], name: str) -> None:
    # A few papers with huge abstracts, again and again: the repeats are dropped, so what is kept stays small and the
    # peak shows what reading costs.
    # (Few, long words: tracemalloc makes every small allocation slow.)
    papers = [
        DigestPaper(paper.title, (paper.abstract.replace(" ", "-") + " ") * 40, None, "", 0) for paper in seed[:4]
    ]
    if name.endswith(".txt"):
        unit = "".join(f"{paper.title}\n\n{paper.abstract}\n\n" for paper in papers)
        content = ("May 6\n\n" + unit * 60).encode()
    else:
        records = [json.dumps(_record(paper, arxiv_id)) for paper, arxiv_id in zip(papers, IDS)] * 60
        if name.endswith(".json"):
            content = ("[" + ",\n".join(records) + "]").encode()
        else:
            content = gzip.compress(("\n".join(records) + "\n").encode(), compresslevel=1)
    target = _write(tmp_path / name, content)
    digests: list[Digest] = []
    peak = _peak_while(lambda: digests.extend(read_digests([target])))
    assert _texts(digests[0]) == [(paper.title, " ".join(paper.abstract.split())) for paper in papers]
    kept = sum(len(paper.abstract) for paper in papers)
    size = len(gzip.decompress(content)) if name.endswith(".gz") else len(content)
    assert size > 50 * kept and peak < size // 4, (peak, kept, size)
    assert digests[0].warnings[-1].endswith("more problems like these were skipped")


def test_every_error_is_a_semsearch_error() -> None:
    assert issubclass(DigestError, SemsearchError)
    assert read_digest_file.__doc__


def test_every_format_reads_from_bytes_in_memory_as_from_a_file(tmp_path: Path, seed: list[DigestPaper]) -> None:
    # What `semsearch update -` reads from stdin: told apart by content, since there is no file name.
    path = tmp_path / "box.mbox"
    box = mailbox.mbox(path)
    box.add(_mail(_digest_text(seed[0:2], "Jun 10"), None))
    box.add(_mail("Welcome to the daily papers!", None))
    box.add(_mail(_digest_text(seed[2:3], "Jun 11") + "\nFrom the team.\n", None))
    box.flush()
    box.close()
    inputs = {
        "text": _digest_text(seed[:3]).encode("utf-8"),
        "html": _daily_page(seed[:3], IDS[:3]).encode("utf-8"),
        "eml": bytes(_mail(_digest_text(seed[:3]), None)),
        "json": json.dumps([_record(paper, None) for paper in seed[:3]]).encode("utf-8"),
        "jsonl": "".join(json.dumps(_record(paper, None)) + "\n" for paper in seed[:3]).encode("utf-8"),
        "gzip": gzip.compress(_digest_text(seed[:3]).encode("utf-8")),
    }
    expected = [(paper.title, paper.abstract) for paper in seed[:3]]
    for name, data in inputs.items():
        digests = read_digest_bytes(data, default_date=datetime.date(2025, 1, 1))
        assert [digest.source for digest in digests] == ["<stdin>"], name
        assert _texts(digests[0]) == expected, name
    mails = read_digest_bytes(path.read_bytes())
    assert [digest.source for digest in mails] == ["<stdin>#message-1", "<stdin>#message-3"]
    assert [_texts(digest) for digest in mails] == [expected[:2], expected[2:]]
    assert mails[0].warnings[0].startswith("<stdin>#message-2")
    with pytest.raises(DigestError, match=r"^<stdin>: ") as caught:
        read_digest_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert caught.value.source == "<stdin>"
