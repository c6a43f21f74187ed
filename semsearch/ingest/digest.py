"""Find and read digests: digest text, saved HTML pages, e-mails (.eml, .mbox) and JSON/JSONL paper records.

`read_digests` is the entry point: it picks the input files (folders recursively, by content), reads every one of
them in full before returning (so one bad file means nothing is stored) and reports problems that cost a record but
not the file as warnings on the returned digests. The formats themselves live in `semsearch.ingest.readers`.

Formats ("auto" detects each file from its first 64 KiB, looking inside gzip): "mbox" (a "From " line, then mail
headers), "eml" (mail headers up to a blank line; also a browser's .mhtml), "html" (markup with HTML tags), "json"
(an array of records, one record, or an object with a list under "papers"), "jsonl" (one JSON object a line), and
"text" (the digest layout). In a folder, text files are taken when their extension is .txt, .text or none, or when
they show the digest layout (a date line, the daily page's header); other files, hidden ones and JSON records
without titles and abstracts are skipped.

`read_digest_bytes` reads input held in memory (`semsearch update -` reads stdin), sniffed by content alone; its
papers come from the source `<stdin>`.

Where a paper comes from: `source` is the path as given, or `PATH#message-N` for the Nth mail of an mbox; `line` is
the 1-based line of its title (for e-mails, in the decoded text or HTML part), of its record in JSON/JSONL, or the
record's number for records nested in a JSON object.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from semsearch.errors import DigestError
from semsearch.ingest.readers import htmlpage, jsonrecords, mail
from semsearch.ingest.readers.dates import DateContext
from semsearch.ingest.readers.raw import (
    GZIP_MAGIC,
    READ_ERRORS,
    Opener,
    bytes_opener,
    candidate_encodings,
    file_opener,
    read_head,
    read_problem,
)
from semsearch.ingest.readers.records import Digest, DigestPaper, NotADigestError, location
from semsearch.ingest.readers.sniff import FORMATS, sniff, sniff_file
from semsearch.ingest.readers.text import parse_text, read_text

__all__ = [
    "FORMATS",
    "Digest",
    "DigestPaper",
    "find_digest_files",
    "parse_digest_file",
    "STDIN",
    "parse_digest_text",
    "read_digest_bytes",
    "read_digest_file",
    "read_digests",
]

_Reader = Callable[[Opener, str, datetime.date | None], list[Digest]]
# The source name of a digest read from standard input.
STDIN = "<stdin>"
# Past this many files skipped in one folder, the rest are only counted.
_SKIPS_SHOWN = 10


def parse_digest_text(text: str, source: str, default_date: datetime.date | None = None) -> Digest:
    """Parse the text of one digest; `source` names it in errors and supplies a year when it holds YYYY-MM-DD."""
    return parse_text(text, source, DateContext(source, default_date))


def parse_digest_file(path: Path, default_date: datetime.date | None = None, format: str | None = None) -> Digest:
    """Read the one digest a file holds (an mbox of several mails is for `read_digests`)."""
    digests = read_digest_file(path, default_date, format)
    if len(digests) != 1:
        raise DigestError(str(path), None, f"this mbox holds {len(digests)} digests; read it with read_digests")
    return digests[0]


def read_digest_file(
    path: Path, default_date: datetime.date | None = None, format: str | None = None
) -> list[Digest]:
    """The digests of one file: one, or one per usable message of an mbox. `format` overrides detection."""
    source = str(path)
    chosen = _checked_format(format)
    try:
        if chosen is None:
            sniffed = sniff_file(Path(path))
            if sniffed.format is None:
                raise NotADigestError(source, sniffed.line, sniffed.reason)
            chosen = sniffed.format
        if chosen == "mbox":  # read through the mailbox module, which needs the file itself
            return mail.read_mbox_file(Path(path), source, default_date)
        return _READERS[chosen](file_opener(Path(path))[0], source, default_date)
    except READ_ERRORS as exc:
        raise DigestError(source, None, read_problem(exc)) from exc


def read_digest_bytes(
    data: bytes, source: str = STDIN, default_date: datetime.date | None = None, format: str | None = None
) -> list[Digest]:
    """The digests of input held in memory (standard input), told apart by content as files are; gzip too."""
    chosen = _checked_format(format)
    opener = bytes_opener(data)
    try:
        if chosen is None:
            # No file name to go by: plain text that is no other format is digest text.
            sniffed = sniff(read_head(opener), "", data.startswith(GZIP_MAGIC))
            if sniffed.format is None:
                raise NotADigestError(source, sniffed.line, sniffed.reason)
            chosen = sniffed.format
        return _READERS[chosen](opener, source, default_date)
    except READ_ERRORS as exc:
        raise DigestError(source, None, read_problem(exc)) from exc


def find_digest_files(paths: Sequence[Path], format: str | None = None) -> list[Path]:
    """The input files the paths name: files as given, folders searched recursively for files that hold digests."""
    return [item.path for item in _scan(paths, _checked_format(format)).inputs]


def read_digests(
    paths: Sequence[Path], default_date: datetime.date | None = None, format: str | None = None
) -> list[Digest]:
    """Find and read every digest the paths name; raises on the first bad file before returning anything.

    A file found in a folder that turns out to hold no papers (empty, binary, JSON without paper records, a page
    or mail without a digest) is skipped with a warning, carried by the first digest read from that folder; a
    folder with nothing usable, and any file named directly that holds no papers, is an error.
    """
    chosen = _checked_format(format)
    scan = _scan(paths, chosen)
    digests: list[Digest] = []
    first_from: dict[Path, int] = {}
    for item in scan.inputs:
        try:
            found = read_digest_file(item.path, default_date, chosen or item.format)
        except NotADigestError as exc:
            if item.folder is None:
                raise
            scan.skipped.setdefault(item.folder, []).append(f"{exc}; skipped")
            continue
        if item.folder is not None and found:
            first_from.setdefault(item.folder, len(digests))
        digests.extend(found)
    for folder in scan.folders:
        warnings = scan.skipped.get(folder, [])
        if folder not in first_from and any(item.folder == folder for item in scan.inputs):
            detail = f" ({len(warnings)} skipped; first: {warnings[0]})" if warnings else ""
            raise DigestError(str(folder), None, f"no digest files in this folder hold any papers{detail}")
        if warnings and folder in first_from:
            shown = warnings[:_SKIPS_SHOWN]
            if len(warnings) > _SKIPS_SHOWN:
                shown.append(f"{folder}: {len(warnings) - _SKIPS_SHOWN} more files without papers were skipped")
            index = first_from[folder]
            digests[index] = dataclasses.replace(digests[index], warnings=tuple(shown) + digests[index].warnings)
    return digests


# -- finding inputs ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Input:
    path: Path
    format: str | None  # None: detect when reading
    folder: Path | None  # the folder argument that found it; None when named directly


@dataclass
class _Scan:
    inputs: list[_Input] = dataclasses.field(default_factory=list)
    folders: list[Path] = dataclasses.field(default_factory=list)
    skipped: dict[Path, list[str]] = dataclasses.field(default_factory=dict)


def _checked_format(format: str | None) -> str | None:
    if format in (None, "auto"):
        return None
    if format not in FORMATS:
        raise ValueError(f"unknown input format {format!r}; expected one of auto, {', '.join(FORMATS)}")
    return format


def _scan(paths: Sequence[Path], format: str | None) -> _Scan:
    scan = _Scan()
    seen: set[Path] = set()

    def take(item: _Input) -> None:
        # The same file named twice (directly and through its folder) is read once.
        identity = item.path.resolve()
        if identity not in seen:
            seen.add(identity)
            scan.inputs.append(item)

    for given in paths:
        path = Path(given)
        if path.is_dir():
            scan.folders.append(path)
            found = _scan_folder(path, scan.skipped.setdefault(path, []))
            for item in found:
                take(item)
            if not found:
                raise DigestError(
                    str(path),
                    None,
                    "no digest files in this folder (expected digest text, saved pages, e-mails or JSON records)"
                    + (f"; skipped {scan.skipped[path][0]}" if scan.skipped[path] else ""),
                )
        elif path.exists():
            if not _is_regular(path):
                raise DigestError(str(path), None, "not a regular file (a pipe or device?); save it to a file first")
            take(_Input(path, format, None))
        else:
            raise DigestError(str(path), None, "no such file or folder")
    return scan


def _scan_folder(root: Path, skipped: list[str]) -> list[_Input]:
    """The visible files under root that hold (or claim to hold) digests, in path order."""
    files: list[Path] = []

    def unreadable(exc: OSError) -> None:
        skipped.append(f"{exc.filename or root}: {read_problem(exc)}; skipped")

    for directory, subdirectories, names in os.walk(root, onerror=unreadable):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        files.extend(Path(directory) / name for name in names if not name.startswith("."))
    inputs = []
    for path in sorted(files, key=lambda candidate: candidate.relative_to(root).parts):
        if not _is_regular(path):
            continue
        try:
            sniffed = sniff_file(path)
        except READ_ERRORS as exc:
            skipped.append(f"{path}: {read_problem(exc)}; skipped")
            continue
        if sniffed.wanted and sniffed.format is not None:
            inputs.append(_Input(path, sniffed.format, root))
        elif sniffed.warn:
            skipped.append(f"{location(str(path), sniffed.line)}: {sniffed.reason}; skipped")
    return inputs


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


# -- readers ----------------------------------------------------------------------------------------------------


def _read_text(opener: Opener, source: str, default_date: datetime.date | None) -> list[Digest]:
    return [read_text(opener, source, DateContext(source, default_date), candidate_encodings(read_head(opener)))]


_READERS: dict[str, _Reader] = {
    "text": _read_text,
    "html": lambda opener, source, default_date: [htmlpage.read_html(opener, source, default_date)],
    "eml": lambda opener, source, default_date: [mail.read_eml(opener, source, default_date)],
    "mbox": mail.read_mbox,
    "json": lambda opener, source, default_date: [jsonrecords.read_json(opener, source, default_date)],
    "jsonl": lambda opener, source, default_date: [jsonrecords.read_jsonl(opener, source, default_date)],
}
