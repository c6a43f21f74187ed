"""The read side of an index, its one front door: `SearchIndex` (questions, related papers, lookups, state), the
`StoredPaper` and `Hit` records it answers with (a search's `Hits`: a list of `Hit` plus its `Notice`s), and
`single_threaded_searches` for callers that search one question per thread.

These names are loaded on first use: the CLI imports the pure modules of this package
(`fusion`) at start-up, and `semsearch --help` must not pay for numpy and FAISS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from semsearch.search.searcher import Hit, Hits, IndexInfo, Notice, SearchIndex, StoredPaper
    from semsearch.storage.vectors import single_threaded_searches

__all__ = ["Hit", "Hits", "IndexInfo", "Notice", "SearchIndex", "StoredPaper", "single_threaded_searches"]


def __getattr__(name: str) -> Any:
    if name == "single_threaded_searches":
        from semsearch.storage import vectors

        return vectors.single_threaded_searches
    if name in __all__:
        from semsearch.search import searcher

        return getattr(searcher, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
