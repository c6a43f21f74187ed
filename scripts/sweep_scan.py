"""The sweep behind the compressed scan: FAISS index kinds over the 82,779 real arXiv vectors (or replicated to 1M),
recall@10 against an exact float32 scan on SciFact claims and digest titles, p50 / p95, bytes read per question.

    .venv/bin/python scripts/sweep_scan.py                 # 83k real vectors, every kind (about 15 minutes)
    .venv/bin/python scripts/sweep_scan.py --size 1000000 --kinds PQ192x4fs IVF4096,PQ192x4fs

Each kind answers top k, re-ranked by the exact vectors where the row says "+ re-rank" (semsearch re-ranks by
float16 vectors kept in the same file; here float32 in memory, which gives the same top 10). One search thread, as
semsearch searches. Needs indexes/bench-arxiv (see scripts/bench.py). Prints the CPU and the memory bandwidth.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]  # the package, and the scripts' shared helpers

import bench  # noqa: E402
from machine import machine_line, memory_bandwidth  # noqa: E402

# (factory, bytes per vector scanned (None: a graph walk, no scan), candidates re-ranked (0: none), HNSW efSearch
# or IVF nprobe values to try)
KINDS = {
    "SQfp16": (768, [0], []),
    "SQ8": (384, [0, 100], []),
    "SQ4": (192, [100, 200], []),
    "PQ96x4fs": (48, [100, 200, 400], []),
    "PQ192x4fs": (96, [100, 200, 400], []),
    "RaBitQ": (56, [100, 200, 400], []),
    "HNSW32": (None, [100], [32, 64, 128, 256]),
    "HNSW32_SQ8": (None, [100], [32, 64, 128, 256]),
    "IVF1024,SQ8": (384, [100], [32, 64, 128, 256]),
    "IVF1024,Flat": (1536, [0], [32, 64, 128, 256]),
    "IVF4096,PQ192x4fs": (96, [200], [128, 256, 512, 1024]),
}


def replicated(vectors: np.ndarray, size: int) -> np.ndarray:
    """`size` vectors: the real ones, then copies nudged by noise of about 5% of a vector's length (as bench.py)."""
    if size <= len(vectors):
        return vectors[:size]
    rng = np.random.default_rng(7)
    parts = []
    for _ in range(-(-size // len(vectors))):
        block = vectors + rng.normal(0, 0.05 / np.sqrt(vectors.shape[1]), vectors.shape).astype(np.float32)
        parts.append(block / np.linalg.norm(block, axis=1, keepdims=True))
    return np.concatenate(parts)[:size]


def main() -> None:
    """Build each kind, run both question sets, print one row per setting."""
    import faiss

    from semsearch.search import SearchIndex

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=82_779)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    args = parser.parse_args()
    with SearchIndex(bench.ARXIV_INDEX) as search_index:
        _, real = search_index.stored_vectors()
    vectors = replicated(real, args.size)
    del real
    question_sets = bench.question_vectors(bench.ARXIV_INDEX)
    questions = np.concatenate(list(question_sets.values()))
    faiss.omp_set_num_threads(1)
    dim, size = vectors.shape[1], len(vectors)
    print(f"{machine_line()}; memory bandwidth {memory_bandwidth():.1f} GB/s (one core); {size:,} vectors")

    def run(index, k: int, rerank: bool) -> tuple[np.ndarray, list[set[int]]]:
        times, found = [], []
        for q in questions:
            start = time.perf_counter()
            _, ids = index.search(q[None], k)
            ids = ids[0][ids[0] >= 0]
            if rerank:
                ids = ids[np.argsort(-(vectors[ids] @ q))]
            times.append((time.perf_counter() - start) * 1000)
            found.append(set(ids[:10].tolist()))
        return np.array(times), found

    flat = faiss.IndexFlatIP(dim)
    flat.add(vectors)
    _, truth = run(flat, 10, False)
    del flat

    def recall(found: list[set[int]]) -> str:
        return bench.recall_by_set(found, truth, question_sets)

    for kind in args.kinds:
        per_vector, reranks, knobs = KINDS[kind]
        index = faiss.index_factory(dim, kind, faiss.METRIC_INNER_PRODUCT)
        start = time.perf_counter()
        faiss.omp_set_num_threads(2)  # training and adding may use both cores; searching does not
        lists = int(kind[3:].split(",")[0]) if kind.startswith("IVF") else 0
        sample = min(size, 64 * lists if lists else 40_000)
        index.train(vectors[np.sort(np.random.default_rng(1).choice(size, sample, replace=False))])
        index.add(vectors)
        faiss.omp_set_num_threads(1)
        built = time.perf_counter() - start
        for knob in knobs or [None]:
            if knob is not None and kind.startswith("HNSW"):
                index.hnsw.efSearch = knob
            elif knob is not None:
                faiss.extract_index_ivf(index).nprobe = knob
            if per_vector is None:
                read = "graph walk"
            else:
                share = knob / lists if lists and knob else 1  # IVF reads the probed lists and every centroid
                scanned = per_vector * size * share + lists * dim * 4
                read = f"~{scanned / 1e6:.1f} MB read"
            for k in reranks:
                times, found = run(index, max(k, 10), k > 0)
                setting = f"{kind}{f' ({knob})' if knob else ''}{f' top {k} + re-rank' if k else ''}"
                print(f"{setting:<40} recall@10 {recall(found)}  p50 {np.percentile(times, 50):6.2f} ms"
                      f"  p95 {np.percentile(times, 95):6.2f} ms  {read}  (built in {built:.0f} s)",
                      flush=True)
        del index


if __name__ == "__main__":
    main()
