"""Bytes to text: opening files (gzip transparently), charset choice with fallbacks, bounded line streaming."""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

from semsearch.errors import DigestError
from semsearch.ingest.readers.records import NotADigestError

GZIP_MAGIC = b"\x1f\x8b"
HEAD_SIZE = 64 * 1024
# No digest line (nor JSON record) comes near this; past it the input is not what it claims to be.
MAX_LINE = 1 << 20
BINARY = "this file is not a text digest (it contains binary data)"
_FALLBACKS = ("utf-8-sig", "cp1252", "latin-1")

Opener = Callable[[], BinaryIO]
Line = tuple[int, str]  # (1-based line number, text without its line end)
T = TypeVar("T")

# What reading a damaged file raises: OS errors (BadGzipFile is one), a gzip stream cut short, corrupt deflate data.
READ_ERRORS = (OSError, EOFError, zlib.error)


def file_opener(path: Path) -> tuple[Opener, bool]:
    """An opener for the file, gunzipping when it starts with the gzip magic; and whether it does."""
    with open(path, "rb") as handle:
        compressed = handle.read(2) == GZIP_MAGIC
    if compressed:
        return (lambda: gzip.open(path, "rb")), True  # type: ignore[return-value]
    return (lambda: open(path, "rb")), False


def bytes_opener(data: bytes) -> Opener:
    """An opener over bytes in memory (gunzipped when they start with the gzip magic)."""
    if data.startswith(GZIP_MAGIC):
        return lambda: gzip.GzipFile(fileobj=io.BytesIO(data))  # type: ignore[return-value]
    return lambda: io.BytesIO(data)


def read_head(opener: Opener, size: int = HEAD_SIZE) -> bytes:
    """Up to `size` bytes from the start; whatever a damaged gzip stream yields before it breaks (raises when that
    is nothing)."""
    parts: list[bytes] = []
    total = 0
    with opener() as stream:
        while total < size:
            try:
                part = stream.read(min(8192, size - total))
            except READ_ERRORS:
                if not parts:
                    raise
                break
            if not part:
                break
            parts.append(part)
            total += len(part)
    return b"".join(parts)


def read_limited(opener: Opener, source: str, limit: int, what: str) -> bytes:
    """The whole (decompressed) content, refusing more than `limit` bytes: `what` names the input in the error."""
    try:
        with opener() as stream:
            data = stream.read(limit + 1)
    except READ_ERRORS as exc:
        raise DigestError(source, None, read_problem(exc)) from exc
    if len(data) > limit:
        raise NotADigestError(source, None, f"over {limit >> 20} MiB, larger than any {what}; is this the right file?")
    return data


def read_problem(exc: BaseException) -> str:
    """A one-line description of why reading failed."""
    if isinstance(exc, EOFError):
        return "the compressed data ends early (a truncated download?); fetch the file again"
    if isinstance(exc, (zlib.error, gzip.BadGzipFile)):
        return "the compressed data is damaged; fetch the file again"
    strerror = getattr(exc, "strerror", None)
    return f"cannot read this file: {strerror or exc}"


def candidate_encodings(head: bytes, declared: str | None = None) -> list[str]:
    """Encodings to try in order: a BOM's, else the declared charset, then UTF-8, then cp1252, then latin-1."""
    if head.startswith(codecs.BOM_UTF8):
        return list(_FALLBACKS)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return ["utf-16"]
    chosen = [name for name in [usable_charset(declared)] if name]
    return list(dict.fromkeys(chosen + list(_FALLBACKS)))


def usable_charset(declared: str | None) -> str | None:
    """The codec name of a declared charset when Python has it and it reads ASCII as ASCII; else None."""
    if not declared:
        return None
    try:
        name = codecs.lookup(declared.strip().strip("'\"")).name
        if b"<a:1>".decode(name) != "<a:1>":
            return None
    except (LookupError, ValueError, UnicodeError):
        return None
    # A page that claims UTF-8 may still start with a BOM; utf-8-sig reads both.
    return "utf-8-sig" if name == "utf-8" else name


def decode(data: bytes, source: str, encodings: list[str]) -> str:
    """The text of `data` in the first encoding that fits; NUL characters mean it is binary, not text."""
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            raise nul_error(source, text.removeprefix("\ufeff"))
        return text.removeprefix("\ufeff")
    raise NotADigestError(source, None, BINARY)


def with_encodings(opener: Opener, source: str, encodings: list[str], parse: Callable[[Iterator[Line]], T]) -> T:
    """Stream the lines to `parse`, starting over in the next encoding when one turns out not to fit."""
    for encoding in encodings:
        try:
            return parse(stream_lines(opener, source, encoding))
        except UnicodeDecodeError:
            continue
    raise NotADigestError(source, None, BINARY)


def stream_lines(opener: Opener, source: str, encoding: str) -> Iterator[Line]:
    """Numbered lines, read lazily; CRLF, lone CR and LF all end a line, as editors count them."""
    with opener() as raw:
        stream = io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")
        number = 0
        while True:
            try:
                piece = stream.readline(MAX_LINE)
            except READ_ERRORS as exc:
                raise DigestError(source, number + 1, read_problem(exc)) from exc
            if not piece:
                return
            number += 1
            text = piece.rstrip("\r\n")
            if len(text) >= MAX_LINE:
                raise NotADigestError(source, number, "this line is over 1 MiB long, which no digest line is")
            if "\x00" in text:
                raise NotADigestError(source, number, nul_problem(text.index("\x00") + 1))
            yield number, (text.removeprefix("\ufeff") if number == 1 else text)


def nul_position(text: str) -> tuple[int, int] | None:
    """The 1-based (line, column) of the first NUL character, lines counted as `split_lines` counts them."""
    at = text.find("\x00")
    if at < 0:
        return None
    before = text[:at].replace("\r\n", "\n").replace("\r", "\n")
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def nul_problem(column: int) -> str:
    """What to say about a NUL character in text that is otherwise a digest."""
    return (
        f"a NUL byte at column {column}, which no text digest holds; "
        "if the rest is text, remove the NUL bytes (tr -d '\\000') and try again"
    )


def nul_error(source: str, text: str) -> NotADigestError:
    """The error for text holding a NUL character, naming its line and column."""
    line, column = nul_position(text) or (None, 0)
    return NotADigestError(source, line, nul_problem(column))


def split_lines(text: str) -> list[Line]:
    """Numbered lines of a text in memory, counted the way stream_lines counts them."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return list(enumerate(text.split("\n"), start=1))
