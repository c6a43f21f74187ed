"""JSON and JSONL paper records ({"title", "abstract", optional "id", "url", "date", "authors"}), gzip or not.

Also read: "summary" for the abstract (arXiv API), "first_seen"/"published" for the date, and the records of
Hugging Face's daily_papers API, which nest the paper under "paper".

JSONL streams line by line; a JSON array streams record by record, so neither holds the raw file in memory. A bad
record among good ones is a warning; a file with no usable record, or a JSON document that does not parse, is an
error.
"""

from __future__ import annotations

import codecs
import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from semsearch.errors import DigestError
from semsearch.ingest.readers.dates import iso_date
from semsearch.ingest.readers.raw import (
    BINARY,
    MAX_LINE,
    READ_ERRORS,
    Opener,
    candidate_encodings,
    file_opener,
    read_head,
    read_problem,
)
from semsearch.ingest.readers.records import Digest, DigestCollector, DigestPaper, NotADigestError, shorten
from semsearch.keys import find_arxiv_id, normalize_arxiv_id

_MAX_RECORD = 64 << 20  # bytes (JSONL line) or characters (JSON record); real records are a few KB
_MAX_DOCUMENT = 256 << 20  # a JSON object read whole (records nested under "papers")
_CHUNK = 256 << 10
_LIST_KEYS = ("papers", "records", "items", "data", "results", "entries")
# The day a paper was featured comes first; an arXiv publication time is the fallback.
_DATE_KEYS = ("date", "submittedOnDailyAt", "first_seen", "published", "publishedAt", "published_at")
_ID_KEYS = ("id", "arxiv_id", "arxiv")
_URL_KEYS = ("url", "link", "abs_url", "pdf_url", "paper_url")
_LINE_ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
_WHITESPACE = " \t\r\n"

# Python's JSON decoder recurses once per nesting level; a hostile file can nest deeper than the stack allows.
_JSON_ERRORS = (ValueError, RecursionError)


def read_jsonl_file(path: Path, source: str, default_date: datetime.date | None = None) -> Digest:
    """Read a JSONL file (gzip or not): one record a line."""
    opener, _ = file_opener(path)
    return read_jsonl(opener, source, default_date)


def read_json_file(path: Path, source: str, default_date: datetime.date | None = None) -> Digest:
    """Read a JSON file (gzip or not): an array of records, one record, or an object holding a list of records."""
    opener, _ = file_opener(path)
    return read_json(opener, source, default_date)


def read_jsonl(opener: Opener, source: str, default_date: datetime.date | None = None) -> Digest:
    """Records from JSONL bytes; each line is decoded on its own (UTF-8, else cp1252, else latin-1)."""
    records = _Records(source, default_date)
    number = 0
    try:
        with opener() as stream:
            for number, raw in _raw_lines(stream):
                records.add_line(number, raw)
    except READ_ERRORS as exc:
        if not records.usable:
            raise DigestError(source, number + 1 if number else None, read_problem(exc)) from exc
        records.collector.warn(number + 1, f"{read_problem(exc)}; the records before it are kept", always=True)
    return records.finish()


def read_json(opener: Opener, source: str, default_date: datetime.date | None = None) -> Digest:
    """Records from JSON bytes, starting over in cp1252 (then latin-1) if the text is not UTF-8."""
    try:
        head = read_head(opener, 4)
    except READ_ERRORS as exc:
        raise DigestError(source, None, read_problem(exc)) from exc
    for encoding in candidate_encodings(head):
        try:
            return _read_json(opener, source, default_date, encoding)
        except UnicodeDecodeError:
            continue
    raise NotADigestError(source, None, BINARY)


# -- records ----------------------------------------------------------------------------------------------------


class _Records:
    """Turns JSON values into papers, warning about the ones it cannot use."""

    def __init__(self, source: str, default_date: datetime.date | None) -> None:
        self.source = source
        self.default = default_date.isoformat() if default_date else None
        self.collector = DigestCollector(source)
        self.seen = 0
        self.first_problem: str | None = None

    @property
    def usable(self) -> bool:
        """Whether any record became a paper."""
        return len(self.collector) > 0

    def add_line(self, number: int, raw: bytes | None) -> None:
        """One JSONL line (None: longer than any record may be)."""
        if raw is None:
            self.seen += 1
            self._skip(number, f"line {number} is over {_MAX_RECORD >> 20} MiB, larger than any record")
            return
        stripped = raw.strip()
        if not stripped:
            return
        self.seen += 1
        if b"\x00" in stripped:
            self._skip(number, f"record {self.seen} holds binary data")
            return
        try:
            value = json.loads(_decode_line(stripped))
        except _JSON_ERRORS:
            self._skip(number, f"record {self.seen} is not valid JSON (a truncated or damaged line?)")
            return
        self.add(number, value, self.seen)

    def add(self, line: int, value: Any, index: int) -> None:
        """One record: a JSON object with a title and an abstract."""
        label = f"record {index}"
        if not isinstance(value, dict):
            self._skip(line, f"{label} is not a JSON object")
            return
        if isinstance(value.get("paper"), dict):
            # Hugging Face's daily_papers API nests the paper: {"paper": {"id", "title", "summary", ...}, ...}.
            value = {**value["paper"], **{key: item for key, item in value.items() if key != "paper"}}
        title, abstract = value.get("title"), value.get("abstract", value.get("summary"))
        if not isinstance(title, str) or not title.strip():
            self._skip(line, f"{label} has no title")
            return
        title = " ".join(title.split())
        if not isinstance(abstract, str) or not abstract.strip():
            self._skip(line, f"{label} ('{shorten(title)}') has no abstract")
            return
        paper = DigestPaper(
            title,
            " ".join(abstract.split()),
            self._date(line, value, label),
            self.source,
            line,
            _arxiv_id(value),
            authors=_authors(value.get("authors")),
        )
        self.collector.add(paper)

    def finish(self) -> Digest:
        """The digest; raises when not one record was usable."""
        if not self.usable:
            detail = f" ({self.seen} records; first problem: {self.first_problem})" if self.first_problem else ""
            raise NotADigestError(self.source, None, f"no paper records with a 'title' and an 'abstract'{detail}")
        return self.collector.build()

    def _skip(self, line: int, problem: str) -> None:
        self.first_problem = self.first_problem or problem
        self.collector.warn(line, f"{problem}; skipped")

    def _date(self, line: int, record: dict[str, Any], label: str) -> str | None:
        for key in _DATE_KEYS:
            value = record.get(key)
            if value in (None, ""):
                continue
            date = iso_date(value) if isinstance(value, str) else None
            if date is None:
                shown = shorten(repr(value), 40)
                self.collector.warn(line, f"{label}: '{key}' {shown} is not a YYYY-MM-DD date; ignored")
            return date or self.default
        return self.default


def _arxiv_id(record: dict[str, Any]) -> str | None:
    """The arXiv id a record's id (when it is one) or link gives."""
    for key in _ID_KEYS:
        value = record.get(key)
        if isinstance(value, str):
            found = normalize_arxiv_id(value) or find_arxiv_id(value)
            if found:
                return found
    for key in _URL_KEYS:
        value = record.get(key)
        if isinstance(value, str):
            found = find_arxiv_id(value)
            if found:
                return found
    return None


def _authors(value: Any) -> tuple[str, ...]:
    """Author names from a list of names or of {"name": ...} objects (the Daily Papers API's); else none.

    A single string is not split: "Lovelace, Ada and Turing, Alan" and "Ada Lovelace, Alan Turing" cannot both be
    read right, and a wrong split would put wrong names in a citation."""
    if not isinstance(value, list):
        return ()
    names = []
    for item in value:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name.strip():
            names.append(" ".join(name.split()))
    return tuple(names)


def _decode_line(raw: bytes) -> str:
    for encoding in _LINE_ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")  # unreachable: latin-1 decodes every byte


def _raw_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """Numbered byte lines; a line longer than a record may be comes as None (and is read past, not kept)."""
    number = 0
    while True:
        line = stream.readline(_MAX_RECORD)
        if not line:
            return
        number += 1
        if len(line) >= _MAX_RECORD and not line.endswith(b"\n"):
            while True:
                rest = stream.readline(MAX_LINE)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None
            continue
        yield number, line


# -- JSON documents -----------------------------------------------------------------------------------------------


def _read_json(opener: Opener, source: str, default_date: datetime.date | None, encoding: str) -> Digest:
    records = _Records(source, default_date)
    with opener() as raw:
        scanner = _Scanner(_text_chunks(raw, encoding, source), source)
        start = scanner.skip_whitespace()
        if start == "[":
            for index, line, value in scanner.array():
                records.add(line, value, index)
        elif start == "{":
            line, document = scanner.document()
            if isinstance(document, dict) and "title" in document:
                records.add(line, document, 1)
            else:
                # The decoder does not say where nested records start, so their number stands in for the line.
                for index, value in enumerate(_nested_records(document, source), start=1):
                    records.add(index, value, index)
        elif start is None:
            raise NotADigestError(source, None, "the file is empty")
        else:
            line = scanner.line_at(scanner.pos)
            raise DigestError(source, line, "not JSON: expected an array or an object of records")
    return records.finish()


def _nested_records(document: Any, source: str) -> list[Any]:
    """The list of records a JSON object holds under "papers" (or a like key)."""
    if isinstance(document, dict):
        for key in _LIST_KEYS:
            if isinstance(document.get(key), list):
                return document[key]
    raise NotADigestError(source, None, f"a JSON object without a 'title', nor a list of records under {_LIST_KEYS}")


def _text_chunks(raw: BinaryIO, encoding: str, source: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    while True:
        try:
            data = raw.read(_CHUNK)
        except READ_ERRORS as exc:
            raise DigestError(source, None, read_problem(exc)) from exc
        text = decoder.decode(data, final=not data)
        if text:
            yield text
        if not data:
            return


class _Scanner:
    """A JSON text read in chunks: yields the elements of a top-level array one at a time, with their lines."""

    def __init__(self, chunks: Iterator[str], source: str) -> None:
        self.chunks = chunks
        self.source = source
        self.buffer = ""
        self.pos = 0
        self.eof = False
        self._decoder = json.JSONDecoder()
        self._line = 1  # the line number at self._counted
        self._counted = 0

    def line_at(self, pos: int) -> int:
        """The 1-based line of a buffer position at or after the last one asked about."""
        self._line += self.buffer.count("\n", self._counted, pos)
        self._counted = pos
        return self._line

    def skip_whitespace(self) -> str | None:
        """The next non-blank character (not consumed), or None at the end."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._fill():
                return None

    def array(self) -> Iterator[tuple[int, int, Any]]:
        """(record number, line, value) for each element of the array that starts here."""
        self.pos += 1
        index = 0
        following = self.skip_whitespace()
        if following == "]":
            self.pos += 1
            following = None
        else:
            while True:
                if following is None:
                    end = self.line_at(self.pos)
                    raise DigestError(self.source, end, "the JSON array ends early (a truncated file?)")
                line = self.line_at(self.pos)
                value = self._value(line)
                index += 1
                yield index, line, value
                following = self.skip_whitespace()
                if following == ",":
                    self.pos += 1
                    following = self.skip_whitespace()
                    continue
                if following == "]":
                    self.pos += 1
                    break
                if following is None:
                    continue  # reported as truncated above
                raise DigestError(self.source, self.line_at(self.pos), f"expected ',' or ']' after record {index}")
        if self.skip_whitespace() is not None:
            raise DigestError(self.source, self.line_at(self.pos), "unexpected text after the JSON array")

    def document(self) -> tuple[int, Any]:
        """The whole JSON value that starts here, with its line."""
        line = self.line_at(self.pos)
        while self._fill():
            if len(self.buffer) - self.pos > _MAX_DOCUMENT:
                raise DigestError(
                    self.source, line, f"a JSON object over {_MAX_DOCUMENT >> 20} MiB; write one record a line (JSONL)"
                )
        try:
            return line, json.loads(self.buffer[self.pos :])
        except json.JSONDecodeError as exc:
            raise DigestError(self.source, line + exc.lineno - 1, f"not valid JSON: {exc.msg}") from exc
        except RecursionError as exc:
            raise DigestError(self.source, line, "the JSON is nested too deeply") from exc

    def _value(self, line: int) -> Any:
        """Decode the value at pos, reading more text while it may be incomplete."""
        wanted = 0
        while True:
            try:
                value, end = self._decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof:
                    where = self.line_at(max(exc.pos, self.pos))
                    raise DigestError(self.source, where, f"not valid JSON: {exc.msg}") from exc
            except RecursionError as exc:
                raise DigestError(self.source, line, "the JSON is nested too deeply") from exc
            else:
                # A number that ends exactly at the end of the text read so far may go on in the next chunk.
                if end < len(self.buffer) or self.eof:
                    self.pos = end
                    return value
            # Read at least twice as much before trying again, so a long record costs linear time.
            wanted = max(2 * (len(self.buffer) - self.pos), _CHUNK)
            while len(self.buffer) - self.pos < wanted and self._fill():
                pass
            if len(self.buffer) - self.pos > _MAX_RECORD:
                raise DigestError(
                    self.source, line, f"a record over {_MAX_RECORD >> 20} MiB, or damaged JSON; check this record"
                )

    def _fill(self) -> bool:
        chunk = next(self.chunks, None)
        if chunk is None:
            self.eof = True
            return False
        if self.pos > _CHUNK:
            # Forget what was already consumed, keeping the line count right.
            self.line_at(self.pos)
            self.buffer = self.buffer[self.pos :]
            self._counted -= self.pos
            self.pos = 0
        self.buffer += chunk
        return True
