"""Fuzz every reader with 10,500 generated inputs (deterministic): nothing may escape but a semsearch error that
names its input, and whatever is read must be well formed.

Two kinds of input: documents assembled by hypothesis from pieces of real digests (titles, abstracts, date lines,
card lines, links, markup, MIME parts, JSON records) mixed with arbitrary text; and valid inputs of every format
mutated byte by byte the way coverage fuzzers do (flips, deletions, duplications, inserted tokens, truncation).
Pieces are prepared once, so each example costs few draws and the whole run stays well under a minute.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import quopri
import random
import re
import tempfile
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semsearch.errors import SemsearchError
from semsearch.ingest.digest import FORMATS, Digest, parse_digest_text, read_digests
from semsearch.ingest.readers.htmlpage import parse_html
from semsearch.ingest.readers.jsonrecords import read_json, read_jsonl
from semsearch.ingest.readers.mail import parse_message
from semsearch.ingest.readers.raw import bytes_opener
from semsearch.ingest.readers.sniff import sniff
from semsearch.keys import normalize_arxiv_id

pytestmark = pytest.mark.fuzz

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|--\d{2}-\d{2}")
_SETTINGS = dict(derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))

TITLES = [
    "Sinhala-English Word Embedding Alignment: Introducing Datasets and Benchmark for a Low Resource Language",
    "PanGu-$α$: Large-scale Autoregressive Pretrained Chinese Language Models",
    "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models",
    "Segment Anything, Track Everything",
    "Ada Lovelace, Alan Turing",
    "1. Numbered Title",
    "[Linked Title](https://huggingface.co/papers/2506.01234)",
    "Title With Link https://arxiv.org/abs/2401.00001v2",
]
ABSTRACT = (
    "Large deep learning models offer significant accuracy gains, but training billions to trillions of parameters "
    "is challenging. Existing solutions such as data and model parallelisms exhibit fundamental limitations."
)
LINES = TITLES + [
    ABSTRACT, ABSTRACT[:120], "new", "Get trending papers in your email inbox!", "Subscribe",
    "byAK and the research community", "Daily Papers", "May 6", "Feb 29", "Feb 30", "June 10, 2025",
    "Tuesday, June 10", "10 June 2025", "2025-06-10", "2025-02-30", "Published on Jun 9", "Published on Feb 30, 2025",
    "Submitted by akhaliq", "Authors: Ada Lovelace, Alan Turing", "Ada Lovelace, Alan M. Turing and Grace Hopper",
    "· 5 authors", "42", "+3", "Upvote", "Abstract", "Abstract: We study things.", "AI-generated summary",
    "View arXiv page", "https://huggingface.co/papers/2506.01234", "https://arxiv.org/abs/hep-th/9901001",
    "arXiv:2401.00001 [cs.CL]", "2306.06189", "https://github.com/x/y", "-- ", "From the team", "x" * 310, "\ufeff",
    "\x00", "\t \u3000", "<h3>not html here</h3>",
]
SEPARATORS = ["\n", "\n\n", "\r\n", "\r", "\n\n\n", " "]
TEXT_PIECES = [line + separator for line in LINES for separator in SEPARATORS]

HTML_PIECES = [
    "<!DOCTYPE html>", "<html>", "<head>", "<meta charset='windows-1252'>", "<meta charset='no-such'>",
    '<meta http-equiv="Content-Type" content="text/html; charset=utf-16">',
    "<link rel=canonical href='https://huggingface.co/papers?date=2025-06-10'>",
    "<link rel=canonical href='http://[::1'>",
    "<meta property='og:url' content='https://huggingface.co/papers/2506.01234'>", "<base href='https://example.org/'>",
    "<!-- saved from url=(0051)https://huggingface.co/papers/date/2025-02-30 -->", "<body>", "<article>",
    "</article>", "<div>", "</div>", "<h1>", "</h1>", "<h3>", "</h3>", "<p>", "</p>", "<br>", "<br/>", "<pre>",
    "</pre>", "<span>", "</span>", "<a href='/papers/2506.01234'>", "<a href='https://arxiv.org/abs/2401.00001'>",
    "<a href='http://[bad'>", "<a>", "</a>", "<script>", "</script>", "<style>", "<svg/>", "<svg>", "</svg>",
    "<button>", "</button>", "<![CDATA[", "]]>", "<!", "<!-->", "-->", "<?xml?>", "&amp;", "&#0;", "&#xD800;",
    "&nbsp;", "<time>Jun 10</time>", "<li>", "</body>", "</html>", "<",
]
CARDS = [
    f"<article><{tag}>{f'<a href={href!r}>{title}</a>' if href else title}</{tag}>"
    f"<div>{line}</div><p>{abstract}</p></article>"
    for tag, href, title, line, abstract in itertools.product(
        ["h3", "div"],
        ["/papers/2506.01234", "https://arxiv.org/abs/2401.00001", "https://hf.co/papers/x", ""],
        TITLES[:4] + ["", "42", "View arXiv page"],
        ["Submitted by akhaliq", "Published on Jun 9", "Feb 30", "· 5 authors"],
        [ABSTRACT, ABSTRACT[:90] + ".", "", "Short."],
    )
]

_ODD = [None, 0, -1, 1.5, "", "  ", [1], {"a": 1}, "\ud800", True]
RECORDS = [
    json.dumps({"title": title, "abstract": abstract, key: extra})
    for title, abstract, key, extra in itertools.product(
        TITLES[:3] + _ODD[:5],
        [ABSTRACT, "A."] + _ODD[:4],
        ["id", "date", "first_seen", "published", "url", "summary"],
        ["2506.01234", "arXiv:2401.00001", "W1", "2025-06-10", "2025-13-45", "--02-29", "June 12",
         "2025-06-10T08:00:00Z", "https://arxiv.org/abs/2401.00002", None, 7],
    )
]
RECORD_LINES = RECORDS + [record[: len(record) // 2] for record in RECORDS[::7]] + [
    "", "[", "]", "{}", "null", '"\\ud800"', "[" * 3000, "{\"title\": 1e999}", "\x00",
]


def _insert(parts: list[str], extra: str, where: int) -> str:
    """The pieces joined, with one arbitrary string dropped in."""
    return "".join(parts[:where] + [extra] + parts[where:])


def _text() -> st.SearchStrategy[str]:
    return st.builds(_insert, st.lists(st.sampled_from(TEXT_PIECES), max_size=30), st.text(max_size=12),
                     st.integers(0, 30))


def _html() -> st.SearchStrategy[str]:
    pieces = st.sampled_from(CARDS) | st.sampled_from(HTML_PIECES + LINES)
    return st.builds(_insert, st.lists(pieces, max_size=14), st.text(max_size=12), st.integers(0, 14))


def _records() -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(RECORD_LINES), max_size=16).map("\n".join)


def _json() -> st.SearchStrategy[str]:
    """A JSON document of records (array, object with a list, one record), perhaps cut short or with junk in it."""

    def document(records: list[str], shape: int, cut: int, how: int, junk: str) -> str:
        array = "[" + ",\n".join(records) + "]"
        text = [array, array, '{"papers": ' + array + "}", records[0] if records else "{}"][shape]
        cut = min(cut, len(text))
        return [text, text, text[:cut], text[:cut] + junk + text[cut:]][how]

    return st.builds(document, st.lists(st.sampled_from(RECORDS), max_size=10), st.integers(0, 3),
                     st.integers(0, 3000), st.integers(0, 3), st.sampled_from([",", "]", "}", "x", "\n", "[", '"']))


def _part(body: str, subtype: str, cte: str, charset: str) -> bytes:
    data = body.encode(charset if charset in ("utf-8", "iso-8859-7", "koi8-r") else "utf-8", errors="replace")
    if cte == "quoted-printable":
        data = quopri.encodestring(data)
    elif cte == "base64":
        data = base64.encodebytes(data)
    headers = f'Content-Type: text/{subtype}; charset="{charset}"\nContent-Transfer-Encoding: {cte}\n\n'
    return headers.encode() + data


BODIES = ["May 6\n\n" + "\n\n".join(f"{title}\n\n{ABSTRACT}" for title in TITLES[:3]) + "\n-- \nsig\n",
          "Welcome!", "<html><body>" + "".join(CARDS[::97]) + "</body></html>", "<p>nothing</p>", ""]
PARTS = [
    _part(body, subtype, cte, charset)
    for body, subtype, cte, charset in itertools.product(
        BODIES, ["plain", "html", "octet-stream"], ["7bit", "quoted-printable", "base64", "x-uuencode", "bogus"],
        ["utf-8", "iso-8859-7", "us-ascii", "no-such-charset", "utf-16", "rot13", ""],
    )
]


def _mail() -> st.SearchStrategy[bytes]:
    """A MIME message from prepared parts: single, alternative, mixed or forwarded; headers and boundaries odd."""

    def message(parts: list[bytes], date: str, kind: int, boundary: str, cut: int) -> bytes:
        head = f"From: a@example.org\nSubject: Daily Papers\nDate: {date}\nMIME-Version: 1.0\n".encode()
        if kind == 0:
            return head + parts[0][: cut or None]
        inner = b"".join(b"--" + boundary.encode() + b"\n" + part + b"\n" for part in parts)
        inner += b"--" + boundary.encode() + b"--\n"
        subtype = "mixed" if kind == 1 else "alternative"
        multipart = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n'.encode() + inner
        if kind == 3:
            multipart = b"Content-Type: message/rfc822\n\n" + head + multipart
        return head + multipart[: cut or None]

    return st.builds(
        message,
        st.lists(st.sampled_from(PARTS), min_size=1, max_size=3),
        st.sampled_from(["Tue, 10 Jun 2025 07:00:00 +0000", "not a date", "Thu, 01 Jan 10000 00:00:00",
                         "Mon, 32 Foo 2025 99:99:99 +9999", ""]),
        st.integers(0, 3),
        st.sampled_from(["b1", "", "x" * 80, "=_?"]),
        st.sampled_from([0, 0, 0, 50, 300, 1000]),
    )


# -- valid inputs of every format, for mutation -------------------------------------------------------------------


def _valid_inputs() -> dict[str, bytes]:
    digest = BODIES[0].encode()
    page = BODIES[2].encode()
    message = EmailMessage()
    message["From"], message["Subject"], message["Date"] = "a@example.org", "Daily Papers", "Tue, 10 Jun 2025 07:00:00"
    message.set_content(BODIES[0], cte="quoted-printable")
    message.add_alternative(BODIES[2], subtype="html", cte="base64")
    mail = bytes(message).replace(b"\r\n", b"\n")
    records = [json.dumps({"id": f"2506.0{n}", "title": title, "abstract": ABSTRACT, "first_seen": "2025-06-10"})
               for n, title in enumerate(TITLES)]
    return {
        "text": digest,
        "html": page,
        "eml": mail,
        "mbox": b"".join(b"From a@example.org Tue Jun 10 07:00:00 2025\n" + mail + b"\n" for _ in range(3)),
        "json": ("[\n" + ",\n".join(records) + "\n]").encode(),
        "jsonl": ("\n".join(records) + "\n").encode(),
        "jsonl.gz": gzip.compress(("\n".join(records) + "\n").encode()),
    }


VALID = _valid_inputs()
TOKENS = [b"\n", b"\r\n", b"\n\n", b"<", b">", b"</a>", b"<a href='/papers/2506.01234'>", b"<h3>", b"<p>", b'"', b",",
          b"]", b"}", b"{", b"[", b"=", b"=\n", b"=C3", b"--", b"\nFrom ", b"\n>From ", b"\x00", b"\xff", b"\xc3",
          b"May 6", b"Feb 30", b"42", b"Abstract", b"https://arxiv.org/abs/2401.00001", b"&#0;", b"\\u0000", b"\t",
          b"\x1f\x8b", b"Content-Type: multipart/mixed; boundary=b\n", b"charset=koi8-r", b"\xef\xbb\xbf"]


def _mutate(data: bytes, chance: random.Random, count: int) -> bytes:
    """Apply `count` random edits: byte changes, inserted tokens or bytes, deleted or duplicated spans, a cut."""
    buffer = bytearray(data)
    for _ in range(count):
        edit = chance.randrange(6)
        at = chance.randrange(len(buffer) + 1)
        if edit == 0 and buffer:
            buffer[min(at, len(buffer) - 1)] = chance.randrange(256)
        elif edit == 1:
            buffer[at:at] = chance.choice(TOKENS)
        elif edit == 2:
            del buffer[at : at + chance.randrange(1, 64)]
        elif edit == 3:
            start = chance.randrange(len(buffer) + 1)
            buffer[at:at] = buffer[start : start + chance.randrange(1, 256)]
        elif edit == 4:
            del buffer[at:]
        else:
            buffer[at:at] = bytes(chance.randrange(256) for _ in range(chance.randrange(1, 8)))
    return bytes(buffer)


# -- the checks -------------------------------------------------------------------------------------------------


def _check(read: Callable[[], object], source: str) -> None:
    """Run a reader: it returns well-formed digests or raises a semsearch error naming `source`, nothing else."""
    try:
        result = read()
    except SemsearchError as exc:
        message = str(exc)
        assert source in message and "\n" not in message, message
        return
    digests = result if isinstance(result, list) else [result]
    for digest in digests:
        assert isinstance(digest, Digest) and source in digest.source and digest.papers
        for paper in digest.papers:
            assert paper.title.strip() and paper.abstract.strip() and "\n" not in paper.title + paper.abstract
            assert paper.line >= 1 and source in paper.source
            assert paper.date is None or _DATE.fullmatch(paper.date), paper.date
            assert paper.arxiv_id is None or normalize_arxiv_id(paper.arxiv_id) == paper.arxiv_id
        assert all(source in warning and "\n" not in warning for warning in digest.warnings)


def _read_in_memory(format: str, data: bytes, source: str) -> object:
    if format == "text":
        return parse_digest_text(data.decode("utf-8", errors="replace"), source)
    if format == "html":
        return parse_html(data.decode("utf-8", errors="replace"), source)
    if format == "eml":
        return parse_message(data, source)
    if format == "json":
        return read_json(bytes_opener(data), source)
    return read_jsonl(bytes_opener(data), source)


@settings(max_examples=2000, **_SETTINGS)
@given(_text())
def test_fuzz_digest_text(text: str) -> None:
    _check(lambda: parse_digest_text(text, "fuzz.txt"), "fuzz.txt")


@settings(max_examples=1500, **_SETTINGS)
@given(_html())
def test_fuzz_html(text: str) -> None:
    _check(lambda: parse_html(text, "fuzz.html"), "fuzz.html")


@settings(max_examples=1000, **_SETTINGS)
@given(_records(), st.booleans())
def test_fuzz_jsonl(text: str, compress: bool) -> None:
    data = text.encode("utf-8", errors="surrogatepass")
    data = gzip.compress(data)[: len(data) * 3 // 4 or None] if compress else data
    _check(lambda: read_jsonl(bytes_opener(data), "fuzz.jsonl"), "fuzz.jsonl")


@settings(max_examples=1000, **_SETTINGS)
@given(_json())
def test_fuzz_json(text: str) -> None:
    data = text.encode("utf-8", errors="surrogatepass")
    _check(lambda: read_json(bytes_opener(data), "fuzz.json"), "fuzz.json")


@settings(max_examples=1000, **_SETTINGS)
@given(_mail())
def test_fuzz_mail(data: bytes) -> None:
    _check(lambda: parse_message(data, "fuzz.eml"), "fuzz.eml")


@settings(max_examples=3000, **_SETTINGS)
@given(st.sampled_from(["text", "html", "eml", "json", "jsonl", "jsonl.gz"]), st.randoms(use_true_random=False),
       st.integers(1, 12))
def test_fuzz_mutated_valid_inputs(format: str, chance: random.Random, edits: int) -> None:
    data = _mutate(VALID[format], chance, edits)
    reader = "jsonl" if format == "jsonl.gz" else format
    _check(lambda: _read_in_memory(reader, data, "fuzz-input"), "fuzz-input")


@pytest.fixture(scope="module")
def fuzz_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="semsearch-fuzz-") as folder:
        yield Path(folder)


NAMES = {"text": "digest.txt", "html": "page", "eml": "mail.eml", "mbox": "box.mbox", "json": "p.json",
         "jsonl": "p.jsonl", "jsonl.gz": "p.jsonl.gz"}


@settings(max_examples=1000, **_SETTINGS)
@given(st.sampled_from(sorted(VALID)), st.randoms(use_true_random=False), st.integers(0, 12),
       st.sampled_from([None, None, None, *FORMATS]), st.booleans())
def test_fuzz_files_and_folders(fuzz_dir: Path, kind: str, chance: random.Random, edits: int, format: str | None,
                                as_folder: bool) -> None:
    """Through the front door: detection, folder scanning, gzip, the mailbox reader."""
    data = _mutate(VALID[kind], chance, edits)
    sniff(data[:65536], NAMES[kind])
    folder = fuzz_dir / "in"
    folder.mkdir(exist_ok=True)
    target = folder / NAMES[kind]
    target.write_bytes(data)
    try:
        _check(lambda: read_digests([folder if as_folder else target], format=format), str(folder))
    finally:
        target.unlink()
