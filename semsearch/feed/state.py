"""The reader's saved state in the index's database: watches (saved questions), likes and the last-seen mark."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from semsearch.errors import SemsearchError
from semsearch.search.resolve import resolve_paper_id
from semsearch.storage.store import Store, StoredPaper

# The mark `news` moves: the arrival number of the last paper it showed as new.
SEEN_MARK = "news_seen"
# Longest question and watch name accepted: longer than any sensible question, short enough to bound the work.
MAX_QUESTION = 1000
MAX_NAME = 60
# A default name is made of the question's first few words.
NAME_WORDS = 4


class FeedError(SemsearchError):
    """A watch or like request that cannot be carried out (an unknown or taken name, an empty question)."""


@dataclass(frozen=True)
class Watch:
    """A saved question."""

    name: str
    question: str
    added_at: str

    def to_dict(self) -> dict:
        """The `watch list --json` shape."""
        return {"name": self.name, "question": self.question, "added_at": self.added_at}


@dataclass(frozen=True)
class Like:
    """A liked paper."""

    paper: StoredPaper
    liked_at: str

    def to_dict(self) -> dict:
        """The `likes --json` shape."""
        return {
            "key": self.paper.key,
            "title": self.paper.title,
            "date": self.paper.date,
            "arxiv_id": self.paper.arxiv_id,
            "liked_at": self.liked_at,
        }


@contextmanager
def open_store(folder: Path) -> Iterator[Store]:
    """The index's database, closed afterwards (an index that does not exist is an error, never created)."""
    store = Store.open(Path(folder))
    try:
        yield store
    finally:
        store.close()


def default_name(question: str) -> str:
    """A watch name from the question's first words, e.g. parallel-corpora-for-indic."""
    words = re.findall(r"\w+", question.lower())
    return "-".join(words[:NAME_WORDS])[:MAX_NAME] or "watch"


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise FeedError("the watch name is empty; give one with --name, e.g. --name indic-mt")
    if len(name) > MAX_NAME:
        raise FeedError(f"the watch name is {len(name)} characters long; keep it to {MAX_NAME}")
    return name


def add_watch(folder: Path, question: str, name: str | None = None) -> Watch:
    """Save a question under `name` (by default its first words); a taken name is an error."""
    question = " ".join(question.split())
    if not question:
        raise FeedError('the question is empty; watch something, e.g. semsearch watch add "parallel corpora"')
    if len(question) > MAX_QUESTION:
        raise FeedError(f"the question is {len(question)} characters long; keep it to {MAX_QUESTION}")
    name = _check_name(name if name is not None else default_name(question))
    with open_store(folder) as store:
        with store.transaction():
            store.ensure_feed_tables()
            if not store.add_watch(name, question):
                raise FeedError(
                    f'a watch named "{name}" exists already; pick another name with --name, or remove it first '
                    f"with `semsearch watch remove {name}`"
                )
        return next(watch for watch in watches_of(store) if watch.name == name)


def remove_watch(folder: Path, name: str) -> Watch:
    """Forget a saved question; an unknown name is an error that lists the names there are."""
    with open_store(folder) as store:
        known = watches_of(store)
        found = next((watch for watch in known if watch.name == name.strip()), None)
        if found is None:
            names = ", ".join(watch.name for watch in known)
            raise FeedError(
                f'no watch is named "{name}"; '
                + (f"the watches are: {names}" if names else "there are none (add one with `semsearch watch add`)")
            )
        with store.transaction():
            store.remove_watch(found.name)
        return found


def watches(folder: Path) -> list[Watch]:
    """Every saved question, oldest first."""
    with open_store(folder) as store:
        return watches_of(store)


def watches_of(store: Store) -> list[Watch]:
    """Every saved question of an open database, oldest first."""
    return [Watch(*row) for row in store.watches()]


def set_liked(folder: Path, references: Sequence[str], liked: bool = True) -> list[tuple[StoredPaper, bool]]:
    """Like (or unlike) papers named by key, arXiv id or title, as `related` resolves them: all of them or, if one
    is unknown, none. Each paper comes back with whether this changed it (False: it already was so)."""
    with open_store(folder) as store:
        ids = list(dict.fromkeys(resolve_paper_id(store, reference) for reference in references))
        papers = store.papers(ids)
        with store.transaction():
            store.ensure_feed_tables()
            changed = [store.set_liked(paper_id, liked) for paper_id in ids]
        return [(papers[paper_id], did) for paper_id, did in zip(ids, changed)]


def likes(folder: Path) -> list[Like]:
    """Every liked paper, oldest like first."""
    with open_store(folder) as store:
        return likes_of(store)


def likes_of(store: Store) -> list[Like]:
    """Every liked paper of an open database, oldest like first."""
    rows = store.liked()
    papers = store.papers([paper_id for paper_id, _ in rows])
    return [Like(papers[paper_id], liked_at) for paper_id, liked_at in rows if paper_id in papers]
