"""Date and digest filters for `ask` and `related`: what a user typed, checked; the papers it allows; and a search
over only those papers, so a filter applies before the top n is cut (`-n 10 --since ...` gives 10 papers when 10
exist).

A paper passes when one of its appearances meets every condition: a full digest date within since/until, the
digest day, the digest file. A date whose year the digest never gave ("--05-06") is in no date range, but it is
the day "May 6".
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semsearch.errors import SemsearchError
from semsearch.storage.store import Store
from semsearch.storage.vectors import LayeredIndex

# How a filtered search runs. Reading stored vectors from SQLite costs about 15 us a paper, so up to EXACT_ALWAYS
# allowed papers are searched exactly over their stored vectors. More are searched through the vector index, asking
# for more neighbours until enough pass the filter: cheap while the filter lets a fair share through (a day of a
# 3,506-paper index: 1 ms exact; June on: 2,350 papers, 50 ms exact, under 1 ms through FAISS). When the filter
# lets through less than 1% of the index, the vector index would be asked for most of its papers (and an IVF
# index would miss some), so up to EXACT_SEARCH_MAX papers are still searched exactly.
EXACT_ALWAYS = 1024
EXACT_SEARCH_MAX = 8192
# Longest filter value accepted: longer than any date or digest file name, short enough to bound the work.
MAX_VALUE_LENGTH = 300

_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MONTH_DAY = re.compile(r"--(\d{2})-(\d{2})")
_NAMED_DAY = re.compile(r"([A-Za-z]+)\.?\s+(\d{1,2})(?:,?\s+(\d{4}))?")
_MONTHS = {
    name: number
    for number, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
         ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"),
         ("nov", "november"), ("dec", "december")],
        start=1,
    )
    for name in names
}


class FilterError(SemsearchError):
    """A filter value that is not a date, or names a digest the index does not hold."""


def parse_date(text: str, what: str = "date") -> str:
    """A date given as YYYY-MM-DD, checked to exist, in that form; `what` names it in the error."""
    stripped = text.strip()
    match = _ISO_DAY.fullmatch(stripped)
    if match is None:
        raise FilterError(f"the {what} {_quoted(stripped)} is not a date; give it as YYYY-MM-DD, e.g. 2025-06-10")
    try:
        return dt.date(*(int(part) for part in match.groups())).isoformat()
    except ValueError:
        raise FilterError(f"the {what} {stripped} does not exist; give a real day as YYYY-MM-DD") from None


def parse_digest_day(text: str) -> str | None:
    """A digest day as the index stores it ("2025-06-10", or "--05-06" for May 6 of no known year), or None when
    `text` is not a day (then it names a digest file).

    Accepts 2025-06-10, --05-06, "May 6" and "Jun 10, 2025".
    """
    stripped = text.strip()
    if _ISO_DAY.fullmatch(stripped):
        return parse_date(stripped, "digest day")
    year: int | None = None
    match = _MONTH_DAY.fullmatch(stripped)
    if match is not None:
        month, day = int(match.group(1)), int(match.group(2))
    else:
        match = _NAMED_DAY.fullmatch(stripped)
        if match is None or match.group(1).lower() not in _MONTHS:
            return None
        month, day = _MONTHS[match.group(1).lower()], int(match.group(2))
        year = int(match.group(3)) if match.group(3) else None
    try:
        # 2000 is a leap year, so Feb 29 of an unknown year is accepted.
        date = dt.date(year or 2000, month, day)
    except ValueError:
        raise FilterError(f"the digest day {_quoted(stripped)} does not exist") from None
    return date.isoformat() if year else f"--{month:02d}-{day:02d}"


@dataclass(frozen=True)
class PaperFilter:
    """Which papers a search may return: full dates from `since` to `until` (inclusive), one digest `day`
    ("YYYY-MM-DD" or "--MM-DD"), one digest file (as typed: a stored path, its end, or its file name)."""

    since: str | None = None
    until: str | None = None
    day: str | None = None
    digest_file: str | None = None

    @classmethod
    def parse(
        cls, since: str | None = None, until: str | None = None, digest: str | None = None
    ) -> PaperFilter | None:
        """Check what a user typed (empty values mean no condition); None when nothing restricts the search."""
        values = {"since": since, "until": until, "digest": digest}
        for name, value in values.items():
            if value is not None and len(value) > MAX_VALUE_LENGTH:
                raise FilterError(f"the {name} value is longer than {MAX_VALUE_LENGTH} characters")
        since = parse_date(since, "since date") if since and since.strip() else None
        until = parse_date(until, "until date") if until and until.strip() else None
        if since and until and since > until:
            raise FilterError(f"the since date {since} is after the until date {until}; swap them")
        day = digest_file = None
        if digest and digest.strip():
            day = parse_digest_day(digest)
            digest_file = None if day is not None else digest.strip()
        if not (since or until or day or digest_file):
            return None
        return cls(since, until, day, digest_file)


def resolve_digest_path(text: str) -> str:
    """An existing digest file as the index records it (its resolved path), else `text` unchanged.

    For the command line only: a request from the web never names a path on this machine.
    """
    return str(Path(text).resolve()) if text.strip() and os.path.isfile(text) else text


def matching_sources(sources: list[str], name: str) -> list[str]:
    """The stored digest files that `name` means: the same path, a path ending in it, or the same file name."""
    wanted = name.strip().replace(os.sep, "/")
    exact = [source for source in sources if source == wanted]
    if exact:
        return exact
    return [
        source
        for source in sources
        if source.replace(os.sep, "/").endswith("/" + wanted.lstrip("/")) or Path(source).name == wanted
    ]


def allowed_ids(store: Store, paper_filter: PaperFilter) -> frozenset[int]:
    """The ids of the papers a filter lets through."""
    sources = None
    if paper_filter.digest_file is not None:
        known = store.sources()
        sources = matching_sources(known, paper_filter.digest_file)
        if not sources:
            examples = ", ".join(Path(source).name for source in known[-3:])
            raise FilterError(
                f"no digest in the index is named {_quoted(paper_filter.digest_file)}; give a digest day "
                f"(YYYY-MM-DD or e.g. \"May 6\") or a digest file the index read"
                f"{f', such as {examples}' if examples else ''}"
            )
    day = paper_filter.day
    return store.ids_appearing(
        since=paper_filter.since,
        until=paper_filter.until,
        day=day if day and not day.startswith("--") else None,
        month_day=day if day and day.startswith("--") else None,
        sources=sources,
    )


def search_allowed(
    vectors: LayeredIndex,
    store: Store,
    dim: int,
    query: np.ndarray,
    limit: int,
    allowed: frozenset[int],
    exclude: frozenset[int] = frozenset(),
    exact: bool = False,
) -> list[tuple[int, float]]:
    """The `limit` papers of `allowed` (less `exclude`) nearest to `query`, as (id, cosine), best first (`exact`: as
    `LayeredIndex.search`)."""
    candidates = allowed - exclude
    if limit <= 0 or not candidates:
        return []
    size = vectors.size
    if len(candidates) <= EXACT_ALWAYS or (len(candidates) <= EXACT_SEARCH_MAX and 100 * len(candidates) < size):
        ids, matrix = store.vectors_of(sorted(candidates), dim)
        scores = vectors.as_stored(matrix) @ np.asarray(query, dtype=np.float32).reshape(dim)
        # Best score first; among equal scores the lower id, as a stable order.
        order = np.lexsort((ids, -scores))[:limit]
        return [(int(ids[i]), float(scores[i])) for i in order]
    k = limit
    while True:
        # Expect about len(candidates)/size of the neighbours to pass; ask for twice that, then double.
        k = min(size, max(2 * k, int(2 * limit * size / len(candidates)) + 1))
        found = vectors.search(query, k, exclude, exact)
        hits = [(paper_id, score) for paper_id, score in found if paper_id in candidates]
        if len(hits) >= limit or k >= size:
            return hits[:limit]


def _quoted(text: str, limit: int = 60) -> str:
    return '"' + (text if len(text) <= limit else text[: limit - 1] + "…") + '"'
