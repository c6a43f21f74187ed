"""The errors semsearch raises: each carries a one-line message that names the problem and the next step."""

from __future__ import annotations

# The repair for any derived file (FAISS or word index) that is missing, damaged or out of step: it rewrites them
# from the database, embedding nothing.
REPAIR_DERIVED = "run `semsearch rebuild --reuse-vectors`"


class SemsearchError(Exception):
    """Base class: the CLI prints ``Error: <message>`` and exits 1."""


class DigestError(SemsearchError):
    """A digest could not be parsed; names the file and (when known) the line."""

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {problem}")


class IndexMissingError(SemsearchError):
    """No index exists at the given path."""


class IndexCorruptError(SemsearchError):
    """The index on disk is damaged or was written by an incompatible version."""


class ModelMismatchError(SemsearchError):
    """The index was built with a different embedding model than the one in use."""


class PaperNotFoundError(SemsearchError):
    """A key or title matched no paper, or more than one.

    `candidates` are the (key, title) pairs worth showing; `total`, when known, is how many there were in all,
    so a list cut short can say how much it left out.
    """

    def __init__(
        self, message: str, candidates: list[tuple[str, str]] | None = None, total: int | None = None
    ) -> None:
        self.candidates = candidates or []
        self.total = total
        super().__init__(message)


class IndexBusyError(SemsearchError):
    """Another process is writing to the index."""


class ModelUnavailableError(SemsearchError):
    """The bundled embedding model could not be loaded."""


class ClusterError(SemsearchError):
    """Embedding on a Ray cluster is not possible (Ray is not installed, the cluster is unreachable) or failed."""


class DiskFullError(SemsearchError):
    """The file system holding the index ran out of space during a write; names the folder and the file."""


# errno values that mean "no room left": no space, and a disk quota reached.
_FULL_ERRNOS = frozenset({28, 122})  # ENOSPC, EDQUOT


def is_disk_full(exc: BaseException) -> bool:
    """Whether an exception (SQLite's SQLITE_FULL, an OSError ENOSPC/EDQUOT) means the disk is full."""
    import sqlite3

    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return (code is not None and code & 0xFF == sqlite3.SQLITE_FULL) or "database or disk is full" in str(exc)
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    return False
