"""The search modes, and fusing cosine and BM25 into one ranking. Pure.

A ranking is a list of (paper id, score) pairs, best first. `hybrid` is the fusion semsearch uses; reciprocal-rank
and per-list normalized fusion are kept for the experiments that measured it against them (scripts/).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Ranking = Sequence[tuple[int, float]]


@dataclass(frozen=True)
class Candidates:
    """The papers hybrid search considers for one question, each scored by both measures."""

    ids: list[int]
    cosine: list[float]
    bm25: list[float]
    # The BM25 no paper can reach for the question's words (None when unknown): divides BM25 into [0, 1).
    bm25_bound: float | None

# How papers are ranked: by the model's vectors (cosine), by BM25 over title + abstract, or both fused.
MODES = ("dense", "lexical", "hybrid")
SCORE_KINDS = {"dense": "cosine", "lexical": "bm25", "hybrid": "fused"}
# The modes that measured best (README, "Retrieval quality"): on SciFact's judged queries for `ask`; for `related`,
# on a known-item test and on papers judged relevant to the same claim (scripts/eval_scifact.py related).
DEFAULT_MODE = "hybrid"
RELATED_MODE = "hybrid"


def _ordered(scores: dict[int, float], best_rank: dict[int, int]) -> list[tuple[int, float]]:
    # Ties go to the paper some list ranked higher, then to the lower id, so a fused order is reproducible.
    return sorted(scores.items(), key=lambda item: (-item[1], best_rank[item[0]], item[0]))


def _weights(rankings: Sequence[Ranking], weights: Sequence[float] | None) -> Sequence[float]:
    if weights is None:
        return [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    return weights


def reciprocal_rank_fusion(
    rankings: Sequence[Ranking], k: float = 60.0, weights: Sequence[float] | None = None
) -> list[tuple[int, float]]:
    """Score each paper by the sum over lists of weight / (k + its rank there), rank counted from 1."""
    scores: dict[int, float] = {}
    best_rank: dict[int, int] = {}
    for ranking, weight in zip(rankings, _weights(rankings, weights)):
        seen: set[int] = set()
        for rank, (paper_id, _score) in enumerate(ranking, start=1):
            if paper_id in seen:  # a list counts a paper once, at its best rank
                continue
            seen.add(paper_id)
            scores[paper_id] = scores.get(paper_id, 0.0) + weight / (k + rank)
            best_rank[paper_id] = min(best_rank.get(paper_id, rank), rank)
    return _ordered(scores, best_rank)


def _normalized(ranking: Ranking, method: str) -> list[float]:
    values = [score for _, score in ranking]
    if not values:
        return []
    if method == "minmax":
        low, high = min(values), max(values)
        # One score, or all equal: nothing tells the papers apart, so each gets the full share.
        return [1.0 if high == low else (value - low) / (high - low) for value in values]
    if method == "zscore":
        mean = sum(values) / len(values)
        spread = math.sqrt(sum((value - mean) ** 2 for value in values) / len(values))
        return [0.0 if spread == 0 else (value - mean) / spread for value in values]
    raise ValueError(f"unknown normalization {method!r}; use 'minmax' or 'zscore'")


def normalized_score_fusion(
    rankings: Sequence[Ranking], weights: Sequence[float] | None = None, method: str = "minmax"
) -> list[tuple[int, float]]:
    """Score each paper by the weighted sum of its scores, each list normalized on its own (min-max or z-score)."""
    # A paper missing from a list gets that list's lowest normalized score: it ranked below everything listed.
    normalized = [_normalized(ranking, method) for ranking in rankings]
    floors = [min(values) if values else 0.0 for values in normalized]
    weights = _weights(rankings, weights)
    contributions: dict[int, list[float | None]] = {}
    best_rank: dict[int, int] = {}
    for position, (ranking, values) in enumerate(zip(rankings, normalized)):
        for rank, ((paper_id, _score), value) in enumerate(zip(ranking, values), start=1):
            slots = contributions.setdefault(paper_id, [None] * len(rankings))
            if slots[position] is None:
                slots[position] = value
            best_rank[paper_id] = min(best_rank.get(paper_id, rank), rank)
    scores = {
        paper_id: sum(
            weight * (floor if value is None else value) for value, weight, floor in zip(slots, weights, floors)
        )
        for paper_id, slots in contributions.items()
    }
    return _ordered(scores, best_rank)


# Chosen on SciFact's train judgments by 5-fold cross-validation (`scripts/tune_fusion.py`; README, "Retrieval
# quality", has every method tried, its held-out score, the name test and the test score): each paper's cosine plus
# the lexical share of its BM25 divided by the question's BM25 bound. Both parts are on fixed scales, so a fused
# score means the same in every answer, and a word only one paper holds counts in full instead of vanishing into a
# one-entry list's normalization.
HYBRID_DEPTH = 100
HYBRID_LEXICAL_WEIGHT = 0.55


def hybrid(candidates: Candidates) -> list[tuple[int, float]]:
    """The `hybrid` mode: (1 - w) * cosine + w * BM25 / bound for every candidate, best first (ties by id)."""
    # Without a word index file the bound is unknown; the best candidate's BM25 stands in for it.
    bound = candidates.bm25_bound or max(candidates.bm25, default=0.0) or 1.0
    weight = HYBRID_LEXICAL_WEIGHT
    scores = [
        (paper_id, (1.0 - weight) * cosine + weight * bm25 / bound)
        for paper_id, cosine, bm25 in zip(candidates.ids, candidates.cosine, candidates.bm25)
    ]
    return sorted(scores, key=lambda pair: (-pair[1], pair[0]))
