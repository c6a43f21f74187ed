"""Which paper a user means: a key, an arXiv id, an exact title or an unambiguous part of one."""

from __future__ import annotations

from collections.abc import Sequence

from semsearch.errors import PaperNotFoundError
from semsearch.keys import normalize_arxiv_id, normalize_title
from semsearch.storage.store import Store, TitleRow

# Candidates listed with an ambiguous or unknown reference; the error says how many there were in all.
SHOWN_CANDIDATES = 8


def resolve_paper_id(store: Store, reference: str) -> int:
    """The id of the one paper meant by a key, an arXiv id, an exact title or an unambiguous part of a title."""
    reference = reference.strip()
    if not reference:
        raise PaperNotFoundError("no paper given; pass a key, an arXiv id or a title")
    paper_id = store.id_by_key(reference)
    if paper_id is not None:
        return paper_id
    arxiv_id = normalize_arxiv_id(reference)
    if arxiv_id is not None:
        paper_id = store.id_by_arxiv_id(arxiv_id)
        if paper_id is not None:
            return paper_id
    return _resolve_title(store, reference, arxiv_id)


def _resolve_title(store: Store, reference: str, arxiv_id: str | None) -> int:
    """The paper whose title `reference` is or is part of; `arxiv_id`: what the reference reads as, if an arXiv id."""
    wanted = normalize_title(reference)
    if not wanted:
        raise PaperNotFoundError(f'"{reference}" names no paper; pass a key, an arXiv id or a title')
    rows = store.title_rows()
    exact = [row for row in rows if row.title_norm == wanted]
    if len(exact) == 1:
        return exact[0].id
    partial = exact or [row for row in rows if wanted in row.title_norm]
    if len(partial) == 1:
        return partial[0].id
    if partial:
        partial.sort(key=lambda row: (len(row.title_norm), row.key))
        raise PaperNotFoundError(
            f'"{reference}" matches {len(partial)} papers; pass one of these keys instead',
            [(row.key, row.title) for row in partial[:SHOWN_CANDIDATES]],
            total=len(partial),
        )
    if arxiv_id is not None:
        # Titles sharing the id's digits with it are no help: say what is true of the ids instead.
        raise PaperNotFoundError(_unknown_arxiv_id(store, arxiv_id))
    closest = _closest_titles(wanted, rows)
    if not closest:
        raise PaperNotFoundError(
            f'no paper matches "{reference}", and no title shares a word with it; pass a key, an arXiv id or a title'
        )
    raise PaperNotFoundError(
        f'no paper matches "{reference}"; the closest titles are below (pass a key)',
        [(row.key, row.title) for row in closest],
    )


def _unknown_arxiv_id(store: Store, arxiv_id: str) -> str:
    """Why no paper has this arXiv id: the index holds none at all, or not this one."""
    if not store.has_arxiv_ids():
        return "no paper in this index has an arXiv id (its digests gave none); pass a key or a title"
    return f"no paper has arXiv id {arxiv_id}; check the id, or pass a key or a title"


def _closest_titles(wanted: str, rows: Sequence[TitleRow], limit: int = 5) -> list[TitleRow]:
    """Titles sharing the most words with what the user typed (cheap enough for 100k titles)."""
    words = set(wanted.split())

    def overlap(row: TitleRow) -> float:
        theirs = set(row.title_norm.split())
        return len(words & theirs) / (len(words | theirs) or 1)

    scored = sorted(((overlap(row), row.key, row) for row in rows), key=lambda t: (-t[0], t[1]))
    return [row for score, _, row in scored[:limit] if score > 0]
