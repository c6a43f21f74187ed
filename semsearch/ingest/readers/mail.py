"""E-mail digests: one .eml file, or an mbox of many read message by message (never the whole mailbox at once).

A mail's text/plain part is read as digest text and its text/html part as a page; of alternative parts the one that
yields more papers with arXiv ids wins. The mail's Date header supplies the year of a date line such as "Jun 10".
"""

from __future__ import annotations

import dataclasses
import datetime
import email
import email.utils
import mailbox
import re
from email.message import Message
from pathlib import Path

from semsearch.errors import DigestError
from semsearch.ingest.readers.dates import DateContext
from semsearch.ingest.readers.htmlpage import decode_html, parse_html
from semsearch.ingest.readers.raw import Opener, candidate_encodings, decode, file_opener, read_limited
from semsearch.ingest.readers.records import Digest, DigestCollector, NotADigestError
from semsearch.ingest.readers.text import parse_text

# An mbox quotes body lines that start with "From " as ">From " (and ">From " as ">>From "); undo one level.
_FROM_QUOTE = re.compile(rb"^>(>*From )", re.MULTILINE)
_FROM_LINE = re.compile(rb"^From ", re.MULTILINE)
_MAX_MESSAGE = 64 << 20  # bytes; a digest mail is well under 1 MiB
_MAX_DEPTH = 16  # nested multiparts and forwarded mails
# Past this many unusable messages, an mbox's warnings only count the rest.
_PROBLEMS_SHOWN = 10


def read_eml_file(path: Path, source: str, default_date: datetime.date | None = None) -> Digest:
    """Read one e-mail file (gzip or not)."""
    opener, _ = file_opener(path)
    return read_eml(opener, source, default_date)


def read_eml(opener: Opener, source: str, default_date: datetime.date | None = None) -> Digest:
    """Read one e-mail's bytes (up to 64 MiB)."""
    return parse_message(read_limited(opener, source, _MAX_MESSAGE, "digest e-mail"), source, default_date)


def read_mbox(opener: Opener, source: str, default_date: datetime.date | None = None) -> list[Digest]:
    """One digest per usable message of an mbox held in memory (stdin), as `read_mbox_file` reads a file."""
    data = read_limited(opener, source, _MAX_MESSAGE, "mailbox given in memory")
    # A message starts at each line that starts with "From " (body lines that do are quoted ">From ").
    starts = [match.start() for match in _FROM_LINE.finditer(data)]
    messages = [data[start:end] for start, end in zip(starts, starts[1:] + [len(data)])]
    digests: list[Digest] = []
    problems: list[str] = []
    for count, message in enumerate(messages, start=1):
        message_source = f"{source}#message-{count}"
        try:
            body = message.split(b"\n", 1)[1] if b"\n" in message else b""
            digests.append(parse_message(_FROM_QUOTE.sub(rb"\1", body), message_source, default_date))
        except DigestError as exc:
            problems.append(f"{exc}; skipped")
    return _mbox_result(source, digests, problems, len(messages))


def read_mbox_file(path: Path, source: str, default_date: datetime.date | None = None) -> list[Digest]:
    """One digest per usable message of an mbox, named `FILE#message-N`; unusable messages become warnings."""
    _, compressed = file_opener(path)
    if compressed:
        raise DigestError(source, None, "a compressed mbox: decompress it (gunzip) and read the mbox itself")
    digests: list[Digest] = []
    problems: list[str] = []
    count = 0
    try:
        box = mailbox.mbox(path, create=False)
    except mailbox.Error as exc:
        raise DigestError(source, None, f"cannot open this mbox: {exc}") from exc
    try:
        for count, key in enumerate(box.iterkeys(), start=1):
            message_source = f"{source}#message-{count}"
            try:
                with box.get_file(key) as handle:
                    data = handle.read(_MAX_MESSAGE + 1)
                if len(data) > _MAX_MESSAGE:
                    raise NotADigestError(message_source, None, f"over {_MAX_MESSAGE >> 20} MiB, not a digest e-mail")
                digests.append(parse_message(_FROM_QUOTE.sub(rb"\1", data), message_source, default_date))
            except DigestError as exc:
                problems.append(f"{exc}; skipped")
    except mailbox.Error as exc:
        raise DigestError(source, None, f"cannot read this mbox: {exc}") from exc
    finally:
        box.close()
    return _mbox_result(source, digests, problems, count)


def _mbox_result(source: str, digests: list[Digest], problems: list[str], count: int) -> list[Digest]:
    """The digests of an mbox with the skipped messages as warnings; an error when none holds a digest."""
    if not digests:
        if not count:
            raise NotADigestError(source, None, "no e-mails in this mbox (each must start with a 'From ' line)")
        raise NotADigestError(source, None, f"none of its {count} e-mails holds a digest (first: {problems[0]})")
    if problems:
        shown = problems[:_PROBLEMS_SHOWN]
        if len(problems) > _PROBLEMS_SHOWN:
            shown.append(f"{source}: {len(problems) - _PROBLEMS_SHOWN} more e-mails without a digest were skipped")
        digests[0] = dataclasses.replace(digests[0], warnings=tuple(shown) + digests[0].warnings)
    return digests


def parse_message(data: bytes, source: str, default_date: datetime.date | None = None) -> Digest:
    """The digest in one e-mail's bytes (MIME, quoted-printable or base64, any declared charset)."""
    # compat32 parsing never raises on malformed headers; it records defects and carries on.
    message = email.message_from_bytes(data)
    dates = DateContext(source, default_date, _sent_date(message))
    errors: list[DigestError] = []
    digests = _digests(message, source, dates, errors, 0)
    if not digests:
        if errors:
            raise errors[0]
        raise NotADigestError(source, None, "no digest in this e-mail: no text or HTML part holds papers")
    if len(digests) == 1:
        return digests[0]
    # Several parts that are not alternatives of each other (a forwarded digest and its cover note, say).
    collector = DigestCollector(source)
    for digest in digests:
        for paper in digest.papers:
            collector.add(paper)
    merged = collector.build()
    warnings = tuple(warning for digest in digests for warning in digest.warnings) + merged.warnings
    return dataclasses.replace(merged, warnings=warnings)


def _sent_date(message: Message) -> datetime.date | None:
    value = message.get("Date")
    if value is None:
        return None
    try:
        return email.utils.parsedate_to_datetime(str(value)).date()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _digests(part: Message, source: str, dates: DateContext, errors: list[DigestError], depth: int) -> list[Digest]:
    """The digests of a MIME part: a text part's own, the best alternative's, or all of a mixed part's."""
    if depth > _MAX_DEPTH:
        return []
    if part.is_multipart():
        children = part.get_payload()
        if not isinstance(children, list):
            return []
        found = [_digests(child, source, dates, errors, depth + 1) for child in children if isinstance(child, Message)]
        if part.get_content_subtype() == "alternative":
            return max(found, key=_richness, default=[])
        return [digest for digests in found for digest in digests]
    content_type = part.get_content_type()
    if content_type not in ("text/plain", "text/html"):
        return []
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes) or not payload.strip():
        return []
    try:
        charset = part.get_content_charset()
        if content_type == "text/html":
            return [parse_html(decode_html(payload, source, charset), source, dates.default_date, dates.reference)]
        text = decode(payload, source, candidate_encodings(payload[:4], charset))
        return [parse_text(_without_signature(text), source, dates, footer=True)]
    except DigestError as exc:
        errors.append(type(exc)(exc.source, exc.line, f"{exc.problem} (in the e-mail's {content_type} part)"))
        return []


def _richness(digests: list[Digest]) -> tuple[int, int]:
    """How much an alternative offers: papers with arXiv ids, then papers."""
    papers = [paper for digest in digests for paper in digest.papers]
    return sum(paper.arxiv_id is not None for paper in papers), len(papers)


def _without_signature(text: str) -> str:
    """The text above the "-- " line that starts a mail signature (footers are not papers)."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.rstrip("\r\n") == "-- ":
            return "".join(lines[:index])
    return text
