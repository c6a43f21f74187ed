"""Ranking new papers for a reader: each watch and each like scores the papers, each on a scale of its own made
comparable, and a paper's feed score is its best.

A watch scores papers as `ask` ranks them (hybrid: cosine plus the share of the question's best BM25), a like as
`related` ranks a stored paper's neighbours (its vector and its words). Raw scores of two watches are not on one
scale: a broad question ("language models") scores every paper higher than a narrow one, and would drown it. So each
source's scores are standardized over the new papers (z-scores): a paper is picked for how far it stands out among
the new papers for that watch or like. scripts/eval_feed.py measured this against raw scores, standardizing over a
background of older papers, a median/MAD z-score, round robin and a classifier over liked vectors, and it was
chosen on SciFact's train claims (README, "watch, like, news").
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from semsearch.keys import document_text
from semsearch.search import SearchIndex
from semsearch.search.fusion import DEFAULT_MODE, RELATED_MODE

# How scores of different sources are made comparable (scripts/eval_feed.py compares them): none (the raw search
# score), "new" (z-scores over the new papers: the default, best on SciFact), "background" (z-scores over older
# papers).
NORMALIZATIONS = ("none", "new", "background")
DEFAULT_NORMALIZATION = "new"
# Older papers each source is scored on to learn its usual scores; enough for a steady mean and spread.
BACKGROUND_SIZE = 300
# Fewer papers than this to standardize over (a quiet day, a young index): older papers join the new ones in the
# mean and spread, so that one new paper is not "unusual" by construction.
MIN_REFERENCE = 50
# A paper matches a source when its standardized score is at least this: on SciFact's train claims
# (scripts/eval_feed.py), 95% of the right papers reach it and 5% of the others; reported on the test claims.
MATCH_THRESHOLD = 2.5
# With too few papers to standardize over at all (an index of a few dozen papers), the raw fused score decides:
# on the train claims 72% of the right papers reach it and 0.5% of the others.
RAW_MATCH_THRESHOLD = 0.4


@dataclass(frozen=True)
class Source:
    """What a paper can match: a watch (a question) or a like (a stored paper)."""

    kind: str  # "watch" or "like"
    name: str  # the watch's name, or the liked paper's key
    text: str  # the question, or the liked paper's title and abstract
    paper_id: int | None = None  # the liked paper
    title: str = ""  # the liked paper's title (what explains a match to it)


def watch_source(name: str, question: str) -> Source:
    """A saved question as a source."""
    return Source("watch", name, question)


def like_source(paper_id: int, key: str, title: str, abstract: str) -> Source:
    """A liked paper as a source."""
    return Source("like", key, document_text(title, abstract), paper_id, title)


def raw_scores(index: SearchIndex, source: Source, ids: Collection[int]) -> dict[int, float]:
    """Each of `ids`'s score for one source, as `ask` (a watch) or `related` (a like) would score it."""
    allowed = frozenset(int(i) for i in ids)
    if source.paper_id is not None:
        allowed -= {source.paper_id}
    if not allowed:
        return {}
    if source.kind == "watch":
        vector, mode = index.query_vector(source.text), DEFAULT_MODE
    else:
        vector, mode = index.stored_vector(source.paper_id), RELATED_MODE
    # Every allowed paper is ranked (limit = all of them), so each gets its real score.
    ranking = index.rank(mode, source.text, vector, len(allowed), allowed=allowed)
    scores = dict.fromkeys(allowed, 0.0)
    scores.update(ranking)
    return scores


def standardized(scores: dict[int, float], reference: Sequence[float]) -> dict[int, float]:
    """Scores as z-scores against the mean and spread of `reference` scores."""
    if not reference:
        return dict(scores)
    mean = sum(reference) / len(reference)
    spread = math.sqrt(sum((value - mean) ** 2 for value in reference) / len(reference)) or 1.0
    return {paper_id: (value - mean) / spread for paper_id, value in scores.items()}


def source_scores(
    index: SearchIndex,
    source: Source,
    new_ids: Collection[int],
    background_ids: Collection[int],
    normalization: str = DEFAULT_NORMALIZATION,
) -> dict[int, float]:
    """Each new paper's score for one source, made comparable across sources by `normalization`."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; use one of {', '.join(NORMALIZATIONS)}")
    new_ids = set(new_ids)
    if normalization == "none":
        return raw_scores(index, source, new_ids)
    background = set(background_ids) - new_ids
    if normalization == "new":
        padding = background_sample(background, max(0, MIN_REFERENCE - len(new_ids)))
        scores = raw_scores(index, source, new_ids | set(padding))
        return {i: value for i, value in standardized(scores, list(scores.values())).items() if i in new_ids}
    scores = raw_scores(index, source, new_ids | background)
    reference_ids = background if len(background) >= MIN_REFERENCE else set(scores)
    reference = [scores[i] for i in reference_ids if i in scores]
    return {i: value for i, value in standardized(scores, reference).items() if i in new_ids}


def match_threshold(normalization: str) -> float:
    """The score at which a paper counts as matching a source."""
    return RAW_MATCH_THRESHOLD if normalization == "none" else MATCH_THRESHOLD


def usable_normalization(normalization: str, papers: int) -> str:
    """`normalization`, or "none" when the index holds too few papers (`papers`) to standardize over."""
    return "none" if papers < MIN_REFERENCE else normalization


def background_sample(candidates: Collection[int], size: int = BACKGROUND_SIZE) -> list[int]:
    """A fixed spread of older papers (every k-th by id), so the same index standardizes the same way each time."""
    ordered = sorted(candidates)
    if size <= 0:
        return []
    if len(ordered) <= size:
        return ordered
    return [ordered[int(i)] for i in np.linspace(0, len(ordered) - 1, size)]


def merge(per_source: dict[Source, dict[int, float]]) -> dict[int, list[tuple[Source, float]]]:
    """Each paper's (source, score) pairs, best first."""
    found: dict[int, list[tuple[Source, float]]] = {}
    for source, scores in per_source.items():
        for paper_id, score in scores.items():
            found.setdefault(paper_id, []).append((source, score))
    for pairs in found.values():
        pairs.sort(key=lambda pair: -pair[1])
    return found
