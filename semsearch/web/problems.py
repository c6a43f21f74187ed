"""What a request that cannot be answered gets: a status code and a one-line message naming the next step.

Never a stack trace: an unexpected failure is logged in full and answered with its class name only.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

from semsearch.errors import (
    IndexBusyError,
    IndexCorruptError,
    IndexMissingError,
    ModelMismatchError,
    ModelUnavailableError,
    PaperNotFoundError,
    SemsearchError,
)
from semsearch.search.filters import FilterError

log = logging.getLogger("semsearch")

API_HINT = "see /openapi.json for the API"
# The index exists but cannot answer: a server problem (503), not the request's.
UNAVAILABLE = (IndexMissingError, IndexCorruptError, ModelMismatchError, ModelUnavailableError, IndexBusyError)


class RequestProblem(Exception):
    """A request the library could not answer: the status code and the message a person reads."""

    def __init__(self, status: int, message: str, candidates: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.candidates = list(candidates)


def problem_for(exc: Exception) -> RequestProblem:
    """The status and message for an exception from the library."""
    if isinstance(exc, PaperNotFoundError):
        return RequestProblem(404, str(exc), exc.candidates)
    if isinstance(exc, FilterError):
        return RequestProblem(400, str(exc))
    if isinstance(exc, UNAVAILABLE):
        return RequestProblem(503, str(exc))
    if isinstance(exc, SemsearchError):
        return RequestProblem(400, str(exc))
    if isinstance(exc, (sqlite3.Error, OSError)):
        log.error("the index failed: %s", exc, exc_info=exc)
        return RequestProblem(503, f"the index could not be read ({exc}); run `semsearch check`")
    log.error("unexpected error while answering a request", exc_info=exc)
    return RequestProblem(500, f"unexpected {exc.__class__.__name__}; the server's log has the details")


def invalid_parameters(errors: Sequence[Any]) -> RequestProblem:
    """A 400 naming each bad parameter (from the framework's validation errors) and what is wrong with it."""
    parts = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ()) if part not in ("query", "path")]
        parts.append(f"{'.'.join(location) or 'request'}: {error.get('msg', 'invalid')}")
    return RequestProblem(400, f"invalid parameter {'; '.join(parts)}; {API_HINT}")


def http_problem(status: int, detail: str) -> RequestProblem:
    """The problem for a routing error the framework raised (no such page, method not allowed)."""
    if status == 404:
        return RequestProblem(404, f"no such page; search at /, or {API_HINT}")
    return RequestProblem(status, f"{detail}; {API_HINT}")
