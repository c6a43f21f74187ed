"""The digest text layout: a page header, a date line, then a title and an abstract paragraph per paper.

Read as a stream of paragraphs with a little lookahead, so a file of any size parses in bounded memory (beyond the
papers themselves). Real pages and copy-pastes carry more than titles and abstracts: upvote counts, author lines,
"Submitted by" lines, "Published on" dates, numbered titles and arXiv or Hugging Face links; those are recognized
and either used (ids, dates) or skipped, and never become a title or an abstract (`layout.is_chrome`). A paper block
that cannot be read (a title without an abstract, prose where a title belongs) is skipped with a warning naming its
line; only a file where no paper can be read is an error.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

from semsearch.errors import DigestError
from semsearch.ingest.readers.dates import DateContext, parse_date_line, published_date_text
from semsearch.ingest.readers.layout import (
    TITLE_MAX,
    Kind,
    classify,
    ends_sentence,
    is_boilerplate,
    link_arxiv_id,
    looks_like_abstract,
    looks_like_author_list,
    looks_like_title,
    reads_as_sentence,
    split_title,
    strip_abstract_label,
)
from semsearch.ingest.readers.raw import Line, Opener, nul_error, split_lines, with_encodings
from semsearch.ingest.readers.records import Digest, DigestCollector, DigestPaper, NotADigestError, shorten
from semsearch.ingest.readers.sniff import EMPTY

EXPECTED = "expected a date line such as 'May 6' followed by title and abstract paragraphs"
_MAX_PARAGRAPH = 1 << 20  # characters; the longest real abstract has about 4,000
# Page chrome before the first date line is skipped; a file that has none starts with its papers.
_PREAMBLE_PARAGRAPHS = 10_000
# How far to look past metadata-only paragraphs when deciding whether an abstract follows.
_LOOKAHEAD = 64
# Card lines that may sit between a title and its abstract, and carry nothing the paper keeps.
_SKIPPED = (Kind.META, Kind.HEADER, Kind.ABSTRACT_LABEL)

_Block = list[Line]  # a paragraph: consecutive non-blank lines, stripped


def parse_text(text: str, source: str, dates: DateContext, footer: bool = False) -> Digest:
    """Parse digest text held in memory; with `footer`, short lines after the last abstract (an e-mail's sign-off)
    are skipped with a warning rather than taken for a title that lacks its abstract."""
    if "\x00" in text:
        raise nul_error(source, text.removeprefix("\ufeff"))
    return parse_lines(split_lines(text), source, dates, footer)


def read_text(opener: Opener, source: str, dates: DateContext, encodings: list[str]) -> Digest:
    """Parse a digest file as it streams, trying each encoding in turn."""
    return with_encodings(opener, source, encodings, lambda lines: parse_lines(lines, source, dates))


def parse_lines(lines: Iterable[Line], source: str, dates: DateContext, footer: bool = False) -> Digest:
    """Parse numbered lines (the numbers are what errors and papers report)."""
    return _Parser(source, dates, footer).parse(lines)


def collapse(lines: Iterable[Line]) -> str:
    """The lines joined into one single-spaced string."""
    return " ".join(" ".join(text for _, text in lines).split())


class _Paragraphs:
    """Paragraphs read lazily, with lookahead and push-back."""

    def __init__(self, paragraphs: Iterator[_Block]) -> None:
        self._source = paragraphs
        self._ahead: deque[_Block] = deque()

    def peek(self, index: int = 0) -> _Block | None:
        """The paragraph `index` places ahead, without taking it."""
        while len(self._ahead) <= index:
            block = next(self._source, None)
            if block is None:
                return None
            self._ahead.append(block)
        return self._ahead[index]

    def next(self) -> _Block | None:
        """Take the next paragraph."""
        return self._ahead.popleft() if self._ahead else next(self._source, None)

    def push(self, block: _Block) -> None:
        """Put a paragraph back in front."""
        self._ahead.appendleft(block)


class _Parser:
    """One pass over a digest's paragraphs; holds the current date and ids that wait for their paper."""

    def __init__(self, source: str, dates: DateContext, footer: bool = False) -> None:
        self.source = source
        self.dates = dates
        self.footer = footer
        self.collector = DigestCollector(source)
        self.date: str | None = None
        self.last_line: int | None = None
        self.pending_id: str | None = None
        self.pending_published: str | None = None
        self.last_added = False
        # Whether stray link lines precede their paper (True) or follow its abstract (False); set by the first one.
        self.links_lead: bool | None = None

    def parse(self, lines: Iterable[Line]) -> Digest:
        """The digest the lines hold."""
        paragraphs = _Paragraphs(self._paragraphs(lines))
        self._skip_preamble(paragraphs)
        first_problem: tuple[int | None, str] | None = None
        while (block := paragraphs.next()) is not None:
            rest = self._where_a_title_belongs(block)
            if not rest:
                continue
            try:
                self._paper(rest, paragraphs)
            except NotADigestError:
                raise
            except DigestError as exc:
                # One unreadable paper block costs that block, not the papers around it.
                # Kept as values: holding the exception would tie its frames (and the file's text) into a cycle.
                first_problem = first_problem or (exc.line, exc.problem)
                self.collector.warn(exc.line, f"{exc.problem}; skipped this block, read the rest", always=True)
        if not len(self.collector):
            if first_problem is not None:
                raise DigestError(self.source, *first_problem)
            if self.last_line is None:
                raise NotADigestError(self.source, None, EMPTY)
            raise NotADigestError(self.source, self.last_line, f"no papers found: {EXPECTED}")
        return self.collector.build()

    # -- reading -------------------------------------------------------------------------------------------------

    def _paragraphs(self, lines: Iterable[Line]) -> Iterator[_Block]:
        current: _Block = []
        size = 0
        for number, text in lines:
            stripped = text.strip()
            if stripped:
                self.last_line = number
                current.append((number, stripped))
                size += len(stripped)
                if size > _MAX_PARAGRAPH:
                    raise NotADigestError(self.source, current[0][0], "a paragraph over 1 MiB long; no digest has one")
            elif current:
                yield current
                current, size = [], 0
        if current:
            yield current

    def _skip_preamble(self, paragraphs: _Paragraphs) -> None:
        """Drop the page chrome before the first date line, if a date line comes before the first abstract."""
        buffered: list[_Block] = []
        while len(buffered) < _PREAMBLE_PARAGRAPHS:
            block = paragraphs.next()
            if block is None:
                break
            for index, (_, text) in enumerate(block):
                if parse_date_line(text) is not None:
                    paragraphs.push(block[index:])
                    return
            buffered.append(block)
            if looks_like_abstract(collapse(block)):
                break
        for block in reversed(buffered):
            paragraphs.push(block)

    # -- papers --------------------------------------------------------------------------------------------------

    def _where_a_title_belongs(self, block: _Block) -> _Block:
        """Use up the date lines, links and card lines that lead a paragraph; return what is left."""
        for index, (number, text) in enumerate(block):
            kind = classify(text)
            if kind is Kind.DATE:
                self.date = self.dates.resolve(number, text)
            elif kind is Kind.PUBLISHED:
                self.pending_published = self._published(number, text)
            elif kind is Kind.LINK:
                self._stray_link(link_arxiv_id(text))
            elif kind not in _SKIPPED and kind is not Kind.SUMMARY_LABEL and not looks_like_author_list(text, 3):
                return block[index:]
        return []

    def _stray_link(self, arxiv_id: str | None) -> None:
        """A link where a title belongs: it goes with the paper before it or the one after, as the file's first did."""
        if arxiv_id is None:
            return
        last = self.collector.last
        if self.links_lead is None:
            self.links_lead = last is None or last.arxiv_id is not None or not self.last_added
        if not self.links_lead and self.last_added and self.collector.set_arxiv_id(arxiv_id):
            return
        self.pending_id = self.pending_id or arxiv_id

    def _paper(self, block: _Block, paragraphs: _Paragraphs) -> None:
        """The paper whose title starts `block`; its abstract is the rest of the block or the next paragraph."""
        line, first = block[0]
        if len(first) >= TITLE_MAX:
            raise DigestError(
                self.source,
                line,
                f"expected a paper title here but found a paragraph of {len(first)} characters; "
                "is this paragraph missing its title line, or the paper above missing its abstract?",
            )
        if reads_as_sentence(first):
            raise DigestError(
                self.source,
                line,
                f"expected a paper title here but found a sentence ('{shorten(first, 40)}'); "
                "is this paragraph missing its title line, or the paper above missing its abstract?",
            )
        title, arxiv_id = split_title(first)
        arxiv_id = arxiv_id or self.pending_id
        published, self.pending_id, self.pending_published = self.pending_published, None, None
        rest: _Block = []
        for number, text in block[1:]:
            kind = classify(text)
            if kind is Kind.LINK:
                arxiv_id = arxiv_id or link_arxiv_id(text)
            elif kind is Kind.PUBLISHED:
                published = published or self._published(number, text)
            elif kind in _SKIPPED or kind is Kind.SUMMARY_LABEL or looks_like_author_list(text, min_names=3):
                continue
            else:
                rest.append((number, text))
        abstract = None
        if rest:
            text = collapse(rest)
            if looks_like_abstract(text):
                abstract = strip_abstract_label(text)  # the blank line between title and abstract was lost
            else:
                title = f"{title} {text}"  # a title wrapped over several lines
        title = " ".join(title.split())
        if abstract is None:
            found = self._abstract(title, line, paragraphs)
            if found is None:
                return
            found_id, found_published, abstract = found
            arxiv_id = arxiv_id or found_id
            published = published or found_published
        date = self.date or self.dates.fallback or published
        self.last_added = self.collector.add(DigestPaper(title, abstract, date, self.source, line, arxiv_id))

    def _abstract(self, title: str, line: int, paragraphs: _Paragraphs) -> tuple[str | None, str | None, str] | None:
        """Find the abstract after a title paragraph: the arXiv id and date met on the way, and the abstract; None
        for the footer of an e-mail."""
        arxiv_id = published = None
        skip_summary = False
        # Card paragraphs are only looked at until the abstract is found: when there is none, they stay for the
        # next paper (its link may be among them).
        offset = 0
        while True:
            block = paragraphs.peek(offset)
            if block is None:
                if self.footer and len(self.collector):
                    problem = f"'{shorten(title)}' ends the mail without an abstract: taken for its footer"
                    self.collector.warn(line, problem)
                    return None
                raise DigestError(
                    self.source,
                    line,
                    f"the title '{shorten(title)}' has no abstract: the file ends after it; "
                    "add its abstract paragraph after a blank line, or remove the title",
                )
            found_id, found_published, summary, remaining = self._card_lines(block)
            arxiv_id, published = arxiv_id or found_id, published or found_published
            if not remaining or skip_summary or summary:
                # An AI-written summary (a label, then its paragraph) comes before the real abstract on paper pages.
                skip_summary = summary and not remaining
                offset += 1
                if offset > _LOOKAHEAD:
                    # A long run of card lines is taken as this paper's, to keep the lookahead bounded.
                    paragraphs.next()
                    offset -= 1
                continue
            break
        start = remaining[0]
        followed_by_abstract = self._abstract_follows(paragraphs, offset)
        if parse_date_line(start[1]) is not None or (
            len(remaining) == 1 and looks_like_title(start[1]) and followed_by_abstract
        ):
            raise DigestError(
                self.source,
                line,
                f"the title '{shorten(title)}' has no abstract: the next paragraph (line {start[0]}) "
                "looks like another title or a date; add the abstract after the title, separated by blank lines",
            )
        # Card buttons and the paper's own link may trail the abstract; a code or project link stays, as it is
        # part of many abstracts.
        remaining = list(remaining)
        while len(remaining) > 1:
            trailing = remaining[-1][1]
            kind = classify(trailing)
            trailing_id = link_arxiv_id(trailing) if kind is Kind.LINK else None
            if not (kind in _SKIPPED or kind is Kind.PUBLISHED or trailing_id or looks_like_author_list(trailing, 3)):
                break
            before = remaining[-2][1]
            lone_word = len(trailing.split()) == 1 and any(ch.isalpha() for ch in trailing)
            if lone_word and not trailing_id and not is_boilerplate(trailing) and not (
                ends_sentence(before) or _is_card_line(before)
            ):
                break  # a lone word after an unfinished sentence is the abstract's last word ("... and inference")
            arxiv_id = arxiv_id or trailing_id
            remaining.pop()
        abstract = strip_abstract_label(collapse(remaining))
        if not looks_like_abstract(abstract):
            # Never an abstract made of another title or a page's footer: the title is skipped instead.
            raise DigestError(
                self.source,
                line,
                f"the title '{shorten(title)}' has no abstract: the next paragraph (line {start[0]}, "
                f"'{shorten(abstract, 40)}') does not read as one (an abstract is prose of several sentences)",
            )
        for _ in range(offset + 1):
            paragraphs.next()
        return arxiv_id, published, abstract

    def _card_lines(self, block: _Block) -> tuple[str | None, str | None, bool, _Block]:
        """Strip the card lines that lead a paragraph after a title: (arXiv id, date, summary label?, rest)."""
        arxiv_id = published = None
        for index, (number, text) in enumerate(block):
            kind = classify(text)
            if kind is Kind.LINK:
                arxiv_id = arxiv_id or link_arxiv_id(text)
            elif kind is Kind.PUBLISHED:
                published = published or self._published(number, text)
            elif kind is Kind.SUMMARY_LABEL:
                return arxiv_id, published, True, block[index + 1 :]
            elif kind not in _SKIPPED and not looks_like_author_list(text):
                return arxiv_id, published, False, block[index:]
        return arxiv_id, published, False, []

    def _abstract_follows(self, paragraphs: _Paragraphs, offset: int = 0) -> bool:
        """Whether the first paragraph with content after the one `offset` places ahead reads like an abstract."""
        for index in range(offset + 1, offset + _LOOKAHEAD):
            block = paragraphs.peek(index)
            if block is None:
                return False
            remaining = self._card_lines_quietly(block)
            if remaining:
                return looks_like_abstract(collapse(remaining))
        return False

    def _card_lines_quietly(self, block: _Block) -> _Block:
        for index, (_, text) in enumerate(block):
            kind = classify(text)
            if kind not in _SKIPPED and kind not in (Kind.LINK, Kind.PUBLISHED, Kind.SUMMARY_LABEL) and not (
                looks_like_author_list(text)
            ):
                return block[index:]
        return []

    def _published(self, line: int, text: str) -> str | None:
        return published_date(self.dates, self.collector, line, text)


def _is_card_line(text: str) -> bool:
    """A line a paper card carries besides its title and abstract: chrome, a date, a link, an author list."""
    return classify(text) in (*_SKIPPED, Kind.PUBLISHED, Kind.LINK) or looks_like_author_list(text, 3)


def published_date(dates: DateContext, collector: DigestCollector, line: int, text: str) -> str | None:
    """The date of a "Published on" line; an impossible one is a warning, not an error."""
    date_text = published_date_text(text)
    if date_text is None:
        return None
    try:
        return dates.resolve(line, date_text)
    except DigestError as exc:
        collector.warn(line, f"{exc.problem}; the date is ignored")
        return None
