"""Fusion of ranked lists on small crafted rankings, checked against sums done by hand."""

from __future__ import annotations

import pytest

from semsearch.search import fusion
from semsearch.search.fusion import normalized_score_fusion, reciprocal_rank_fusion

DENSE = [(1, 0.9), (2, 0.8), (3, 0.7)]
LEXICAL = [(3, 12.0), (1, 6.0), (4, 2.0)]


def ids(ranking):
    return [paper_id for paper_id, _ in ranking]


def test_rrf_sums_reciprocal_ranks():
    fused = dict(reciprocal_rank_fusion([DENSE, LEXICAL], k=60))
    assert fused == pytest.approx({1: 1 / 61 + 1 / 62, 2: 1 / 62, 3: 1 / 63 + 1 / 61, 4: 1 / 63})
    assert ids(reciprocal_rank_fusion([DENSE, LEXICAL], k=60)) == [1, 3, 2, 4]


def test_rrf_weights_and_k():
    # Weighting the lexical list three times lifts its first paper above the dense list's first.
    assert ids(reciprocal_rank_fusion([DENSE, LEXICAL], k=60, weights=[1, 3]))[0] == 3
    # A small k makes first places count for much more than second places: 1/(1+1) + 1/(1+2) for both 1 and 3,
    # and paper 2 (second in one list) beats paper 4 (third in one list).
    fused = dict(reciprocal_rank_fusion([DENSE, LEXICAL], k=1))
    assert fused[1] == pytest.approx(1 / 2 + 1 / 3) and fused[3] == pytest.approx(1 / 4 + 1 / 2)
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([DENSE, LEXICAL], weights=[1.0])


def test_rrf_ties_break_by_best_rank_then_id_and_duplicates_count_once():
    mirrored = reciprocal_rank_fusion([[(7, 1.0), (5, 0.5)], [(5, 3.0), (7, 1.0)]], k=10)
    assert ids(mirrored) == [5, 7] and mirrored[0][1] == pytest.approx(mirrored[1][1])
    once = dict(reciprocal_rank_fusion([[(1, 0.9), (1, 0.8), (2, 0.7)]], k=10))
    assert once == pytest.approx({1: 1 / 11, 2: 1 / 13})


def test_minmax_fusion_by_hand():
    # Dense normalized: 1 -> 1, 2 -> 0.5, 3 -> 0; lexical: 3 -> 1, 1 -> 0.4, 4 -> 0; missing -> that list's 0.
    fused = dict(normalized_score_fusion([DENSE, LEXICAL], weights=[0.5, 0.5], method="minmax"))
    assert fused == pytest.approx({1: 0.5 * 1 + 0.5 * 0.4, 2: 0.5 * 0.5, 3: 0.5 * 0 + 0.5 * 1, 4: 0.0})
    assert ids(normalized_score_fusion([DENSE, LEXICAL], weights=[0.5, 0.5]))[:3] == [1, 3, 2]
    assert ids(normalized_score_fusion([DENSE, LEXICAL], weights=[0.2, 0.8]))[0] == 3


def test_zscore_fusion_by_hand():
    # Dense z-scores: mean 0.8, population std sqrt(2/3)/10; paper 4 is missing there and gets the lowest (-1.2247).
    fused = dict(normalized_score_fusion([DENSE, [(4, 1.0), (2, 1.0)]], weights=[1, 1], method="zscore"))
    z = 0.1 / (0.02 / 3) ** 0.5
    assert fused == pytest.approx({1: z + 0.0, 2: 0.0 + 0.0, 3: -z + 0.0, 4: -z + 0.0})
    with pytest.raises(ValueError):
        normalized_score_fusion([DENSE], method="rank")


def test_degenerate_lists():
    assert reciprocal_rank_fusion([[], []]) == [] and normalized_score_fusion([[], []]) == []
    # One list alone keeps its order; a single score normalizes to the full share.
    assert ids(normalized_score_fusion([DENSE, []], weights=[1, 1])) == [1, 2, 3]
    assert normalized_score_fusion([[(9, 0.3)], [(9, 8.0)]]) == [(9, 2.0)]


def candidates(dense: dict[int, float], bm25: dict[int, float], bound: float | None) -> fusion.Candidates:
    ids = sorted(dense.keys() | bm25.keys())
    return fusion.Candidates(ids, [dense.get(i, 0.0) for i in ids], [bm25.get(i, 0.0) for i in ids], bound)


def test_hybrid_is_cosine_plus_the_lexical_share_of_bm25_over_its_bound():
    w = fusion.HYBRID_LEXICAL_WEIGHT
    fused = dict(fusion.hybrid(candidates({1: 0.9, 2: 0.8, 3: 0.7, 4: 0.1}, {3: 12.0, 1: 6.0, 4: 2.0}, 20.0)))
    assert fused == pytest.approx(
        {1: (1 - w) * 0.9 + w * 0.3, 2: (1 - w) * 0.8, 3: (1 - w) * 0.7 + w * 0.6, 4: (1 - w) * 0.1 + w * 0.1}
    )
    assert fusion.hybrid(candidates({}, {}, None)) == []


def test_a_word_only_one_paper_holds_counts_in_full():
    # The one paper with the rare word is far from the question's meaning, but a lone BM25 hit is not erased by
    # normalizing a one-entry list (the defect of z-scoring each list on its own).
    close_meanings = {paper: 0.45 - paper / 1000 for paper in range(1, 100)}
    fused = fusion.hybrid(candidates({**close_meanings, 500: 0.2}, {500: 7.5}, 9.0))
    assert fused[0][0] == 500


def test_hybrid_scores_mean_the_same_across_questions():
    # The same cosine and the same share of the question's attainable BM25 give the same fused score, whatever
    # else the answer holds.
    alone = dict(fusion.hybrid(candidates({1: 0.5}, {1: 3.0}, 10.0)))
    crowded = dict(fusion.hybrid(candidates({1: 0.5, 2: 0.9, 3: 0.1}, {1: 6.0, 2: 1.0}, 20.0)))
    assert alone[1] == pytest.approx(crowded[1])


def test_without_a_bound_the_best_bm25_stands_in():
    w = fusion.HYBRID_LEXICAL_WEIGHT
    fused = dict(fusion.hybrid(candidates({1: 0.5, 2: 0.5}, {1: 4.0, 2: 2.0}, None)))
    assert fused == pytest.approx({1: (1 - w) * 0.5 + w, 2: (1 - w) * 0.5 + w * 0.5})
