"""How much of each abstract should the dense side read? Measured on SciFact: chosen on train, tested once.

    .venv/bin/python scripts/reading_length.py      # ~10 minutes on 2 cores the first time (it embeds SciFact's
                                                    # 5,183 abstracts twice and ~3,700 tails); ~3 minutes after

all-MiniLM-L6-v2's sentence-transformers settings cut a text at 256 word pieces, though its position table holds
512; 71% of SciFact's abstracts are longer than 256. Each variant below changes only the dense score that hybrid
search fuses with BM25 (cosine + BM25 / its bound, as `ask`); its free parameters (the lexical share w, and alpha
for the tail) are chosen inside 5-fold CV on SciFact train (nested: each fold's are fitted on the other folds), then
the ones fitted on all of train run once on test:

- 256 word pieces: semsearch before 2026-12 (reproduces `semsearch eval` of that time);
- 256 + a tail vector: the text from 64 word pieces before the cut embedded as a second vector per long paper,
  scored head + alpha * max(0, tail - head);
- 512 word pieces: the whole abstract in one vector (semsearch's reading now);
- 512 + Rocchio: the question vector moved half-way towards the mean of its 5 nearest papers.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from machine import machine_line  # noqa: E402

from semsearch.evaluation.evaluate import EmbeddingCache, build_index, default_cache_dir, load_beir  # noqa: E402
from semsearch.evaluation.metrics import evaluate_run  # noqa: E402
from semsearch.keys import document_text  # noqa: E402
from semsearch.model.bundled import LEGACY_MAX_TOKENS, MAX_TOKENS, whole_text_tokenizer  # noqa: E402
from semsearch.model.embed import bundled_embedder  # noqa: E402
from semsearch.model.precision import INT8  # noqa: E402
from semsearch.search import SearchIndex  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "scifact"
TAIL_OVERLAP = 64  # the tail starts this many word pieces before the cut
GRID = [round(0.05 * step, 2) for step in range(4, 17)]
ALPHAS = [0.25, 0.5, 0.75, 1.0]
DEPTH = 100


def word_piece_offsets(texts: list[str]) -> list[list[tuple[int, int]]]:
    """Each text's word pieces as character spans, without the model's cut or its [CLS]/[SEP]."""
    return [encoding.offsets[1:-1] for encoding in whole_text_tokenizer().encode_batch(texts)]


def dense_features(reading: int, corpus, queries: dict[str, dict[str, str]]):
    """An index of SciFact embedded reading `reading` word pieces: its stored vectors, each query's vector, and
    each query's BM25 scores over every paper with the bound `ask` divides them by."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "index"
        embedder = EmbeddingCache(bundled_embedder(INT8, max_tokens=reading), default_cache_dir())
        doc_ids = build_index(folder, corpus, embedder)
        with SearchIndex(folder, embedder) as search:
            ids, vectors = search.stored_vectors()
            asked = {}
            for split, texts in queries.items():
                for query, text in texts.items():
                    vector = embedder.embed_query(text)
                    bound = search.candidates(text, vector, DEPTH).bm25_bound or 1.0
                    asked[split, query] = (vector, dict(search.rank("lexical", text, None, 10**6)), bound)
    return [int(paper) for paper in ids], vectors.astype(np.float32), asked, doc_ids, embedder


def main() -> None:
    """Embed SciFact both ways (and the tails), score every variant with nested CV on train, then once on test."""
    train, test = load_beir(DATA, "train"), load_beir(DATA, "test")
    queries = {"train": train.queries, "test": test.queries}
    ids, head, asked_256, doc_ids, legacy = dense_features(LEGACY_MAX_TOKENS, train, queries)
    ids_512, whole, asked_512, _, _ = dense_features(MAX_TOKENS, train, queries)
    assert ids_512 == ids, "both indexes number SciFact's abstracts alike"
    row_of = {paper: row for row, paper in enumerate(ids)}

    by_doc = {doc: (title, text) for doc, title, text in train.corpus}
    texts = [document_text(*by_doc[doc_ids[paper]]) for paper in ids]
    cut = LEGACY_MAX_TOKENS - 2  # [CLS] and [SEP] take two of the 256 positions
    tails, tail_rows = [], []
    for row, (text, offsets) in enumerate(zip(texts, word_piece_offsets(texts))):
        if len(offsets) > cut:
            tails.append(text[offsets[cut - TAIL_OVERLAP][0] :])
            tail_rows.append(row)
    tail = np.zeros_like(head)
    tail[tail_rows] = legacy.embed_documents(tails, progress=None)
    has_tail = np.zeros(len(ids), dtype=bool)
    has_tail[tail_rows] = True
    print(f"{machine_line()}; SciFact, int8; {len(tail_rows)} of {len(ids)} abstracts are past {LEGACY_MAX_TOKENS} "
          "word pieces", flush=True)

    lexical: dict[int, np.ndarray] = {}

    def bm25_share(words: dict[int, float], bound: float) -> np.ndarray:
        if id(words) not in lexical:
            scores = np.zeros(len(ids), dtype=np.float32)
            for paper, score in words.items():
                scores[row_of[paper]] = score
            lexical[id(words)] = scores / bound
        return lexical[id(words)]

    def fused_order(dense: np.ndarray, words: np.ndarray, w: float) -> np.ndarray:
        pool = np.union1d(np.argpartition(-dense, DEPTH)[:DEPTH], np.argpartition(-words, DEPTH)[:DEPTH])
        scores = (1 - w) * dense[pool] + w * words[pool]
        return pool[np.lexsort((pool, -scores))]

    def head_only(matrix, asked):
        return lambda key, alpha: (matrix @ asked[key][0], asked[key])

    def with_tail(key, alpha):
        vector = asked_256[key][0]
        heads, tails_ = head @ vector, tail @ vector
        return heads + alpha * np.where(has_tail, np.maximum(0.0, tails_ - heads), 0.0), asked_256[key]

    def rocchio(key, alpha):
        vector = asked_512[key][0]
        moved = vector + 0.5 * whole[np.argsort(-(whole @ vector))[:5]].mean(axis=0)
        return whole @ (moved / np.linalg.norm(moved)), asked_512[key]

    def ndcg(dense_of: Callable, split: str, qrels: dict, w: float, alpha: float, keys=None) -> float:
        run = {}
        for query in keys or queries[split]:
            dense, (_, words, bound) = dense_of((split, query), alpha)
            order = fused_order(dense, bm25_share(words, bound), w)
            run[query] = [doc_ids[ids[row]] for row in order[:DEPTH]]
        return evaluate_run(run, {q: qrels[q] for q in run}, ["ndcg@10"])["ndcg@10"]

    train_ids = sorted(train.queries)
    random.Random(0).shuffle(train_ids)
    folds = [train_ids[i::5] for i in range(5)]
    print(f"{'dense side':<40}{'CV nDCG@10 (sd)':>18}{'w':>6}{'alpha':>7}{'train':>8}{'test':>8}{'test, dense':>13}")
    for label, dense_of, alphas in (
        (f"{LEGACY_MAX_TOKENS} word pieces (before)", head_only(head, asked_256), [0.0]),
        (f"{LEGACY_MAX_TOKENS} + tail vector", with_tail, ALPHAS),
        (f"{MAX_TOKENS} word pieces (adopted)", head_only(whole, asked_512), [0.0]),
        (f"{MAX_TOKENS} + Rocchio (0.5, top 5)", rocchio, [0.0]),
    ):
        def fit(keys, dense_of=dense_of, alphas=alphas):
            pairs = [(w, a) for w in GRID for a in alphas]
            return max(pairs, key=lambda pair: ndcg(dense_of, "train", train.qrels, *pair, keys))

        held_out = []
        for fold in folds:
            w, alpha = fit([q for q in train_ids if q not in set(fold)])
            held_out.append(ndcg(dense_of, "train", train.qrels, w, alpha, fold))
        w, alpha = fit(None)
        on_train = ndcg(dense_of, "train", train.qrels, w, alpha)
        on_test, dense_test = (ndcg(dense_of, "test", test.qrels, weight, alpha) for weight in (w, 0.0))
        print(f"{label:<40}{statistics.mean(held_out):>11.4f} ({statistics.stdev(held_out):.4f}){w:>6}{alpha:>7}"
              f"{on_train:>8.4f}{on_test:>8.4f}{dense_test:>13.4f}", flush=True)


if __name__ == "__main__":
    main()
