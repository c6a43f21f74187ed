"""Parse "Daily Papers" digests: a page header, a date line such as "May 6", then title and abstract paragraphs."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from semsearch.errors import DigestError
from semsearch.keys import find_arxiv_id, normalize_title

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_DATE_LINE = re.compile(
    r"(?P<month>[a-z]+)\.?\s+(?P<day>0?[1-9]|[12]\d|3[01])(?:,?\s+(?P<year>\d{4}))?", re.IGNORECASE
)
_NAME_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_HEADER_PHRASES = frozenset(
    {
        "new",
        "get trending papers in your email inbox!",
        "subscribe",
        "byak and the research community",
        "daily papers",
    }
)
# A line that is only a link or an arXiv reference (e.g. under a title copied from a page), never prose.
_LINK_LINE = re.compile(r"(?:https?://\S+|arxiv:\s*\S+)", re.IGNORECASE)

# No real title comes near this length (the longest of 3,569 real ones has 202 characters).
_TITLE_MAX = 300
# A lone line shorter than this, not ending in a period, reads as a title rather than an abstract.
_SHORT_LINE = 200
_EXPECTED = "expected a date line such as 'May 6' followed by title and abstract paragraphs"

_Line = tuple[int, str]  # (1-based line number, text without trailing whitespace)


@dataclass(frozen=True)
class DigestPaper:
    """One paper entry of a digest."""

    title: str
    abstract: str
    date: str | None
    source: str
    line: int
    arxiv_id: str | None = None


@dataclass(frozen=True)
class Digest:
    """The papers of one digest file, in file order, with the dates the file gives them."""

    source: str
    dates: tuple[str, ...]
    papers: tuple[DigestPaper, ...]


def parse_digest_text(text: str, source: str, default_date: datetime.date | None = None) -> Digest:
    """Parse the text of one digest; `source` names it in errors and supplies a year when it holds YYYY-MM-DD."""
    if "\x00" in text:
        raise DigestError(source, None, "this file is not a text digest (it contains binary data)")
    lines = _split_lines(text)
    if not any(line for _, line in lines):
        raise DigestError(source, None, f"the file is empty: {_EXPECTED}")
    return _Parser(source, default_date).parse(lines)


def parse_digest_file(path: Path, default_date: datetime.date | None = None) -> Digest:
    """Read and parse one digest file (UTF-8 with or without BOM, else cp1252/latin-1)."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DigestError(source, None, f"cannot read this file: {exc.strerror or exc}") from exc
    return parse_digest_text(_decode(data, source), source, default_date)


def find_digest_files(paths: Sequence[Path]) -> list[Path]:
    """The digest files the paths name: files as given, folders searched recursively for .txt/.text/no-suffix files."""
    found: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(
                (candidate for candidate in path.rglob("*") if _is_digest_candidate(candidate, path)),
                key=lambda candidate: candidate.relative_to(path).parts,
            )
            if not files:
                raise DigestError(
                    str(path), None, "no digest files in this folder (expected .txt or .text files, or no extension)"
                )
        elif path.exists():
            files = [path]
        else:
            raise DigestError(str(path), None, "no such file or folder")
        for file in files:
            # The same file named twice (directly and through its folder) is read once.
            identity = file.resolve()
            if identity not in seen:
                seen.add(identity)
                found.append(file)
    return found


def read_digests(paths: Sequence[Path], default_date: datetime.date | None = None) -> list[Digest]:
    """Find and parse every digest the paths name; raises on the first bad file before returning anything."""
    return [parse_digest_file(file, default_date) for file in find_digest_files(paths)]


# -- helpers ----------------------------------------------------------------------------------------------------


def _decode(data: bytes, source: str) -> str:
    """Text of a file's bytes; NUL bytes mean it is not a digest at all."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    if b"\x00" in data:
        raise DigestError(source, None, "this file is not a text digest (it contains binary data)")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _split_lines(text: str) -> list[_Line]:
    """Numbered lines; CRLF, lone CR and LF all end a line, as editors count them."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return [(number, line.rstrip()) for number, line in enumerate(text.split("\n"), start=1)]


def _blocks(lines: Sequence[_Line]) -> list[list[_Line]]:
    """Runs of non-blank lines, each line stripped."""
    blocks: list[list[_Line]] = []
    current: list[_Line] = []
    for number, line in lines:
        if line.strip():
            current.append((number, line.strip()))
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _is_digest_candidate(path: Path, root: Path) -> bool:
    """A visible regular file under root whose suffix a digest may have."""
    relative = path.relative_to(root)
    if any(part.startswith(".") for part in relative.parts):
        return False
    return path.suffix.lower() in {".txt", ".text", ""} and path.is_file()


def _is_header(text: str) -> bool:
    return " ".join(text.split()).casefold() in _HEADER_PHRASES


def _is_link(text: str) -> bool:
    return _LINK_LINE.fullmatch(text) is not None


def _collapse(lines: Sequence[_Line]) -> str:
    return " ".join(" ".join(text for _, text in lines).split())


def _looks_like_title(block: Sequence[_Line]) -> bool:
    """One short line that does not end a sentence (titles may end in '?' or '!', rarely in '.')."""
    return len(block) == 1 and len(block[0][1]) < _SHORT_LINE and not block[0][1].endswith(".")


def _looks_like_abstract(block: Sequence[_Line]) -> bool:
    """Long prose, or prose that ends a sentence."""
    text = _collapse(block)
    return len(text) >= _SHORT_LINE or text.endswith(".")


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Parser:
    """One pass over a digest's lines; holds the current date while papers are collected."""

    def __init__(self, source: str, default_date: datetime.date | None) -> None:
        self.source = source
        self.default_date = default_date
        match = _NAME_DATE.search(Path(source).name)
        self.name_year: int | None = None
        if match and _valid(*map(int, match.groups())):
            self.name_year = int(match.group(1))
        self.dates: list[str] = []

    def parse(self, lines: list[_Line]) -> Digest:
        first_date = next((i for i, (_, text) in enumerate(lines) if self._date_match(text)), None)
        if first_date is not None:
            date: str | None = self._date(*lines[first_date])
            blocks = _blocks(lines[first_date + 1 :])
        else:
            date = self.default_date.isoformat() if self.default_date else None
            if date:
                self.dates.append(date)
            blocks = _blocks(lines)
            while blocks and all(_is_header(text) for _, text in blocks[0]):
                blocks.pop(0)
        papers: list[DigestPaper] = []
        seen: dict[str, str | None] = {}
        i = 0
        while i < len(blocks):
            block = blocks[i]
            i += 1
            # Where a title belongs, a date line starts a new day (a page covering several days); repeated page
            # headers and stray links that no title claims carry no paper.
            while block and (self._date_match(block[0][1]) or _is_header(block[0][1]) or _is_link(block[0][1])):
                if self._date_match(block[0][1]):
                    date = self._date(*block[0])
                block = block[1:]
            if not block:
                continue
            paper, i = self._paper(block, blocks, i, date)
            known = normalize_title(paper.title)
            if known in seen and (seen[known] is None or paper.arxiv_id in (None, seen[known])):
                continue  # the same paper twice in one file: the first entry stands
            seen[known] = paper.arxiv_id
            papers.append(paper)
        if not papers:
            last = max((number for number, text in lines if text.strip()), default=None)
            raise DigestError(self.source, last, f"no papers found: {_EXPECTED}")
        return Digest(self.source, tuple(self.dates), tuple(papers))

    def _paper(
        self, block: list[_Line], blocks: list[list[_Line]], i: int, date: str | None
    ) -> tuple[DigestPaper, int]:
        """The paper whose title block is `block`; returns it and the index of the block after it."""
        line, title = block[0]
        if len(title) >= _TITLE_MAX:
            raise DigestError(
                self.source,
                line,
                f"expected a paper title here but found a paragraph of {len(title)} characters; "
                "is this paragraph missing its title line, or the paper above missing its abstract?",
            )
        arxiv_id, rest = _take_links(block[1:])
        abstract: str | None = None
        if rest:
            if _looks_like_abstract(rest):
                abstract = _collapse(rest)  # the blank line between title and abstract was lost
            else:
                title = f"{title} {_collapse(rest)}"  # a title wrapped over several lines
        title = " ".join(title.split())
        if abstract is None:
            while i < len(blocks):
                found, remaining = _take_links(blocks[i])
                arxiv_id = arxiv_id or found
                if remaining:
                    break
                i += 1
            if i >= len(blocks):
                raise DigestError(
                    self.source,
                    line,
                    f"the title '{_shorten(title)}' has no abstract: the file ends after it; "
                    "add its abstract paragraph after a blank line, or remove the title",
                )
            candidate = remaining
            followed_by_abstract = i + 1 < len(blocks) and _looks_like_abstract(blocks[i + 1])
            if self._date_match(candidate[0][1]) or (_looks_like_title(candidate) and followed_by_abstract):
                raise DigestError(
                    self.source,
                    line,
                    f"the title '{_shorten(title)}' has no abstract: the next paragraph (line {candidate[0][0]}) "
                    "looks like another title or a date; add the abstract after the title, separated by blank lines",
                )
            abstract = _collapse(candidate)
            i += 1
        return DigestPaper(title, abstract, date, self.source, line, arxiv_id), i

    def _date_match(self, text: str) -> re.Match[str] | None:
        match = _DATE_LINE.fullmatch(text.strip())
        return match if match and match.group("month").lower() in _MONTHS else None

    def _date(self, line: int, text: str) -> str:
        """The normalized date of a date line, recorded in the digest's dates."""
        match = self._date_match(text)
        assert match is not None
        month, day = _MONTHS[match.group("month").lower()], int(match.group("day"))
        year = int(match.group("year")) if match.group("year") else self.name_year
        if year is None and self.default_date is not None:
            year = self.default_date.year
        # With no year known, Feb 29 is allowed: some year has it.
        if not _valid(year if year is not None else 2000, month, day):
            raise DigestError(
                self.source, line, f"'{text.strip()}' is not a real date; fix the date line (e.g. 'May 6')"
            )
        date = f"{year:04d}-{month:02d}-{day:02d}" if year is not None else f"--{month:02d}-{day:02d}"
        if date not in self.dates:
            self.dates.append(date)
        return date


def _take_links(block: Sequence[_Line]) -> tuple[str | None, list[_Line]]:
    """Strip leading link-only lines; return the first arXiv id they hold and the lines left."""
    arxiv_id = None
    index = 0
    while index < len(block) and _is_link(block[index][1]):
        arxiv_id = arxiv_id or find_arxiv_id(block[index][1])
        index += 1
    return arxiv_id, list(block[index:])


def _valid(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True
