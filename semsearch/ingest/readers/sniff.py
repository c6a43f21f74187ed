"""Tell an input's format from its first 64 KiB (mbox, e-mail, HTML, JSON, JSONL or digest text), and whether a
folder scan should pick it at all."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from semsearch.ingest.readers.layout import is_digest_marker
from semsearch.ingest.readers.raw import (
    BINARY,
    GZIP_MAGIC,
    READ_ERRORS,
    candidate_encodings,
    file_opener,
    nul_position,
    nul_problem,
    read_head,
    read_problem,
)

FORMATS = ("text", "html", "eml", "mbox", "json", "jsonl")
EMPTY = "the file is empty: expected a date line such as 'May 6' followed by title and abstract paragraphs"
NO_RECORDS = "its JSON records have no 'title' and 'abstract' (not a list of papers)"

# Extensions that promise an input: skipping such a file in a folder deserves a warning.
_INPUT_EXTENSIONS = {"", ".txt", ".text", ".eml", ".mht", ".mhtml", ".mbox", ".mbx", ".html", ".htm", ".xhtml",
                     ".json", ".jsonl", ".ndjson"}
_TEXT_EXTENSIONS = {"", ".txt", ".text"}
_EXTENSION_FORMATS = {".eml": "eml", ".mht": "eml", ".mhtml": "eml", ".mbox": "mbox", ".mbx": "mbox",
                      ".html": "html", ".htm": "html", ".xhtml": "html", ".json": "json", ".jsonl": "jsonl",
                      ".ndjson": "jsonl"}
_MAIL_HEADERS = {"from", "to", "subject", "date", "message-id", "mime-version", "content-type", "received",
                 "return-path", "delivered-to", "reply-to", "cc", "sender", "x-mailer", "snapshot-content-location"}
_HTML_TAGS = {"html", "head", "body", "div", "p", "a", "h1", "h2", "h3", "h4", "h5", "h6", "article", "table",
              "meta", "title", "span", "ul", "ol", "li", "section", "br", "main", "header", "footer", "img",
              "link", "script", "style", "td", "tr", "pre", "b", "strong", "em", "i"}
_HEADER_FIELD = re.compile(r"[!-9;-~]+:")
_RECORD_KEYS = ("abstract", "summary")
# Control characters that no text file holds (tab, line ends, form feed and escape are allowed).
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")


@dataclass(frozen=True)
class Sniffed:
    """What a file looks like: its format (None: not readable as any input) and whether a folder scan takes it."""

    format: str | None
    wanted: bool
    reason: str = ""
    warn: bool = False  # when not wanted: say so, because the name or content promised an input
    line: int | None = None  # where the reason lies, when it is one place (a NUL byte)


def sniff_file(path: Path) -> Sniffed:
    """Sniff a file on disk, looking inside gzip compression."""
    opener, compressed = file_opener(path)
    name = path.name[:-3] if compressed and path.name.lower().endswith(".gz") else path.name
    try:
        head = read_head(opener)
    except READ_ERRORS as exc:
        if not compressed:
            raise
        return Sniffed(None, False, read_problem(exc), True)
    return sniff(head, name, compressed)


def sniff(head: bytes, name: str, compressed: bool = False) -> Sniffed:
    """Sniff the first bytes of an input; `name` (without .gz) breaks ties and marks digest text files."""
    extension = Path(name).suffix.lower()
    promised = extension in _INPUT_EXTENSIONS or compressed
    if not head.strip(b" \t\r\n\f\v") or head in (b"\xef\xbb\xbf",):
        return Sniffed(None, False, EMPTY, promised)
    if head.startswith(GZIP_MAGIC):
        return Sniffed(None, False, "gzip data inside gzip data; decompress it once and try again", True)
    text = _sniff_text(head)
    if text is None:
        nul = _stray_nul(head)
        if nul is not None:
            return Sniffed(None, False, nul_problem(nul[1]), promised, nul[0])
        return Sniffed(None, False, BINARY, promised)
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        return Sniffed(None, False, EMPTY, promised)
    if _is_mbox(stripped):
        return Sniffed("mbox", True)
    if _is_mail(stripped):
        return Sniffed("eml", True)
    if stripped.startswith("<") and _is_html(stripped):
        return Sniffed("html", True)
    json_format = _json_format(stripped)
    if json_format is not None:
        if not _has_paper_records(stripped, json_format):
            return Sniffed(json_format, False, NO_RECORDS, True)
        return Sniffed(json_format, True)
    if extension in _TEXT_EXTENSIONS:
        return Sniffed("text", True)
    if extension in _EXTENSION_FORMATS:
        return Sniffed(_EXTENSION_FORMATS[extension], True)
    if _has_digest_markers(stripped):
        return Sniffed("text", True)
    return Sniffed("text", False, "not a digest", promised)


def _sniff_text(head: bytes) -> str | None:
    """The head as text, or None when it is binary (NUL bytes, control characters, undecodable bytes)."""
    encoding = candidate_encodings(head)[0]
    text = head.decode(encoding, errors="replace")
    if not text:
        return None
    if "\x00" in text:
        return None
    controls = len(_CONTROLS.findall(text))
    # A cp1252 text decoded as UTF-8 has a few replacement characters; binary data has them everywhere.
    if controls > len(text) // 100 or text.count("\ufffd") > len(text) * 3 // 10:
        return None
    return text


def _stray_nul(head: bytes) -> tuple[int, int] | None:
    """(line, column) of the first NUL in a head that is text but for a few NUL bytes (a damaged save, not binary)."""
    encoding = candidate_encodings(head)[0]
    text = head.decode(encoding, errors="replace")
    nuls = text.count("\x00")
    if not nuls or nuls > max(1, len(text) // 1000) or _sniff_text(text.replace("\x00", "").encode(encoding)) is None:
        return None
    return nul_position(text.removeprefix("\ufeff"))


def _first_lines(text: str, count: int) -> list[str]:
    return text.splitlines()[:count]


def _is_mbox(text: str) -> bool:
    """A "From sender date" line followed by a mail header."""
    lines = _first_lines(text, 2)
    return (
        len(lines) == 2
        and lines[0].startswith("From ")
        and len(lines[0].split()) >= 2
        and _HEADER_FIELD.match(lines[1]) is not None
    )


def _is_mail(text: str) -> bool:
    """RFC 822 headers up to the first blank line, with at least two fields and one that every mail has."""
    fields = 0
    known = False
    for line in _first_lines(text, 200):
        if not line.strip():
            break
        if line[0] in " \t":
            if fields == 0:
                return False
            continue
        match = _HEADER_FIELD.match(line)
        if match is None:
            return False
        fields += 1
        known = known or match.group(0)[:-1].lower() in _MAIL_HEADERS
    return fields >= 2 and known


class _TagSpotter(HTMLParser):
    """Notes whether any well-known HTML tag starts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.seen = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen = self.seen or tag in _HTML_TAGS


def _is_html(text: str) -> bool:
    spotter = _TagSpotter()
    try:
        spotter.feed(text)
    except AssertionError:  # html.parser asserts on some malformed declarations
        pass
    return spotter.seen


def _json_format(text: str) -> str | None:
    """"json" for an array of objects or a multi-line object, "jsonl" for one object a line, else None."""
    opener = text[0]
    if opener not in "[{":
        return None
    rest = text[1:].lstrip()
    if opener == "[":
        return "json" if rest[:1] in ("{", "]") else None
    if rest[:1] not in ('"', "}"):
        return None
    first, newline, _ = text.partition("\n")
    if not newline:
        # One line: a record (JSONL reads a line of any length, even one longer than the head) or a document.
        try:
            document = json.loads(first)
        except ValueError:
            return "jsonl"
        return "jsonl" if isinstance(document, dict) and "title" in document else "json"
    try:
        return "jsonl" if isinstance(json.loads(first), dict) else "json"
    except ValueError:
        return "json"


def _has_paper_records(text: str, json_format: str) -> bool:
    """Whether the records the head holds look like papers; True when no whole record fits in the head."""
    records: list[object] = []
    if json_format == "jsonl":
        for line in text.splitlines()[:50]:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    elif text.startswith("["):
        try:
            first, _ = json.JSONDecoder().raw_decode(text[1:].lstrip())
        except ValueError:
            return True
        records.append(first)
    else:
        return True
    objects = [record for record in records if isinstance(record, dict)]
    if not objects:
        return not records
    return any("title" in record and any(key in record for key in _RECORD_KEYS) for record in objects)


def _has_digest_markers(text: str) -> bool:
    """Whether digest text hides in a file whose extension does not promise one (a digest saved as .md)."""
    return any(is_digest_marker(line.strip()) for line in _first_lines(text, 400))
