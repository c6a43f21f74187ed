"""How hybrid search fuses cosine and BM25, chosen honestly: cross-validated on SciFact train, tested once.

    .venv/bin/python scripts/tune_fusion.py                # every method: 5-fold CV inside train, then test once
    .venv/bin/python scripts/tune_fusion.py --folds 10 --json

For every query the index gives the candidates hybrid search sees (the union of the top 100 by cosine and by BM25,
each paper with both real scores: `SearchIndex.candidates`). Each fusion method has one free parameter, the
lexical share `w`, searched on a grid. Cross-validation: the train queries are split into folds; for each fold the
best `w` on the other folds is scored on it; the table gives the mean and spread of those held-out scores, which
is what choosing a method on train is worth. Then every method is fitted on all of train and run once on test.
The name test (`scripts/name_test.py`) is the guard for the chosen method; the README records the outcome.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]  # the package, and the scripts' shared helpers

from machine import machine_line  # noqa: E402

from semsearch.evaluation.evaluate import EmbeddingCache, build_index, default_cache_dir, load_beir  # noqa: E402
from semsearch.evaluation.metrics import evaluate_run  # noqa: E402
from semsearch.index import embedder_for  # noqa: E402
from semsearch.search import SearchIndex, fusion  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "scifact"
DEPTH = 100
GRID = [round(0.05 * step, 2) for step in range(0, 21)]


def _order(ids: list[int], scores: list[float]) -> list[int]:
    return [paper for _, paper in sorted(zip(scores, ids), key=lambda pair: (-pair[0], pair[1]))]


def _zscores(values: list[float]) -> list[float]:
    mean = sum(values) / len(values)
    spread = math.sqrt(sum((value - mean) ** 2 for value in values) / len(values))
    return [0.0 if spread == 0 else (value - mean) / spread for value in values]


def _minmax(values: list[float]) -> list[float]:
    low, high = min(values), max(values)
    return [1.0 if high == low else (value - low) / (high - low) for value in values]


def zscore_top_lists(c: fusion.Candidates, w: float) -> list[int]:
    """The fusion before this change: each list z-scored over its own top 100, a missing paper at the list's floor."""
    dense = _order(c.ids, c.cosine)[:DEPTH]
    words = [paper for paper in _order(c.ids, c.bm25)[:DEPTH] if c.bm25[c.ids.index(paper)] > 0]
    cos = dict(zip(c.ids, c.cosine))
    bm = dict(zip(c.ids, c.bm25))
    ranked = [(dense, [cos[p] for p in dense]), (words, [bm[p] for p in words])]
    return _order_of(fusion.normalized_score_fusion(
        [list(zip(papers, values)) for papers, values in ranked], weights=[1 - w, w], method="zscore"
    ))


def _order_of(ranking: list[tuple[int, float]]) -> list[int]:
    return [paper for paper, _ in ranking]


def zscore_union(c: fusion.Candidates, w: float) -> list[int]:
    """Both scores z-scored over every candidate, real scores only."""
    return _order(c.ids, [(1 - w) * d + w * b for d, b in zip(_zscores(c.cosine), _zscores(c.bm25))])


def minmax_union(c: fusion.Candidates, w: float) -> list[int]:
    """Both scores min-max scaled over every candidate."""
    return _order(c.ids, [(1 - w) * d + w * b for d, b in zip(_minmax(c.cosine), _minmax(c.bm25))])


def cosine_plus_bounded_bm25(c: fusion.Candidates, w: float) -> list[int]:
    """Cosine as it is, BM25 divided by the score no paper can reach for the question (comparable across questions)."""
    bound = c.bm25_bound or max(c.bm25) or 1.0
    return _order(c.ids, [(1 - w) * d + w * b / bound for d, b in zip(c.cosine, c.bm25)])


def cosine_plus_max_bm25(c: fusion.Candidates, w: float) -> list[int]:
    """Cosine as it is, BM25 divided by the best candidate's BM25."""
    top = max(c.bm25) or 1.0
    return _order(c.ids, [(1 - w) * d + w * b / top for d, b in zip(c.cosine, c.bm25)])


def reciprocal_rank(c: fusion.Candidates, w: float) -> list[int]:
    """Reciprocal-rank fusion (k = 60) of the two top-100 lists, lexical weight w / (1 - w)."""
    dense = _order(c.ids, c.cosine)[:DEPTH]
    words = [p for p in _order(c.ids, c.bm25)[:DEPTH] if c.bm25[c.ids.index(p)] > 0]
    return _order_of(fusion.reciprocal_rank_fusion(
        [[(p, 0.0) for p in dense], [(p, 0.0) for p in words]], weights=[1 - w, w]
    ))


def library_default(c: fusion.Candidates, w: float) -> list[int]:
    """What `semsearch ask` does now (its weight is fixed; w is ignored)."""
    return _order_of(fusion.hybrid(c))


METHODS: dict[str, Callable[[fusion.Candidates, float], list[int]]] = {
    "zscore over each top-100, floors (before)": zscore_top_lists,
    "zscore over the union, real scores": zscore_union,
    "min-max over the union, real scores": minmax_union,
    "cosine + BM25 / its bound": cosine_plus_bounded_bm25,
    "cosine + BM25 / best BM25": cosine_plus_max_bm25,
    "reciprocal rank (k=60)": reciprocal_rank,
}


def candidates_of(search_index: SearchIndex, queries: dict[str, str], embedder) -> dict[str, fusion.Candidates]:
    """Each query's hybrid candidates."""
    return {
        query_id: search_index.candidates(text, embedder.embed_query(text), DEPTH) for query_id, text in queries.items()
    }


class Expansions:
    """Pseudo-relevance feedback and a title vector: candidates built from a changed question, to compare with."""

    def __init__(self, search_index: SearchIndex, corpus, embedder, doc_ids: dict[int, str]) -> None:
        import numpy as np

        self.np = np
        self.search_index = search_index
        self.embedder = embedder
        ids, matrix = search_index.stored_vectors()
        self.row = {int(paper): row for row, paper in enumerate(ids)}
        self.matrix = matrix
        by_doc = {doc: (title, text) for doc, title, text in corpus}
        self.texts = {paper: by_doc[doc] for paper, doc in doc_ids.items()}
        titles = embedder.embed_documents([by_doc[doc_ids[int(paper)]][0] for paper in ids], progress=None)
        self.titles = titles

    def rocchio(self, text: str, beta: float = 0.5, k: int = 5) -> fusion.Candidates:
        """Dense pseudo-relevance feedback: the question vector moved towards its top k papers' mean."""
        np = self.np
        vector = self.embedder.embed_query(text)
        top = [paper for paper, _ in self.search_index.rank("dense", text, vector, k)]
        moved = vector + beta * self.matrix[[self.row[p] for p in top]].mean(axis=0)
        return self.search_index.candidates(text, (moved / np.linalg.norm(moved)).astype(np.float32), DEPTH)

    def rm3(self, text: str, k: int = 5, terms: int = 10) -> fusion.Candidates:
        """Lexical pseudo-relevance feedback, RM3-like: the question's words plus the words that weigh most in its top
        k papers by BM25 (each paper's share by its rank-normalized score), the original words counted twice."""
        from collections import Counter

        from semsearch.search import lexical

        top = self.search_index.rank("lexical", text, None, k)
        if not top:
            return self.search_index.candidates(text, self.embedder.embed_query(text), DEPTH)
        total = sum(score for _, score in top)
        weights: Counter[str] = Counter()
        for paper, score in top:
            words = lexical.query_terms(" ".join(self.texts[paper]), max_terms=10_000)
            for word in words:
                weights[word] += score / total / len(words)
        own = lexical.query_terms(text)
        extra = [word for word, _ in weights.most_common(terms + len(own)) if word not in own][:terms]
        expanded = " ".join(own + own + extra)
        return self.search_index.candidates(expanded, self.embedder.embed_query(text), DEPTH)

    def with_title(self, text: str, share: float = 0.3) -> fusion.Candidates:
        """The cosine blended with the question's cosine to each paper's title alone."""
        vector = self.embedder.embed_query(text)
        base = self.search_index.candidates(text, vector, DEPTH)
        title_cosine = self.titles[[self.row[p] for p in base.ids]] @ vector
        cosine = [(1 - share) * c + share * float(tc) for c, tc in zip(base.cosine, title_cosine)]
        return fusion.Candidates(base.ids, cosine, base.bm25, base.bm25_bound)


def bm25_variants(folder: Path, embedder, train_queries: dict[str, str], test_queries: dict[str, str]) -> dict:
    """Train and test candidates with other BM25 parameters: k1 (term-frequency saturation), b (length
    normalization) and the title's weight against the abstract's (semsearch: k1 1.2, b 0.75, title 3)."""
    from semsearch.search import lexical
    from semsearch.storage import wordindex

    defaults = (wordindex.K1, wordindex.B)
    out = {}
    try:
        for k1 in (0.9, 1.2, 1.5):
            for b in (0.4, 0.75, 0.9):
                for title_weight in (1.0, 3.0):
                    if (k1, b, (title_weight, 1.0)) == (*defaults, lexical.FIELD_WEIGHTS):
                        continue
                    # The word index reads these at load (b) and at each question (k1): a fresh index per setting.
                    wordindex.K1, wordindex.B = k1, b
                    weights = (title_weight, 1.0)
                    with SearchIndex(folder, embedder) as search:
                        out[f"+ BM25 k1 {k1:g}, b {b:g}, title x{title_weight:g}"] = tuple(
                            {
                                q: search.candidates(text, embedder.embed_query(text), DEPTH, field_weights=weights)
                                for q, text in queries.items()
                            }
                            for queries in (train_queries, test_queries)
                        )
    finally:
        wordindex.K1, wordindex.B = defaults
    return out


def ndcg(method, w: float, candidates: dict[str, fusion.Candidates], doc_ids: dict[int, str], qrels) -> float:
    """Mean nDCG@10 of one method and weight over these queries."""
    run = {query: [doc_ids[p] for p in method(c, w)[:DEPTH]] for query, c in candidates.items()}
    return evaluate_run(run, {q: qrels[q] for q in candidates}, ["ndcg@10"])["ndcg@10"]


def best_weight(method, candidates, doc_ids, qrels) -> tuple[float, float]:
    """The grid weight with the highest nDCG@10 on these queries (the lowest such weight on ties)."""
    scored = [(ndcg(method, w, candidates, doc_ids, qrels), -w) for w in GRID]
    score, negative_w = max(scored)
    return -negative_w, score


def name_guard(index_path: Path, fitted: dict[str, tuple[Callable, float]], rocchio: set[str]) -> dict[str, dict]:
    """The name test (scripts/name_test.py's items over the digests' index) for each fitted method: share of items
    whose paper is first, in the top 3, and in the top 10."""
    import name_test
    import numpy as np

    from semsearch.evaluation import names
    from semsearch.ingest.digest import read_digests

    digests = read_digests(list(name_test.DEFAULT_DIGESTS))
    out: dict[str, dict] = {}
    with SearchIndex(index_path, embedder_for(index_path)) as search:
        papers, _ = name_test.stored_papers(search, digests)
        texts = [names.PaperText(paper.key, paper.title, paper.abstract) for paper in papers]
        items = names.known_items(texts)
        paper_ids = {paper.key: paper.id for paper in papers}
        ids, matrix = search.stored_vectors()
        row = {int(paper): position for position, paper in enumerate(ids)}
        embedder = embedder_for(index_path)
        plain, moved = [], []
        for item in items:
            vector = embedder.embed_query(item.query)
            plain.append(search.candidates(item.query, vector, DEPTH))
            top = [paper for paper, _ in search.rank("dense", item.query, vector, 5)]
            shifted = vector + 0.5 * matrix[[row[p] for p in top]].mean(axis=0)
            moved.append(search.candidates(item.query, (shifted / np.linalg.norm(shifted)).astype(np.float32), DEPTH))
        for name, (method, w) in fitted.items():
            pool = moved if name in rocchio else plain
            ranks = []
            for item, c in zip(items, pool):
                order = method(c, w)[:10]
                wanted = paper_ids[item.paper]
                ranks.append(order.index(wanted) + 1 if wanted in order else None)
            out[name] = {kind: names.score_ranks([r for i, r in zip(items, ranks) if i.kind == kind]).to_dict()
                         for kind in names.KINDS}
    return out


def main() -> None:
    """Cross-validate every method on train, then score each fitted method once on test."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--names", type=Path, metavar="INDEX",
                        help="also run the name test on this index of the seed and hf_daily digests (the guard)")
    parser.add_argument("--expansions", action="store_true", help="also try Rocchio, RM3-like and a title vector")
    parser.add_argument("--bm25-grid", action="store_true",
                        help="also try BM25's k1 and b and the title's weight (with the --base fusion)")
    parser.add_argument("--base", default="cosine + BM25 / its bound", choices=list(METHODS),
                        help="the fusion the expansions are combined with")
    args = parser.parse_args()

    train, test = load_beir(args.data, "train"), load_beir(args.data, "test")
    with tempfile.TemporaryDirectory(prefix="semsearch-tune-") as tmp:
        folder = Path(tmp) / "index"
        embedder = EmbeddingCache(embedder_for(folder), default_cache_dir())
        doc_ids = build_index(folder, train, embedder)
        with SearchIndex(folder, embedder) as search_index:
            train_candidates = candidates_of(search_index, train.queries, embedder)
            test_candidates = candidates_of(search_index, test.queries, embedder)
            variants = {}
            if args.expansions:
                expansions = Expansions(search_index, train.corpus, embedder, doc_ids)
                for label, make in (
                    ("+ Rocchio (beta 0.5, top 5)", expansions.rocchio),
                    ("+ RM3-like (top 5, 10 words)", expansions.rm3),
                    ("+ title vector (share 0.3)", expansions.with_title),
                ):
                    variants[label] = (
                        {q: make(text) for q, text in train.queries.items()},
                        {q: make(text) for q, text in test.queries.items()},
                    )

            if args.bm25_grid:
                variants.update(bm25_variants(folder, embedder, train.queries, test.queries))

    query_ids = sorted(train_candidates)
    random.Random(0).shuffle(query_ids)
    folds = [query_ids[i :: args.folds] for i in range(args.folds)]
    results = {}
    fitted: dict[str, tuple[Callable, float]] = {}
    runs = [(name, method, train_candidates, test_candidates) for name, method in METHODS.items()]
    runs.append(("semsearch's hybrid now", library_default, train_candidates, test_candidates))
    for label, (train_variant, test_variant) in variants.items():
        runs.append((f"{args.base} {label}", METHODS[args.base], train_variant, test_variant))
    for name, method, train_candidates, test_candidates in runs:
        held_out, weights = [], []
        for fold in folds:
            inside = {q: train_candidates[q] for q in query_ids if q not in set(fold)}
            w, _ = best_weight(method, inside, doc_ids, train.qrels)
            weights.append(w)
            held_out.append(ndcg(method, w, {q: train_candidates[q] for q in fold}, doc_ids, train.qrels))
        w_all, train_score = best_weight(method, train_candidates, doc_ids, train.qrels)
        results[name] = {
            "cv_mean": statistics.mean(held_out),
            "cv_sd": statistics.stdev(held_out),
            "cv_weights": weights,
            "weight": w_all,
            "train": train_score,
            "test": ndcg(method, w_all, test_candidates, doc_ids, test.qrels),
        }
        fitted[name] = (method, w_all)
    guard = name_guard(args.names, fitted, {name for name in fitted if "Rocchio" in name}) if args.names else {}
    if args.json:
        print(json.dumps({"cpu": machine_line(), "folds": args.folds, "methods": results, "names": guard}, indent=2))
        return
    print(f"SciFact, int8, {len(train_candidates)} train / {len(test_candidates)} test queries, {args.folds}-fold CV")
    print(f"{'method':<72}{'CV nDCG@10 (sd)':>18}{'w per fold':>28}{'w':>6}{'train':>8}{'test':>8}")
    for name, r in results.items():
        folds_w = ",".join(f"{w:g}" for w in r["cv_weights"])
        print(f"{name:<72}{r['cv_mean']:>11.4f} ({r['cv_sd']:.4f}){folds_w:>28}{r['weight']:>6g}"
              f"{r['train']:>8.4f}{r['test']:>8.4f}")
    if guard:
        print(f"\nName test ({args.names}): share of items whose paper is in the top 1 / 3 / 10")
        print(f"{'method':<72}{'names':>22}{'title fragments':>22}")
        for name, kinds in guard.items():
            cells = "".join(
                f"{kinds[kind]['top1']:>8.3f}{kinds[kind]['top3']:>7.3f}{kinds[kind]['top10']:>7.3f}" for kind in kinds
            )
            print(f"{name:<72}{cells}")


if __name__ == "__main__":
    main()
