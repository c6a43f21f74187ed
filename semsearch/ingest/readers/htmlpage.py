"""Saved web pages and HTML e-mails: paper cards (a title linked to its paper, upvotes, authors, an abstract).

The page is read with the standard library's HTML parser into a flat list of text blocks (one per paragraph-like
element), each knowing its source line, whether it is a heading and which paper links it holds. Papers are then
found three ways, the first that yields any winning: titles that link to a paper (huggingface.co/papers/<id>,
arxiv.org/abs/<id>), else headings followed by an abstract (a paper's own page), else the page's text read as a
digest.
"""

from __future__ import annotations

import datetime
import email.message
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

from semsearch.errors import DigestError
from semsearch.ingest.readers.dates import DateContext
from semsearch.ingest.readers.layout import (
    TITLE_MAX,
    Kind,
    classify,
    is_digest_marker,
    looks_like_abstract,
    looks_like_author_list,
    looks_like_title,
    strip_abstract_label,
)
from semsearch.ingest.readers.raw import Line, Opener, candidate_encodings, decode, file_opener, read_limited
from semsearch.ingest.readers.records import Digest, DigestCollector, DigestPaper, NotADigestError, shorten
from semsearch.ingest.readers.text import parse_lines, published_date
from semsearch.keys import find_arxiv_id

_MAX_PAGE = 64 << 20  # a saved daily page is a few MB
_MAX_BLOCK = 1 << 20  # characters of text kept per block
# Relative links on a saved Hugging Face page ("/papers/2506.01234") resolve against the site they came from.
_DEFAULT_BASE = "https://huggingface.co/"
_BLOCK_TAGS = frozenset(
    """address article aside blockquote body caption center dd details dialog div dl dt fieldset figcaption figure
    footer form header hgroup hr html li main nav ol p pre section summary table tbody td tfoot th thead tr ul
    h1 h2 h3 h4 h5 h6""".split()
)
_HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())
# Elements whose content is never prose a reader sees as part of a card.
_SKIP_TAGS = frozenset("script style noscript template svg title button select textarea annotation".split())
_NOT_TITLES = frozenset(
    """read the paper|view paper|open paper|see paper|paper|discuss|discussion|view on arxiv|arxiv page|
    hugging face page|view on hugging face|abstract|comments|community""".replace("\n", "").split("|")
)


@dataclass
class _Block:
    """The text of one paragraph-like element."""

    line: int
    heading: bool = False
    parts: list[tuple[int, str]] = field(default_factory=list)  # (source line, text); "\n" where a line breaks
    links: list[tuple[str, str]] = field(default_factory=list)  # (arXiv id, the link's text within this block)
    size: int = 0

    @property
    def text(self) -> str:
        """The block's text on one line."""
        return " ".join("".join(text for _, text in self.parts).split())

    def lines(self) -> list[Line]:
        """The block's lines as <br> and <pre> break them (blank ones too), each with its source line."""
        lines: list[Line] = []
        current: list[str] = []
        start: int | None = None
        for line, text in self.parts:
            for offset, piece in enumerate(text.split("\n")):
                if offset:
                    lines.append((start or line, " ".join("".join(current).split())))
                    current, start = [], None
                if piece.strip() and start is None:
                    start = line + offset
                current.append(piece)
        lines.append((start or self.line, " ".join("".join(current).split())))
        return lines


class _PageReader(HTMLParser):
    """Collects blocks, paper links, the page's own address (for its date) and its declared charset."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[_Block] = []
        self.addresses: list[str] = []
        self.base = _DEFAULT_BASE
        self._current: _Block | None = None
        self._skipping: str | None = None
        self._skip_depth = 0
        self._headings = 0
        self._pre = 0
        self._link_id: str | None = None
        self._link_text: list[str] = []

    # -- parser events ---------------------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skipping is not None:
            self._skip_depth += tag == self._skipping
            return
        if tag in _SKIP_TAGS:
            self._skipping, self._skip_depth = tag, 1
            return
        values = {name: value or "" for name, value in attrs}
        if tag == "a":
            self._end_link()
            self._link_id = self._paper_id(values.get("href", ""))
        elif tag == "br":
            self._add("\n")
        elif tag in ("base", "link", "meta"):
            self._page_address(tag, values)
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag in _HEADINGS:
            self._headings += 1
        elif tag == "pre":
            self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if self._skipping is not None:
            if tag == self._skipping:
                self._skip_depth -= 1
                if self._skip_depth <= 0:
                    self._skipping = None
            return
        if tag == "a":
            self._end_link()
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag in _HEADINGS:
            self._headings = max(0, self._headings - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if self._skipping is None:
            self._add(data if self._pre else data.replace("\n", " "))

    def handle_comment(self, data: str) -> None:
        # Browsers mark saved pages with "saved from url=(0051)https://huggingface.co/papers?date=2025-06-10".
        marker = "saved from url="
        if marker in data:
            address = data.split(marker, 1)[1].strip()
            self.addresses.append(address.split(")", 1)[-1].split()[0] if address else "")

    def close(self) -> None:
        super().close()
        self.finish()

    def finish(self) -> None:
        """Keep the block in progress (also when parsing stopped early)."""
        self._flush()

    # -- helpers ---------------------------------------------------------------------------------------------

    def _add(self, text: str) -> None:
        if self._current is None:
            if not text.strip():
                return
            self._current = _Block(self.getpos()[0])
        block = self._current
        if block.size >= _MAX_BLOCK:
            return
        block.parts.append((self.getpos()[0], text))
        block.size += len(text)
        block.heading = block.heading or self._headings > 0
        if self._link_id is not None:
            self._link_text.append(text)

    def _flush(self) -> None:
        self._end_link(keep_open=True)
        if self._current is not None and self._current.text:
            self.blocks.append(self._current)
        self._current = None

    def _end_link(self, keep_open: bool = False) -> None:
        """Record the open link's text in the current block; a block boundary inside a link keeps it open."""
        if self._link_id is not None and self._current is not None:
            text = " ".join("".join(self._link_text).split())
            if text:
                self._current.links.append((self._link_id, text))
        self._link_text = []
        if not keep_open:
            self._link_id = None

    def _paper_id(self, href: str) -> str | None:
        try:
            return find_arxiv_id(urljoin(self.base, href.strip()))
        except ValueError:  # a malformed address (e.g. a bad IPv6 host)
            return None

    def _page_address(self, tag: str, values: dict[str, str]) -> None:
        if tag == "base" and values.get("href"):
            self.base = urljoin(_DEFAULT_BASE, values["href"]) if _safe_url(values["href"]) else self.base
        elif tag == "link" and "canonical" in values.get("rel", "").lower().split():
            self.addresses.append(values.get("href", ""))
        elif tag == "meta" and values.get("property", values.get("name", "")).lower() in ("og:url", "twitter:url"):
            self.addresses.append(values.get("content", ""))


class _CharsetReader(HTMLParser):
    """Finds the charset a page declares in <meta charset> or <meta http-equiv="Content-Type">."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.charset: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "meta" or self.charset:
            return
        values = {name: value or "" for name, value in attrs}
        if values.get("charset"):
            self.charset = values["charset"]
        elif values.get("http-equiv", "").lower() == "content-type":
            header = email.message.Message()
            header["Content-Type"] = values.get("content", "")
            self.charset = header.get_content_charset()


def read_html_file(path: Path, source: str, default_date: datetime.date | None = None) -> Digest:
    """Read a saved page (gzip or not, up to 64 MiB), in its declared charset, else UTF-8, else cp1252."""
    opener, _ = file_opener(path)
    return read_html(opener, source, default_date)


def read_html(opener: Opener, source: str, default_date: datetime.date | None = None) -> Digest:
    """Read a page's bytes (up to 64 MiB), in its declared charset, else UTF-8, else cp1252."""
    data = read_limited(opener, source, _MAX_PAGE, "saved page")
    return parse_html(decode_html(data, source), source, default_date)


def decode_html(data: bytes, source: str, declared: str | None = None) -> str:
    """The text of a page's bytes: a BOM, else the charset given (an e-mail's) or declared in the page, else UTF-8."""
    if declared is None:
        finder = _CharsetReader()
        _feed(finder, data[:16384].decode("latin-1"))
        declared = finder.charset
    return decode(data, source, candidate_encodings(data[:4], declared))


def parse_html(
    text: str, source: str, default_date: datetime.date | None = None, reference: datetime.date | None = None
) -> Digest:
    """The papers of an HTML page; `reference` (an e-mail's date) helps place a date without a year."""
    reader = _PageReader()
    _feed(reader, text)
    page_date = _page_date(reader.addresses)
    dates = DateContext(source, default_date, page_date or reference)
    page_id = next((found for found in map(_address_id, reader.addresses) if found), None)
    blocks = reader.blocks
    first_error: DigestError | None = None
    for titles in (_linked_titles(blocks), _heading_titles(blocks)):
        if not titles:
            continue
        try:
            return _Cards(source, dates, blocks, titles, page_id).digest()
        except NotADigestError as exc:
            # Linked titles without abstracts are a list page, worth saying so; headings prove little.
            first_error = first_error or (exc if titles[0][2] is not None else None)
    if not any(is_digest_marker(text) for block in blocks for _, text in block.lines()):
        raise first_error or NotADigestError(
            source, None, "no paper cards on this page (titles linked to their papers, each with its abstract)"
        )
    try:
        return parse_lines(_as_lines(blocks), source, dates)
    except DigestError as exc:
        if first_error is not None:
            raise first_error from exc
        raise NotADigestError(
            source, exc.line, f"no paper cards on this page, and its text does not read as a digest: {exc.problem}"
        ) from exc


def _feed(parser: HTMLParser, text: str) -> None:
    try:
        parser.feed(text)
        parser.close()
    except AssertionError:
        # html.parser asserts on a few malformed declarations; what it read up to there stands.
        if isinstance(parser, _PageReader):
            parser.finish()


# -- finding papers -----------------------------------------------------------------------------------------------


def _linked_titles(blocks: list[_Block]) -> list[tuple[int, str, str | None]]:
    """(block index, title, arXiv id) for each link to a paper whose text reads as a title."""
    titles: list[tuple[int, str, str | None]] = []
    for index, block in enumerate(blocks):
        for arxiv_id, text in block.links:
            if _reads_as_title(text) and not (titles and titles[-1][2] == arxiv_id):
                # A card often links its title twice (image and heading): the first stands.
                titles.append((index, text, arxiv_id))
                break
    return titles


def _heading_titles(blocks: list[_Block]) -> list[tuple[int, str, str | None]]:
    """(block index, title, None) for each heading that reads as a title."""
    return [
        (index, block.text, None) for index, block in enumerate(blocks) if block.heading and _reads_as_title(block.text)
    ]


def _opens_an_abstract(text: str) -> bool:
    """Prose long enough to start an abstract (the shortest real one has 91 characters); a card's other lines
    ("Submitted by", author names, counts) never are."""
    return len(text) >= 200 or (len(text) >= 80 and text.endswith("."))


def _reads_as_title(text: str) -> bool:
    return (
        2 <= len(text) < TITLE_MAX
        and any(ch.isalpha() for ch in text)
        and looks_like_title(text)
        and classify(text) is Kind.TEXT
        and text.casefold() not in _NOT_TITLES
        and not looks_like_author_list(text)
    )


class _Cards:
    """Papers from title blocks and the blocks between them (upvotes, authors, dates, the abstract)."""

    def __init__(
        self,
        source: str,
        dates: DateContext,
        blocks: list[_Block],
        titles: list[tuple[int, str, str | None]],
        page_id: str | None,
    ) -> None:
        self.source = source
        self.dates = dates
        self.blocks = blocks
        self.titles = titles
        self.page_id = page_id if len(titles) == 1 else None
        self.collector = DigestCollector(source)
        self.date: str | None = None

    def digest(self) -> Digest:
        """The papers of the cards; raises when no card has an abstract."""
        for index, _, _ in self.titles[:1]:
            self._dates_in(self.blocks[:index])
        for number, (index, title, arxiv_id) in enumerate(self.titles):
            end = self.titles[number + 1][0] if number + 1 < len(self.titles) else len(self.blocks)
            self._card(index, title, arxiv_id, self.blocks[index + 1 : end])
        if not len(self.collector):
            raise NotADigestError(
                self.source,
                self.blocks[self.titles[0][0]].line,
                f"found {len(self.titles)} paper titles but no abstracts (a list page without abstracts?); "
                "save the e-mail digest or the papers' own pages instead",
            )
        return self.collector.build()

    def _dates_in(self, blocks: list[_Block]) -> None:
        for block in blocks:
            if classify(block.text) is Kind.DATE:
                self.date = self.dates.resolve(block.line, block.text)

    def _card(self, index: int, title: str, arxiv_id: str | None, content: list[_Block]) -> None:
        title_block = self.blocks[index]
        date = self.date
        published = None
        found_id = None
        parts: list[str] = []
        ended = skip_summary = False
        remainder = title_block.text.replace(title, "", 1).strip() if title != title_block.text else ""
        pieces = ([(title_block, remainder)] if remainder else []) + [(block, block.text) for block in content]
        for block, text in pieces:
            # Only a link that says it is the paper's ("View arXiv page", "arXiv:2506.01234") identifies it.
            found_id = found_id or next(
                (linked for linked, label in block.links if classify(label) in (Kind.LINK, Kind.META)), None
            )
            kind = classify(text)
            if kind is Kind.DATE:
                self.date = self.dates.resolve(block.line, text)  # a later day's cards
            elif kind is Kind.PUBLISHED:
                published = published or self._published(block.line, text)
            elif kind is Kind.ABSTRACT_LABEL:
                parts, ended = [], False
            elif kind is Kind.SUMMARY_LABEL:
                skip_summary = True
            elif kind in (Kind.META, Kind.HEADER, Kind.LINK):
                ended = ended or bool(parts)
            elif skip_summary:
                skip_summary = False
            elif not ended and not looks_like_author_list(text):
                if _opens_an_abstract(text) or (parts and looks_like_abstract(text)):
                    parts.append(text)
                elif parts:
                    ended = True
        if not parts:
            self.collector.warn(title_block.line, f"'{shorten(title)}' has no abstract on this page; skipped")
            return
        abstract = strip_abstract_label(" ".join(parts))
        paper_id = arxiv_id or self.page_id or found_id
        self.collector.add(
            DigestPaper(" ".join(title.split()), abstract, date or self.dates.fallback or published, self.source,
                        title_block.line, paper_id)
        )

    def _published(self, line: int, text: str) -> str | None:
        return published_date(self.dates, self.collector, line, text)


def _as_lines(blocks: list[_Block]) -> list[Line]:
    """The page as digest text: each block's lines, its paper links, then a blank line."""
    lines: list[Line] = []
    for block in blocks:
        lines.extend(block.lines())
        lines.extend((block.line, f"https://arxiv.org/abs/{arxiv_id}") for arxiv_id, _ in block.links[:1])
        lines.append((block.line, ""))
    return lines


# -- the page's own address ---------------------------------------------------------------------------------------


def _safe_url(address: str) -> bool:
    try:
        urlsplit(address)
    except ValueError:
        return False
    return True


def _page_date(addresses: list[str]) -> datetime.date | None:
    """The day a saved daily page shows, from its address (".../papers?date=2025-06-10" or ".../date/2025-06-10")."""
    for address in addresses:
        if not _safe_url(address):
            continue
        parts = urlsplit(address)
        candidates = parse_qs(parts.query).get("date", [])
        segments = [segment for segment in parts.path.split("/") if segment]
        candidates += [segments[i + 1] for i, segment in enumerate(segments[:-1]) if segment == "date"]
        for candidate in candidates:
            try:
                return datetime.date.fromisoformat(candidate)
            except ValueError:
                continue
    return None


def _address_id(address: str) -> str | None:
    """The arXiv id of a page that is one paper's page."""
    return find_arxiv_id(address) if _safe_url(address) else None

