"""SciFact measurements behind the README's "Retrieval quality" section (too slow for CI; not part of the tests).

Usage: .venv/bin/python scripts/eval_scifact.py [report|tune|related|why|windows] [--data DIR] [--cache-dir DIR]

  report   every mode on the test and train judgments: the README table (`semsearch eval` does the same per split)
  tune     the fusion and field-weight grid, on the train judgments only
  related  `related` by dense, lexical and hybrid: a known-item test and papers judged relevant to the same claim
  why      how often `--why` picks an annotated evidence sentence, per method, and its latency for 10 hits
  windows  embedding every 250-token window of long abstracts (score = best window) against truncation

The first run embeds the 5,183 abstracts (several minutes on two cores); later runs read them from the cache.
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from semsearch.evaluation.evaluate import EmbeddingCache, build_index, default_cache_dir, evaluate, load_beir  # noqa: E402
from semsearch.evaluation.metrics import MEASURES, evaluate_run  # noqa: E402
from semsearch.keys import document_text  # noqa: E402
from semsearch.model.bundled import LEGACY_MAX_TOKENS, MAX_TOKENS, whole_text_tokenizer  # noqa: E402
from semsearch.model.embed import SentenceTransformerEmbedder  # noqa: E402
from semsearch.search import SearchIndex, fusion, lexical  # noqa: E402
from semsearch.search.explain import nearest_sentences, sentences  # noqa: E402
from semsearch.search.wordvectors import bundled_word_vectors  # noqa: E402
from semsearch.storage.store import passage_bm25  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "scifact"
LABELS = {"ndcg@10": "nDCG@10", "recall@10": "Recall@10", "recall@100": "Recall@100", "mrr@10": "MRR@10"}


def progress(total: int):
    print(f"embedding {total} texts...", file=sys.stderr, flush=True)
    return lambda _done: None


def markdown(rows: dict[str, dict[str, float]]) -> str:
    lines = ["| mode | " + " | ".join(LABELS.values()) + " |", "|---|" + "---:|" * len(LABELS)]
    for mode, measures in rows.items():
        lines.append(f"| {mode} | " + " | ".join(f"{measures[name]:.4f}" for name in MEASURES) + " |")
    return "\n".join(lines)


def report(args, embedder) -> None:
    for split in ("test", "train"):
        result = evaluate(args.data, embedder, split=split, cache_dir=args.cache_dir, progress=progress)
        print(f"\nSciFact {split}: {result.queries} queries, {result.documents} documents, default {result.default}")
        print(markdown(result.modes))


class Rankings:
    """Dense and lexical rankings of SciFact from a throwaway index, for experiments beyond `semsearch eval`."""

    def __init__(self, args, embedder) -> None:
        self.train = load_beir(args.data, "train")
        self.test = load_beir(args.data, "test")
        self._tmp = tempfile.TemporaryDirectory(prefix="semsearch-scifact-")
        self.folder = Path(self._tmp.name) / "index"
        self.cache = EmbeddingCache(embedder, args.cache_dir)
        self.doc_ids = build_index(self.folder, self.train, self.cache, progress)
        self.paper_ids = {doc: paper for paper, doc in self.doc_ids.items()}
        self.search = SearchIndex(self.folder, self.cache)

    def dense(self, text: str, depth: int, exclude: frozenset[int] = frozenset()) -> list[tuple[int, float]]:
        return self.search.rank("dense", text, self.cache.embed_query(text), depth, exclude)

    def lexical(self, text, depth, weights=lexical.FIELD_WEIGHTS, exclude=frozenset()) -> list[tuple[int, float]]:
        return self.search.rank("lexical", text, None, depth, exclude, field_weights=weights)

    def docs(self, ranking) -> list[str]:
        return [self.doc_ids[paper_id] for paper_id, _ in ranking]


def tune(args, embedder) -> None:
    """Grid search on train only; prints the best settings per method and the chosen one's test score."""
    data = Rankings(args, embedder)
    depth = fusion.HYBRID_DEPTH
    queries = data.train.queries
    dense = {q: data.dense(text, depth) for q, text in queries.items()}
    grid = []
    for title_weight in (1.0, 2.0, 3.0, 4.0):
        lex = {q: data.lexical(text, depth, (title_weight, 1.0)) for q, text in queries.items()}

        def score(fuse, lex=lex) -> dict[str, float]:
            return evaluate_run({q: data.docs(fuse(dense[q], lex[q])) for q in queries}, data.train.qrels)

        lexical_alone = score(lambda _dense_hits, lexical_hits: lexical_hits)
        grid.append((lexical_alone["ndcg@10"], title_weight, "lexical alone", None))
        for k, weight in itertools.product((1, 2, 5, 10, 20, 60), (1.0, 1.25, 1.5)):

            def rrf(dense_hits, lexical_hits, k=k, weight=weight):
                return fusion.reciprocal_rank_fusion([dense_hits, lexical_hits], k=k, weights=[1.0, weight])

            grid.append((score(rrf)["ndcg@10"], title_weight, "rrf", (k, weight)))
        for method, share in itertools.product(("minmax", "zscore"), np.arange(0.3, 0.71, 0.05)):

            def normalized(dense_hits, lexical_hits, method=method, share=share):
                return fusion.normalized_score_fusion(
                    [dense_hits, lexical_hits], weights=[1 - share, share], method=method
                )

            grid.append((score(normalized)["ndcg@10"], title_weight, method, round(float(share), 2)))
        print(f"title weight {title_weight}: best {max(grid)[0]:.4f} so far", file=sys.stderr, flush=True)
    print("train nDCG@10 (best per method and title weight):")
    for method in ("lexical alone", "rrf", "minmax", "zscore"):
        for title_weight in (1.0, 2.0, 3.0, 4.0):
            best = max(row for row in grid if row[2] == method and row[1] == title_weight)
            print(f"  {method:<13} title x{title_weight:g}: {best[0]:.4f}  {best[3] if best[3] is not None else ''}")
    print(f"in use: title x{lexical.FIELD_WEIGHTS[0]:g}, zscore, lexical share {fusion.HYBRID_LEXICAL_WEIGHT}")


def related(args, embedder) -> None:
    data = Rankings(args, embedder)
    corpus = {doc: (title, text) for doc, title, text in data.train.corpus}
    rng = random.Random(0)
    sample = rng.sample(sorted(corpus), 1000)
    pasted = {doc: " ".join(sentences(corpus[doc][1])[:2]) for doc in sample}
    vectors = dict(zip(sample, data.cache.embed_documents([pasted[doc] for doc in sample], progress=None)))
    modes = {
        "dense": lambda v, t, x: data.search.rank("dense", "", v, 100, x),
        "lexical": lambda v, t, x: data.lexical(t, 100, exclude=x),
        "hybrid": lambda v, t, x: data.search.rank("hybrid", t, v, 100, x),
    }
    print("known item: the first two sentences of 1,000 abstracts, pasted (`related -`), must find their paper")
    for mode, rank in modes.items():
        ranks = []
        for doc in sample:
            found = data.docs(rank(vectors[doc], pasted[doc], frozenset())[:10])
            ranks.append(found.index(doc) + 1 if doc in found else None)
        mrr = sum(1 / r for r in ranks if r) / len(ranks)
        print(f"  {mode:<8} MRR@10 {mrr:.4f}  hit@1 {sum(r == 1 for r in ranks) / len(ranks):.3f}")
    partners: dict[str, set[str]] = {}
    for dataset in (data.train, data.test):
        for judged in dataset.qrels.values():
            relevant = [doc for doc, rel in judged.items() if rel > 0 and doc in corpus]
            for a, b in itertools.permutations(relevant, 2):
                partners.setdefault(a, set()).add(b)
    print(f"co-relevance: `related PAPER` for {len(partners)} papers judged relevant to a claim with another paper")
    for mode, rank in modes.items():
        run = {}
        for doc in partners:
            paper = data.paper_ids[doc]
            vector = data.search.stored_vector(paper)
            run[doc] = data.docs(rank(vector, document_text(*corpus[doc]), frozenset({paper})))
        result = evaluate_run(run, {doc: {p: 1 for p in found} for doc, found in partners.items()})
        print(f"  {mode:<8} MRR@10 {result['mrr@10']:.4f}  Recall@10 {result['recall@10']:.4f}")


def why(args, embedder) -> None:
    import json

    corpus = {doc: text for doc, _, text in load_beir(args.data, "test").corpus}
    items = []
    with open(args.data / "queries.jsonl", encoding="utf-8") as handle:
        queries = [json.loads(line) for line in handle]
    for query in queries:
        for doc, evidence in (query.get("metadata") or {}).items():
            marked = {s for e in evidence for s in e["sentences"]}
            parts = sentences(corpus.get(doc, ""))
            if parts and max(marked) < len(parts):  # our sentence split agrees with the annotation's
                items.append((query["text"], parts, marked))
    items = random.Random(1).sample(items, 500)
    words = bundled_word_vectors()
    cache = EmbeddingCache(embedder, args.cache_dir)
    all_sentences = [sentence for _, parts, _ in items for sentence in parts]
    cache.embed_documents(all_sentences, progress=progress(cache.missing(all_sentences)))  # one batch, one file

    def bm25(q, parts):
        return np.asarray(passage_bm25(parts, lexical.fts_query(lexical.query_terms(q))))

    def word_similarity(q, parts):
        return words.embed(parts) @ words.embed([q])[0]

    def model_similarity(q, parts):
        return cache.embed_documents(parts) @ cache.embed_query(q)

    def with_bm25(similarity):
        # What `ask --why` does: each score z-scored within the abstract, then mixed (explain.BM25_SHARE).
        return lambda q, parts: parts.index(nearest_sentences([parts], similarity(q, parts), bm25(q, parts))[0])

    methods = {
        "first sentence": lambda q, parts: 0,
        "BM25": lambda q, parts: int(np.argmax(bm25(q, parts))),
        "word vectors": lambda q, parts: int(np.argmax(word_similarity(q, parts))),
        "word vectors + BM25 (in use)": with_bm25(word_similarity),
        "model": lambda q, parts: int(np.argmax(model_similarity(q, parts))),
        "model + BM25": with_bm25(model_similarity),
    }
    data = Rankings(args, embedder)
    questions = list(data.test.queries.values())[:50]
    data.search.ask(questions[0], 10, why=True)  # map the word vectors once, as a first --why does
    for question in questions:
        data.search.ask(question, 10)  # the cache keeps each question's vector: both timings below reuse it
    plain, explained = [], []
    for question in questions:
        start = time.perf_counter()
        data.search.ask(question, 10)
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        data.search.ask(question, 10, why=True)
        explained.append(time.perf_counter() - start)
    added = [b - a for a, b in zip(plain, explained)]
    print(f"ask, 10 hits, {len(questions)} SciFact questions, question vectors ready: median "
          f"{1000 * statistics.median(plain):.1f} ms; --why adds median {1000 * statistics.median(added):.1f} ms, "
          f"max {1000 * max(added):.1f} ms")
    chance = statistics.mean(len(marked) / len(parts) for _, parts, marked in items)
    print(f"evidence sentence picked, {len(items)} SciFact claim/abstract pairs (a random pick: {chance:.3f})")
    for label, pick in methods.items():
        hits = sum(pick(q, parts) in marked for q, parts, marked in items)
        print(f"  {label:<30} {hits / len(items):.3f}")


def windows(args, embedder) -> None:
    tokenizer = whole_text_tokenizer()
    # A plain split at sentence ends (the measurement in the README used this one).
    split = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")
    dataset = load_beir(args.data, "train")
    test = load_beir(args.data, "test")
    cache = EmbeddingCache(embedder, args.cache_dir)
    texts, owners = [], []
    for row, (_, title, text) in enumerate(dataset.corpus):
        whole = document_text(title, text)
        if len(tokenizer.encode(whole).ids) <= 256:
            texts.append(whole)
            owners.append(row)
            continue
        budget = 250 - len(tokenizer.encode(title, add_special_tokens=False).ids)
        chunk: list[str] = []
        used = 0
        for sentence in split.split(text.strip()) + [None]:
            size = len(tokenizer.encode(sentence, add_special_tokens=False).ids) if sentence else 0
            if chunk and (sentence is None or used + size > budget):
                texts.append(document_text(title, " ".join(chunk)))
                owners.append(row)
                chunk, used = [], 0
            if sentence:
                chunk.append(sentence)
                used += size
    truncated = [document_text(title, text) for _, title, text in dataset.corpus]
    start = time.perf_counter()
    windowed = cache.embed_documents(texts, progress=progress(cache.missing(texts)))
    plain = cache.embed_documents(truncated, progress=progress(cache.missing(truncated)))
    print(f"{len(texts)} windows for {len(truncated)} abstracts ({len(texts) / len(truncated):.2f} vectors per paper); "
          f"embedding took {time.perf_counter() - start:.0f} s this run (0 when cached)")
    owners_array = np.asarray(owners)
    doc_ids = [doc for doc, _, _ in dataset.corpus]
    data = Rankings(args, embedder)  # for BM25: the same corpus in a throwaway index
    dense_runs: dict[tuple[str, str], dict[str, list[tuple[int, float]]]] = {}
    for split in (dataset, test):
        questions = list(split.queries)
        query_vectors = np.stack([cache.embed_query(split.queries[q]) for q in questions])
        best = np.full((len(questions), len(doc_ids)), -np.inf, dtype=np.float32)
        np.maximum.at(best.T, owners_array, (query_vectors @ windowed.T).T)
        for label, scores in (("truncated", query_vectors @ plain.T), ("best window", best)):
            top = np.argsort(-scores, axis=1)[:, :200]
            dense_runs[split.split, label] = {
                q: [(data.paper_ids[doc_ids[j]], float(scores[i, j])) for j in row]
                for i, (q, row) in enumerate(zip(questions, top))
            }
            run = {q: data.docs(r[:100]) for q, r in dense_runs[split.split, label].items()}
            result = evaluate_run(run, split.qrels)
            measures = "  ".join(f"{LABELS[m]} {result[m]:.4f}" for m in MEASURES)
            print(f"  {split.split:<5} dense {label:<12} {measures}")
    # Hybrid with each kind of dense ranking, its depth and lexical share retuned on train, then scored on test.
    lexical_runs = {s.split: {q: data.lexical(t, 200) for q, t in s.queries.items()} for s in (dataset, test)}

    def hybrid_run(split: str, label: str, depth: int, share: float) -> dict[str, list[str]]:
        dense, lex = dense_runs[split, label], lexical_runs[split]
        weights = [1 - share, share]
        return {
            q: data.docs(fusion.normalized_score_fusion([dense[q][:depth], lex[q][:depth]], weights, "zscore")[:100])
            for q in dense
        }

    for label in ("truncated", "best window"):
        settings = itertools.product((100, 200), np.round(np.arange(0.3, 0.71, 0.05), 2))
        train_score, depth, share = max(
            (evaluate_run(hybrid_run("train", label, d, float(w)), dataset.qrels)["ndcg@10"], d, float(w))
            for d, w in settings
        )
        test_score = evaluate_run(hybrid_run("test", label, depth, share), test.qrels)["ndcg@10"]
        print(f"  hybrid with {label:<12} train nDCG@10 {train_score:.4f} (depth {depth}, lexical share {share}), "
              f"test {test_score:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", default="report", choices=["report", "tune", "related", "why", "windows"])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS, choices=[LEGACY_MAX_TOKENS, MAX_TOKENS],
                        help="word pieces of each text the model reads (256: indexes made before 2026-12)")
    args = parser.parse_args()
    {"report": report, "tune": tune, "related": related, "why": why, "windows": windows}[args.what](
        args, SentenceTransformerEmbedder(max_tokens=args.max_tokens)
    )


if __name__ == "__main__":
    main()
