"""`news`: the papers that entered the index since the reader last looked, ranked by their watches and likes, each
pick saying what it matched and why."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from semsearch.feed import rank
from semsearch.feed.state import SEEN_MARK, likes_of, open_store, watches_of
from semsearch.feed.state import watches as saved_watches
from semsearch.index import embedder_for
from semsearch.model.embed import Embedder
from semsearch.search import Hit, SearchIndex, StoredPaper
from semsearch.search.explain import Why
from semsearch.search.filters import parse_date
from semsearch.storage.store import Store

DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class Match:
    """One watch or like a paper matched, and how well (its standardized score)."""

    kind: str
    name: str
    score: float

    def to_dict(self) -> dict:
        """The `--json` shape."""
        return {"kind": self.kind, "name": self.name, "score": round(self.score, 6)}


@dataclass(frozen=True)
class Pick:
    """A new paper in the feed: its rank, score (its best match's), what it matched (best first) and why."""

    rank: int
    score: float
    paper: StoredPaper
    matched: tuple[Match, ...] = ()
    why: Why | None = None

    def to_dict(self) -> dict:
        """The `news --json` shape."""
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "key": self.paper.key,
            "title": self.paper.title,
            "date": self.paper.date,
            "arxiv_id": self.paper.arxiv_id,
            "matched": [match.to_dict() for match in self.matched],
            "why": self.why.to_dict() if self.why is not None else None,
        }


class Feed(list[Pick]):
    """The picks of one `news`, best first (then, with `include_all`, the new papers that matched nothing), and
    what the feed was made of."""

    def __init__(
        self, picks: Iterable[Pick] = (), *, new_papers: int = 0, watches: int = 0, likes: int = 0, seen_upto: int = 0
    ) -> None:
        super().__init__(picks)
        self.new_papers = new_papers
        self.watches = watches
        self.likes = likes
        # The arrival number of the last paper this feed looked at: `mark_seen(folder, seen_upto)` marks exactly
        # what it showed as seen (a page that shows a peek, then a button that marks it).
        self.seen_upto = seen_upto


def _new_papers(store: Store, since: str | None) -> tuple[list[int], int]:
    """The papers to look at (in arrival order) and the arrival number to move the mark to."""
    last = store.last_arrival()
    if since is not None:
        wanted = store.ids_appearing(since=parse_date(since, "--since date"))
        return [paper_id for _, paper_id in store.arrivals_after(0) if paper_id in wanted], last
    return [paper_id for _, paper_id in store.arrivals_after(store.feed_mark(SEEN_MARK) or 0)], last


def news(
    index: Path | SearchIndex,
    *,
    embedder: Embedder | None = None,
    since: str | None = None,
    peek: bool = False,
    limit: int = DEFAULT_LIMIT,
    include_all: bool = False,
    why: bool = True,
    normalization: str = rank.DEFAULT_NORMALIZATION,
) -> Feed:
    """The new papers ranked for the reader: those that entered the index since the last `news` (or, with `since`
    (YYYY-MM-DD), those of a digest of that day or later), best match first, at most `limit` picks; `include_all`
    adds the new papers that matched nothing, newest digest first. Moves the last-seen mark unless `peek` or `since`.

    `index` is a folder (opened with `embedder`; None: the bundled model, loaded only when there are watches) or an
    open `SearchIndex`.
    """
    if isinstance(index, SearchIndex):
        return _news(index, since, peek, limit, include_all, why, normalization)
    folder = Path(index)
    if embedder is None and saved_watches(folder):
        embedder = embedder_for(folder)
    with SearchIndex(folder, embedder) as search_index:
        return _news(search_index, since, peek, limit, include_all, why, normalization)


def _news(
    index: SearchIndex, since: str | None, peek: bool, limit: int, include_all: bool, why: bool, normalization: str
) -> Feed:
    with open_store(index.folder) as store:
        if not peek and since is None:
            with store.transaction():
                store.ensure_feed_tables()  # an older index: number its papers before the mark counts them
        with store.snapshot():
            new_ids, last = _new_papers(store, since)
            watches, likes = watches_of(store), likes_of(store)
            older = store.paper_ids() - set(new_ids)
        # A paper the reader liked is known to them already: never news, whatever it matches.
        liked_ids = {like.paper.id for like in likes}
        new_ids = [paper_id for paper_id in new_ids if paper_id not in liked_ids]
        sources = [rank.watch_source(w.name, w.question) for w in watches] + [
            rank.like_source(like.paper.id, like.paper.key, like.paper.title, like.paper.abstract) for like in likes
        ]
        background = rank.background_sample(older - {source.paper_id for source in sources})
        normalization = rank.usable_normalization(normalization, len(new_ids) + len(background))
        per_source = {
            source: rank.source_scores(index, source, new_ids, background, normalization) for source in sources
        }
        threshold = rank.match_threshold(normalization)
        matches = {
            paper_id: [Match(source.kind, source.name, score) for source, score in pairs if score >= threshold]
            for paper_id, pairs in rank.merge(per_source).items()
        }
        arrival = {paper_id: position for position, paper_id in enumerate(new_ids)}
        picked = sorted(
            (paper_id for paper_id in new_ids if matches.get(paper_id)),
            key=lambda paper_id: (-matches[paper_id][0].score, arrival[paper_id]),
        )[:limit]
        rest = [paper_id for paper_id in new_ids if not matches.get(paper_id)]
        papers = store.papers(picked + rest)
        rest.sort(key=lambda paper_id: papers[paper_id].date or "", reverse=True)
        if not include_all:
            rest = rest[:limit] if not sources else []
        picks = [
            Pick(rank=0, score=matches[paper_id][0].score, paper=papers[paper_id], matched=tuple(matches[paper_id]))
            for paper_id in picked
        ]
        if why:
            picks = _explained(index, picks, {(source.kind, source.name): source for source in sources})
        picks += [Pick(rank=0, score=0.0, paper=papers[paper_id]) for paper_id in rest]
        if not peek and since is None:
            with store.transaction():
                store.set_feed_mark(SEEN_MARK, last)
    return Feed(
        (Pick(number, pick.score, pick.paper, pick.matched, pick.why) for number, pick in enumerate(picks, start=1)),
        new_papers=len(new_ids),
        watches=len(watches),
        likes=len(likes),
        seen_upto=last,
    )


def mark_seen(folder: Path, upto: int | None = None) -> int:
    """Move the last-seen mark to arrival `upto` (None: every paper now in the index), never back; returns it."""
    with open_store(Path(folder)) as store:
        with store.transaction():
            store.ensure_feed_tables()
            last = store.last_arrival()
            mark = min(last, upto) if upto is not None else last
            mark = max(mark, store.feed_mark(SEEN_MARK) or 0)
            store.set_feed_mark(SEEN_MARK, mark)
        return mark


def _explained(index: SearchIndex, picks: list[Pick], sources: dict[tuple[str, str], rank.Source]) -> list[Pick]:
    """Each pick with why it matched its best source: the nearest sentence and shared words, as `ask --why` says.
    A like explains by the liked paper's title, the nearest thing it has to a question."""
    by_source: dict[tuple[str, str], list[int]] = {}
    for position, pick in enumerate(picks):
        by_source.setdefault((pick.matched[0].kind, pick.matched[0].name), []).append(position)
    out = list(picks)
    for kind_and_name, positions in by_source.items():
        source = sources[kind_and_name]
        question = source.text if source.kind == "watch" else source.title
        hits = [Hit(rank=1, score=picks[p].score, paper=picks[p].paper) for p in positions]
        for position, hit in zip(positions, index.explain(question, hits)):
            out[position] = Pick(0, picks[position].score, picks[position].paper, picks[position].matched, hit.why)
    return out
