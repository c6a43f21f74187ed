"""The write side of an index, its one front door: `update`, `rebuild`, `remove` and `check`.

An index is a folder holding `papers.sqlite3` (papers, their vectors, the committed state: the source of truth),
and the FAISS file and word index file derived from it. Reading goes through `semsearch.search.SearchIndex`.

The write path (`update`, `rebuild`, `remove` and their records) is loaded on first use: it reads digests of every
format, and `semsearch ask` needs only `embedder_for` from here (those readers' imports cost a cold question tens of
milliseconds).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from semsearch.index.check import CheckReport, check
from semsearch.index.merge import DEFAULT_POLICY, MergePolicy
from semsearch.storage.store import index_exists, recorded_model

if TYPE_CHECKING:
    from semsearch.index.write import Inputs, RemoveReport, UpdateReport, rebuild, remove, update
    from semsearch.model.embed import Embedder

_WRITE_NAMES = ("Inputs", "RemoveReport", "UpdateReport", "rebuild", "remove", "update")

__all__ = [
    "DEFAULT_POLICY",
    "CheckReport",
    "Inputs",
    "MergePolicy",
    "RemoveReport",
    "UpdateReport",
    "check",
    "embedder_for",
    "index_exists",
    "rebuild",
    "recorded_model",
    "remove",
    "update",
]


def embedder_for(folder: Path, precision: str | None = None, *, reembed: bool = False) -> Embedder:
    """The embedder for the index at `folder`: the bundled model at `precision`, else at the variant the index
    records (the default for a new index); SEMSEARCH_EMBEDDER's embedder when that is set.

    An index keeps the number of word pieces its vectors were made from, so its updates and questions match them;
    `reembed` (a rebuild that embeds every paper again) takes the current reading instead, as a new index does.
    """
    from semsearch.model.bundled import MAX_TOKENS, variant_of
    from semsearch.model.embed import embedder_from_spec

    recorded = variant_of(recorded_model(folder))
    if precision is None and recorded is not None:
        precision = recorded[0]
    keep = recorded is not None and not reembed and precision == recorded[0]
    return embedder_from_spec(precision=precision, max_tokens=recorded[1] if keep else MAX_TOKENS)


def __getattr__(name: str) -> Any:
    if name in _WRITE_NAMES:
        from semsearch.index import write

        return getattr(write, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
