"""The retrieval measures: hand-computed cases, and agreement with trec_eval (through ir-measures) on SciFact runs."""

from __future__ import annotations

import math
import random

import pytest

from semsearch.evaluation.metrics import MEASURES, evaluate_run, measure, mrr_at_k, ndcg_at_k, recall_at_k
from semsearch.search import lexical
from semsearch.storage.store import Store

LOG2_3 = math.log2(3)


def test_binary_judgments_by_hand():
    ranking = ["d2", "d1", "d3", "d4"]
    judged = {"d1": 1, "d3": 1, "d9": 0}
    # DCG = 1/log2(3) + 1/log2(4); the ideal puts both relevant papers first: 1 + 1/log2(3).
    assert ndcg_at_k(ranking, judged, 10) == pytest.approx((1 / LOG2_3 + 0.5) / (1 + 1 / LOG2_3))
    assert ndcg_at_k(ranking, judged, 1) == 0.0
    assert ndcg_at_k(ranking, judged, 2) == pytest.approx((1 / LOG2_3) / (1 + 1 / LOG2_3))
    assert recall_at_k(ranking, judged, 10) == 1.0
    assert recall_at_k(ranking, judged, 2) == 0.5
    assert mrr_at_k(ranking, judged, 10) == 0.5
    assert mrr_at_k(ranking, judged, 1) == 0.0


def test_graded_judgments_use_the_relevance_as_gain():
    judged = {"a": 2, "b": 1}
    # DCG = 1 + 2/log2(3); ideal = 2 + 1/log2(3).
    assert ndcg_at_k(["b", "a"], judged, 10) == pytest.approx((1 + 2 / LOG2_3) / (2 + 1 / LOG2_3))
    assert ndcg_at_k(["a", "b"], judged, 10) == pytest.approx(1.0)


def test_cutoffs_duplicates_and_empty_cases():
    judged = {"hit": 1}
    late = [f"miss{i}" for i in range(10)] + ["hit"]
    assert ndcg_at_k(late, judged, 10) == 0.0 and mrr_at_k(late, judged, 10) == 0.0
    assert recall_at_k(late, judged, 100) == 1.0
    assert mrr_at_k(late, judged, 11) == pytest.approx(1 / 11)
    # A document listed twice counts once, at its first rank, and does not push others out of the top k.
    assert recall_at_k(["x", "x", "hit"], judged, 2) == 1.0
    assert ndcg_at_k(["hit", "hit"], {"hit": 1, "other": 1}, 10) == pytest.approx(1 / (1 + 1 / LOG2_3))
    assert ndcg_at_k([], judged, 10) == recall_at_k([], judged, 10) == mrr_at_k([], judged, 10) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0


def test_measure_names():
    assert measure("ndcg@10", ["a"], {"a": 1}) == 1.0
    assert measure("recall@100", ["a"], {"a": 1, "b": 1}) == 0.5
    for bad in ("ndcg", "map@10", "mrr@0", "recall@x"):
        with pytest.raises(ValueError):
            measure(bad, ["a"], {"a": 1})


def test_run_averages_over_judged_queries_and_counts_missing_ones_as_zero():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}  # q3 has nothing relevant: not counted
    run = {"q1": ["a"], "q3": ["c"]}  # q2 unanswered
    result = evaluate_run(run, qrels)
    assert set(result) == set(MEASURES)
    assert result["ndcg@10"] == 0.5 and result["mrr@10"] == 0.5 and result["recall@100"] == 0.5
    assert evaluate_run({}, {}) == {name: 0.0 for name in MEASURES}


# -- against trec_eval ------------------------------------------------------------------------------------------


def _scifact_runs(scifact, scifact_lexical) -> dict[str, dict[str, list[str]]]:
    """Real runs on SciFact test: BM25 from the lexical index, and two noisier ones made from it."""
    folder, keys = scifact_lexical
    store = Store.open(folder)
    try:
        bm25 = {}
        for query_id, text in scifact.queries.items():
            match = lexical.fts_query(lexical.query_terms(text))
            bm25[query_id] = [keys[paper_id] for paper_id, _ in store.lexical_search(match, 100)] if match else []
    finally:
        store.close()
    rng = random.Random(5)
    doc_ids = [doc_id for doc_id, _, _ in scifact.corpus]
    shuffled = {q: rng.sample(r[:20], len(r[:20])) + r[20:] for q, r in bm25.items()}
    noisy = {q: [d if rng.random() < 0.7 else rng.choice(doc_ids) for d in r] for q, r in bm25.items()}
    return {"bm25": bm25, "shuffled": shuffled, "noisy": noisy}


def test_measures_agree_with_trec_eval_on_scifact(scifact, scifact_lexical):
    ir_measures = pytest.importorskip("ir_measures", reason="a test dependency: pip install -e '.[test]'")
    from ir_measures import RR, R, nDCG

    names = {"ndcg@10": nDCG @ 10, "recall@10": R @ 10, "recall@100": R @ 100, "mrr@10": RR @ 10}
    # SciFact judges everything 1; a graded copy (1 or 2, fixed by the id) checks gains too.
    graded = {q: {d: 1 + int(d) % 2 for d in judged} for q, judged in scifact.qrels.items()}
    runs = _scifact_runs(scifact, scifact_lexical)
    for qrels in (scifact.qrels, graded):
        reference_qrels = [ir_measures.Qrel(q, d, rel) for q, judged in qrels.items() for d, rel in judged.items()]
        for label, run in runs.items():
            run = {q: list(dict.fromkeys(r)) for q, r in run.items() if r}  # trec_eval wants each doc once
            # Scores strictly decreasing with rank, so trec_eval's tie-breaking cannot reorder anything.
            reference_run = [
                ir_measures.ScoredDoc(q, d, float(len(r) - rank)) for q, r in run.items() for rank, d in enumerate(r)
            ]
            expected = ir_measures.calc_aggregate(list(names.values()), reference_qrels, reference_run)
            # trec_eval averages over the queries a run answers; so does this comparison.
            ours = evaluate_run(run, {q: qrels[q] for q in run})
            for name, reference in names.items():
                assert round(ours[name], 4) == round(expected[reference], 4), (label, name)
