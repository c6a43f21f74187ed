"""Ranking quality against relevance judgments: nDCG@k, Recall@k and MRR@k, as trec_eval defines them. Pure.

Judgments (qrels) map a query id to {document id: relevance}; a relevance above zero means relevant, and its
value is the gain nDCG counts. A run maps a query id to its ranked document ids, best first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Sequence[str]]

# The measures `semsearch eval` reports, in the order it prints them.
MEASURES = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


def _unique(ranking: Sequence[str], k: int) -> list[str]:
    """The first k distinct documents (a document listed twice counts once, at its best rank)."""
    seen: set[str] = set()
    out: list[str] = []
    for doc in ranking:
        if doc not in seen:
            seen.add(doc)
            out.append(doc)
            if len(out) == k:
                break
    return out


def ndcg_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """Normalized discounted cumulative gain of the top k: gain = relevance, discount = log2(rank + 1)."""
    ideal_gains = sorted((rel for rel in judged.values() if rel > 0), reverse=True)[:k]
    ideal = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(ideal_gains, start=1))
    if ideal == 0:
        return 0.0
    dcg = sum(
        judged.get(doc, 0) / math.log2(rank + 1)
        for rank, doc in enumerate(_unique(ranking, k), start=1)
        if judged.get(doc, 0) > 0
    )
    return dcg / ideal


def recall_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """The share of the relevant documents found in the top k."""
    relevant = {doc for doc, rel in judged.items() if rel > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_unique(ranking, k))) / len(relevant)


def mrr_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """1 / the rank of the first relevant document in the top k, or 0 when there is none."""
    for rank, doc in enumerate(_unique(ranking, k), start=1):
        if judged.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


_FUNCTIONS = {"ndcg": ndcg_at_k, "recall": recall_at_k, "mrr": mrr_at_k}


def measure(name: str, ranking: Sequence[str], judged: Mapping[str, int]) -> float:
    """One measure named like "ndcg@10" for one query."""
    kind, _, cutoff = name.partition("@")
    if kind not in _FUNCTIONS or not cutoff.isdigit() or int(cutoff) < 1:
        raise ValueError(f"unknown measure {name!r}; use ndcg@K, recall@K or mrr@K")
    return _FUNCTIONS[kind](ranking, judged, int(cutoff))


def evaluate_run(run: Run, qrels: Qrels, measures: Sequence[str] = MEASURES) -> dict[str, float]:
    """Each measure averaged over the judged queries that have a relevant document (an unanswered one scores 0)."""
    # trec_eval skips queries missing from the run, which flatters a run that fails to answer some.
    queries = [query for query, judged in qrels.items() if any(rel > 0 for rel in judged.values())]
    if not queries:
        return {name: 0.0 for name in measures}
    return {
        name: sum(measure(name, run.get(query, ()), qrels[query]) for query in queries) / len(queries)
        for name in measures
    }
