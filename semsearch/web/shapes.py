"""The JSON shapes the API shares with the CLI's `--json`, as plain dictionaries.

Pure, with no web framework: the CLI builds its `--json` from here too, so the two cannot drift apart, and
`semsearch --help` does not pay for FastAPI. (A hit's and the index summary's shapes are the library's own:
`Hit.to_dict`, `IndexInfo.to_dict`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from semsearch.storage.store import StoredPaper


def paper_dict(paper: StoredPaper) -> dict[str, Any]:
    """One paper in the shape of `semsearch show --json` and `GET /api/paper`."""
    return {
        "key": paper.key,
        "title": paper.title,
        "arxiv_id": paper.arxiv_id,
        "date": paper.date,
        "dates": list(paper.dates),
        "sources": list(paper.sources),
        "abstract": paper.abstract,
    }


def error_dict(message: str, candidates: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """An API error: what is wrong and what to do; for an unknown paper, the (key, title) pairs it may mean."""
    body: dict[str, Any] = {"error": message}
    if candidates:
        body["candidates"] = [{"key": key, "title": title} for key, title in candidates]
    return body
