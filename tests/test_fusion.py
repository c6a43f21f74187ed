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


def test_hybrid_default_fuses_both_lists():
    fused = fusion.hybrid(DENSE, LEXICAL)
    assert sorted(ids(fused)) == [1, 2, 3, 4]
    assert all(a[1] >= b[1] for a, b in zip(fused, fused[1:]))
    # A paper first in both lists comes first; one in neither list never appears.
    assert ids(fusion.hybrid([(8, 0.9), (1, 0.5)], [(8, 9.0), (2, 1.0)]))[0] == 8
    assert fusion.hybrid([], []) == []
    assert ids(fusion.hybrid([], LEXICAL)) == [3, 1, 4]
