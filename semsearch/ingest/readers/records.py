"""The records every reader produces (DigestPaper, Digest) and the collector that dedups papers and keeps warnings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from semsearch.errors import DigestError
from semsearch.keys import normalize_title

# Past this many warnings about one digest, the rest are only counted: a file of 80,000 bad records must not
# bury the terminal.
_WARNINGS_SHOWN = 10


@dataclass(frozen=True)
class DigestPaper:
    """One paper entry of a digest. Readers leave `key` unset (the index derives one from the title); records built
    in memory may set it, and are then identified by it alone (e.g. a BEIR corpus, keyed by document id)."""

    title: str
    abstract: str
    date: str | None
    source: str
    line: int
    arxiv_id: str | None = None
    key: str | None = None
    # The names the source gives (JSON records; pages are not mined for them); empty when it gives none.
    authors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Digest:
    """The papers of one digest, in input order, with the dates it gives them and the problems it skipped."""

    source: str
    dates: tuple[str, ...]
    papers: tuple[DigestPaper, ...]
    warnings: tuple[str, ...] = ()


class NotADigestError(DigestError):
    """The input holds no papers at all (empty, binary, no records); a folder scan skips such a file with a warning."""


def location(source: str, line: int | None) -> str:
    """`source:line`, or just the source when the line is unknown."""
    return f"{source}:{line}" if line is not None else source


def shorten(text: str, limit: int = 60) -> str:
    """The text cut to `limit` characters with an ellipsis, for messages."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DigestCollector:
    """Gathers one digest's papers: the first entry of a paper stands, later duplicates become warnings."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._papers: list[DigestPaper] = []
        self._by_arxiv: dict[str, int] = {}
        self._by_title: dict[str, int] = {}
        self._warnings: list[str] = []
        self._hidden = 0

    def __len__(self) -> int:
        return len(self._papers)

    def warn(self, line: int | None, problem: str, always: bool = False) -> None:
        """Record a problem that cost a record (or a detail) but not the digest; past ten, only `always` ones show."""
        if always or len(self._warnings) < _WARNINGS_SHOWN:
            self._warnings.append(f"{location(self.source, line)}: {problem}")
        else:
            self._hidden += 1

    def add(self, paper: DigestPaper) -> bool:
        """Add a paper unless the digest already holds it (same arXiv id, or same title without a conflicting id)."""
        if paper.arxiv_id is not None and paper.arxiv_id in self._by_arxiv:
            first = self._papers[self._by_arxiv[paper.arxiv_id]]
            self._duplicate(paper, first, f"arXiv {paper.arxiv_id}")
            return False
        title = normalize_title(paper.title)
        index = self._by_title.get(title)
        if index is not None:
            first = self._papers[index]
            if first.arxiv_id is None or paper.arxiv_id is None:
                if first.arxiv_id is None and paper.arxiv_id is not None:
                    # The first entry stands but learns the id the repeat carries.
                    self._papers[index] = dataclasses.replace(first, arxiv_id=paper.arxiv_id)
                    self._by_arxiv[paper.arxiv_id] = index
                self._duplicate(paper, first, "the title")
                return False
        self._by_title.setdefault(title, len(self._papers))
        if paper.arxiv_id is not None:
            self._by_arxiv[paper.arxiv_id] = len(self._papers)
        self._papers.append(paper)
        return True

    def set_arxiv_id(self, arxiv_id: str) -> bool:
        """Give the latest paper an arXiv id found after it; False when it has one or another paper holds that id."""
        if not self._papers or self._papers[-1].arxiv_id is not None or arxiv_id in self._by_arxiv:
            return False
        self._papers[-1] = dataclasses.replace(self._papers[-1], arxiv_id=arxiv_id)
        self._by_arxiv[arxiv_id] = len(self._papers) - 1
        return True

    @property
    def last(self) -> DigestPaper | None:
        """The paper added last, if any."""
        return self._papers[-1] if self._papers else None

    def build(self) -> Digest:
        """The digest: its papers, the distinct paper dates in order of appearance, and the warnings."""
        dates = tuple(dict.fromkeys(paper.date for paper in self._papers if paper.date is not None))
        warnings = list(self._warnings)
        if self._hidden:
            warnings.append(f"{self.source}: {self._hidden} more problems like these were skipped")
        return Digest(self.source, dates, tuple(self._papers), tuple(warnings))

    def _duplicate(self, paper: DigestPaper, first: DigestPaper, what: str) -> None:
        self.warn(
            paper.line,
            f"'{shorten(paper.title)}' repeats {what} of the paper at line {first.line}; the first entry is kept",
        )
