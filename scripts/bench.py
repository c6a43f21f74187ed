"""Speed and scale benchmark: one table, each figure beside a baseline measured in the same run.

    .venv/bin/python scripts/bench.py                 # everything that the available indexes allow
    .venv/bin/python scripts/bench.py --only ann      # one section: ingest, cold, warm, add, disk, ann

Sections:
  ingest  abstracts/s embedding arXiv abstracts, per backend and int8 setting (baseline: torch fp32 through
          sentence-transformers, length-sorted batches of 32)
  cold    wall time of `semsearch ask` in fresh processes on the 274-digest index (baseline: the torch query path)
          and of `semsearch --help`
  warm    query latency p50/p95 of the library call over 200 real questions (SciFact claims; at 83k also digest
          titles), per index size and mode (dense, hybrid), and of embedding the question alone; at 83k beside
          an exact float16 scan of the same vectors (baseline), alternating question by question
  add     time to add one 13-paper digest to the largest index, split into embedding and index work
  disk    bytes on disk per paper; peak RSS of `ask` and of `update`
  switch  the exact float16 scan (baseline) against the compressed scan (and IVF at each --nprobe) on the first
          25k, 50k and 83k real arXiv vectors: recall@10 against exact float32 for SciFact claims and digest
          titles, p50 / p95 and the bytes one search reads, the evidence for `MergePolicy.compressed_from`
  ann     the same at 1M vectors (the 83k real arXiv vectors, or the 3.5k digest vectors, replicated with small
          noise), with IVF at nprobe 256 and 1024, the evidence for `MergePolicy.approximate_from`
  scifact SciFact test nDCG@10 with the exact float16 scan (baseline) and with the compressed scan forced
Every table is printed with the CPU model and the measured memory bandwidth: a scan's cost is the bytes it reads.

Indexes it uses (built once, kept under indexes/, git-ignored):
  indexes/bench-hf-daily  the 274 digests in ../shared/data/digests/hf_daily (built by this script if missing)
  indexes/bench-arxiv     the 82,779 arXiv abstracts, built by
                          `semsearch update ../shared/data/arxiv/papers.jsonl.gz --index indexes/bench-arxiv`
                          (about 25 minutes on 2 cores with the default int8 model; the sections that need it
                          say so when it is missing)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
HF_DAILY = DATA / "digests" / "hf_daily" / "digests"
ARXIV = DATA / "arxiv" / "papers.jsonl.gz"
SCIFACT_QUERIES = DATA / "scifact" / "queries.jsonl"
HF_INDEX = ROOT / "indexes" / "bench-hf-daily"
HF_INDEX_FP32 = ROOT / "indexes" / "bench-hf-daily-fp32"
ARXIV_INDEX = ROOT / "indexes" / "bench-arxiv"
SEMSEARCH = [sys.executable, "-m", "semsearch"]

sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]  # the package, and the scripts' shared helpers

rows: list[tuple[str, str, str, str]] = []


def report(name: str, value: str, baseline: str = "", ratio: str = "") -> None:
    """Record one row of the table and echo it at once (the run is long)."""
    rows.append((name, value, baseline, ratio))
    print(f"  {name}: {value}" + (f"  (baseline {baseline}, {ratio})" if baseline else ""), file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile of the values."""
    return float(np.percentile(np.asarray(values), q))


def arxiv_abstracts(n: int) -> list[str]:
    """The first n arXiv records as the text semsearch embeds (title, then abstract)."""
    from semsearch.keys import document_text

    texts = []
    with gzip.open(ARXIV, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts.append(document_text(record["title"], record["abstract"]))
            if len(texts) == n:
                break
    return texts


def questions(n: int = 200) -> list[str]:
    """Real questions: SciFact claims."""
    out = []
    with open(SCIFACT_QUERIES, encoding="utf-8") as handle:
        for line in handle:
            out.append(json.loads(line)["text"])
            if len(out) == n:
                break
    return out


def digest_titles(n: int = 200) -> list[str]:
    """Questions in the arXiv corpus's own field: n paper titles spread over the 274 daily digests."""
    from semsearch.ingest.digest import parse_digest_file

    titles = [paper.title for path in sorted(HF_DAILY.iterdir()) for paper in parse_digest_file(path).papers]
    step = max(1, len(titles) // n)
    return titles[::step][:n]


def question_vectors(folder: Path) -> dict[str, np.ndarray]:
    """Two sets of 200 real questions embedded as the index at `folder` embeds them: off-field and in-field."""
    from semsearch.index import embedder_for

    embedder = embedder_for(folder)
    sets = {"SciFact claims": questions(200), "digest titles": digest_titles(200)}
    return {name: np.stack([embedder.embed_query(q) for q in texts]) for name, texts in sets.items()}


def timed_run(args: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KB) and stdout of one fresh process."""
    start = time.perf_counter()
    wrapped = ["/usr/bin/time", "-f", "%M", *args] if Path("/usr/bin/time").exists() else args
    result = subprocess.run(
        wrapped, check=False, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=ROOT
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {result.stderr.strip()}")
    rss = int(result.stderr.strip().splitlines()[-1]) if wrapped is not args else 0
    return elapsed, rss, result.stdout


def ensure_index(folder: Path, source: Path, label: str, precision: str | None = None) -> None:
    """Build `folder` from `source` at `precision` (the default variant if None) unless it holds such an index."""
    from semsearch.index import recorded_model
    from semsearch.model.bundled import precision_of
    from semsearch.model.precision import DEFAULT_PRECISION

    precision = precision or DEFAULT_PRECISION
    if precision_of(recorded_model(folder)) == precision:
        return
    # An index of another variant (an older default) would measure the wrong model.
    shutil.rmtree(folder, ignore_errors=True)
    print(f"building {folder} ({label}, bundled model, {precision})...", file=sys.stderr, flush=True)
    seconds, rss, out = timed_run(
        [*SEMSEARCH, "update", str(source), "--index", str(folder), "--precision", precision, "--json"]
    )
    papers = json.loads(out)["papers"]
    report(
        f"index {label} from scratch ({papers:,} papers, {precision})",
        f"{seconds:.0f} s ({papers / seconds:.1f} papers/s, peak RSS {rss / 1024:.0f} MB)",
    )


def ensure_hf_index() -> None:
    """The 274-digest index, built if missing."""
    ensure_index(HF_INDEX, HF_DAILY, "274 digests")


# -- sections ---------------------------------------------------------------------------------------------------


def _rate(embed, texts: list[str]) -> tuple[float, float]:
    """Abstracts per wall second and per CPU second of one call, after a warm-up call outside the timing."""
    embed(texts[:32])
    start, cpu = time.perf_counter(), time.process_time()
    embed(texts)
    return len(texts) / (time.perf_counter() - start), len(texts) / (time.process_time() - cpu)


def bench_ingest(n: int) -> None:
    """Abstracts per second for each embedding backend, and for each int8 setting, on the same texts."""
    from semsearch.model import bundled, embed, onnx
    from semsearch.model.precision import FP32, INT8

    texts = arxiv_abstracts(n)
    int8 = embed.bundled_embedder(INT8)
    int8.embed_query("prepare the int8 export (and the fp32 one it comes from) if missing")
    fp32_export = onnx.OnnxQueryEncoder(bundled.fast_query_dir(FP32), max_tokens=bundled.MAX_TOKENS)
    int8_two_threads = onnx.OnnxQueryEncoder(bundled.fast_query_dir(INT8), threads=2, max_tokens=bundled.MAX_TOKENS)
    int8_legacy = embed.bundled_embedder(INT8, max_tokens=bundled.LEGACY_MAX_TOKENS)
    results = {
        "torch-fp32": _rate(embed.bundled_embedder(FP32).embed_documents, texts),
        "onnx-fp32 (length-sorted batches of 32)": _rate(fp32_export.embed_documents, texts),
        "onnx-int8, semsearch's default (one text per call, 2 calls at a time)": _rate(int8.embed_documents, texts),
        # One setting changed at a time from the default:
        "onnx-int8, default but reading 256 word pieces (indexes made before 2026-12)": _rate(
            int8_legacy.embed_documents, texts
        ),
        "onnx-int8, one text per call, 1 call at a time on 2 threads": _rate(
            lambda t: int8_two_threads.embed_each(t, workers=1), texts
        ),
        # Not used: in a padded batch a text's int8 vector depends on its neighbours (see measure_quantization.py).
        "onnx-int8, length-sorted batches of 32": _rate(int8_two_threads.embed_documents, texts),
        "onnx-int8, unsorted batches of 32": _rate(
            lambda t: int8_two_threads.embed_documents(t, by_length=False), texts
        ),
    }
    baseline, baseline_cpu = results.pop("torch-fp32")
    report(f"ingest torch-fp32 ({n} arXiv abstracts)", f"{baseline:.1f} abstracts/s ({baseline_cpu:.1f} per CPU-s)")
    for name, (rate, cpu_rate) in results.items():
        report(
            f"ingest {name}",
            f"{rate:.1f} abstracts/s ({cpu_rate:.1f} per CPU-s)",
            f"{baseline:.1f}/s",
            f"{rate / baseline:.2f}x",
        )


def bench_cold() -> None:
    """Fresh-process wall time of `ask` (int8 and fp32 fast paths against the torch path) and of `--help`."""
    from semsearch.model.precision import FP32

    ensure_hf_index()
    ensure_index(HF_INDEX_FP32, HF_DAILY, "274 digests", FP32)
    question = "reinforcement learning for reasoning in language models"

    def ask_times(folder: Path, runs: int, env: dict | None = None) -> float:
        args = [*SEMSEARCH, "ask", question, "--index", str(folder), "-n", "10"]
        timed_run(args, env)  # the first call may prepare the model's export; not part of the figure
        return statistics.median(timed_run(args, env)[0] for _ in range(runs))

    torch_median = ask_times(HF_INDEX_FP32, 3, {"SEMSEARCH_QUERY_BACKEND": "torch"})
    for label, folder in (("int8 (default)", HF_INDEX), ("fp32", HF_INDEX_FP32)):
        median = ask_times(folder, 5)
        report(
            f"cold `semsearch ask`, 3.5k index, {label} (median of 5)",
            f"{median:.2f} s",
            f"{torch_median:.2f} s fp32 through torch",
            f"{torch_median / median:.1f}x faster",
        )
    help_times = [timed_run([*SEMSEARCH, "--help"])[0] for _ in range(5)]
    report("cold `semsearch --help` (median of 5)", f"{statistics.median(help_times):.2f} s")


def warm_latency(folder: Path, label: str, qs: list[str], baseline_exact: bool = False) -> None:
    """p50/p95 of SearchIndex.ask over real questions per mode, after one warm-up question; and of the embedding.
    `baseline_exact`: also with the committed file replaced in memory by an exact float16 scan of the same vectors
    (what semsearch searched at this size before the compressed scan), measured alternately in the same run."""
    from semsearch.index import embedder_for
    from semsearch.search import SearchIndex
    from semsearch.storage.vectors import LayeredIndex, VectorIndex, single_threaded_searches

    single_threaded_searches()  # as the CLI and the server search
    embedder = embedder_for(folder)
    with SearchIndex(folder, embedder) as search_index:
        papers = search_index.info().papers
        committed = search_index._vector_index()  # the layers this benchmark swaps (private)
        layers = {"as committed": committed}
        if baseline_exact:
            ids, vectors = search_index.stored_vectors()
            empty = VectorIndex.build(search_index.dim, np.empty(0, np.int64), np.empty((0, search_index.dim)))
            layers["exact float16 scan"] = LayeredIndex(VectorIndex.build(search_index.dim, ids, vectors), empty,
                                                        frozenset())
        kinds = {
            name: f"{layer.base.factory}, {layer.base.bytes_per_question() / 1e6:.1f} MB read per question"
            for name, layer in layers.items()
            if layer.base is not None
        }
        for mode in ("dense", "hybrid"):
            times: dict[str, list[float]] = {name: [] for name in layers}
            for layer in layers.values():  # one warm-up question each
                search_index._vectors = layer
                search_index.ask(qs[0], 10, mode=mode)
            for question in qs:
                for name, layer in layers.items():  # alternating, so both see the same machine load
                    search_index._vectors = layer
                    start = time.perf_counter()
                    search_index.ask(question, 10, mode=mode)
                    times[name].append((time.perf_counter() - start) * 1000)
            first = next(iter(layers))
            baseline = times.get("exact float16 scan")
            report(
                f"warm ask p50 / p95, {mode}, {label} ({papers:,} papers, {len(qs)} questions; {kinds.get(first, '')})",
                f"{percentile(times[first], 50):.1f} / {percentile(times[first], 95):.1f} ms",
                f"{kinds['exact float16 scan']}: {percentile(baseline, 50):.1f} / {percentile(baseline, 95):.1f} ms"
                if baseline else "",
                f"{percentile(baseline, 50) / percentile(times[first], 50):.2f}x faster" if baseline else "",
            )
        search_index._vectors = committed
    times = []
    for question in qs:
        start = time.perf_counter()
        embedder.embed_query(question)
        times.append((time.perf_counter() - start) * 1000)
    report(f"of which embedding the question ({embedder.model_id})",
           f"{percentile(times, 50):.1f} / {percentile(times, 95):.1f} ms")


def bench_warm() -> None:
    """Warm query latency at each index size available."""
    ensure_hf_index()
    qs = questions(200)
    warm_latency(HF_INDEX, "3.5k", qs)
    if (ARXIV_INDEX / "papers.sqlite3").exists():
        warm_latency(ARXIV_INDEX, "83k", qs, baseline_exact=True)
        warm_latency(ARXIV_INDEX, "83k, digest titles", digest_titles(200), baseline_exact=True)
    else:
        print(f"  (83k: build {ARXIV_INDEX} first, see --help)", file=sys.stderr)


def bench_add() -> None:
    """Add one 13-paper digest (SciFact abstracts: real text, not in arXiv) to a copy of the largest index."""
    source = ARXIV_INDEX if (ARXIV_INDEX / "papers.sqlite3").exists() else HF_INDEX
    ensure_hf_index()
    from semsearch import index

    with tempfile.TemporaryDirectory(dir=ROOT / "indexes") as scratch:
        copy = Path(scratch) / "index"
        shutil.copytree(source, copy)
        digest = Path(scratch) / "digest_2026-11-25.txt"
        with open(DATA / "scifact" / "corpus.jsonl", encoding="utf-8") as corpus:
            records = [json.loads(line) for line in corpus][:13]
        digest.write_text(
            "Nov 25\n\n" + "".join(f"{r['title'].rstrip('.')}\n\n{r['text']}\n\n" for r in records), encoding="utf-8"
        )
        embedder = index.embedder_for(copy)
        embedder.embed_documents(["warm up"])
        start = time.perf_counter()
        embedder.embed_documents([f"{r['title']} {r['text']}" for r in records])
        embedding = time.perf_counter() - start
        start = time.perf_counter()
        result = index.update(copy, [digest], embedder)
        total = time.perf_counter() - start
        assert result.added == 13, result
    report(
        f"add a 13-paper digest to the {result.papers - 13}-paper index",
        f"{total:.2f} s in all: {embedding:.2f} s embedding the 13 abstracts, {total - embedding:.2f} s of index work",
    )


def bench_disk() -> None:
    """Bytes on disk per paper and the peak RSS of `ask` and `update` processes."""
    ensure_hf_index()
    for folder in (HF_INDEX, ARXIV_INDEX):
        if not (folder / "papers.sqlite3").exists():
            continue
        info = json.loads(timed_run([*SEMSEARCH, "info", "--json", "--index", str(folder)])[2])
        report(f"disk per paper, {folder.name}", f"{info['size_bytes'] / info['papers']:.0f} bytes")
        _, rss, _ = timed_run([*SEMSEARCH, "ask", "graph neural networks", "--index", str(folder)])
        report(f"peak RSS of `ask`, {folder.name}", f"{rss / 1024:.0f} MB")
    with tempfile.TemporaryDirectory(dir=ROOT / "indexes") as scratch:
        _, rss, _ = timed_run([*SEMSEARCH, "update", str(DATA / "digests" / "seed"), "--index", f"{scratch}/i"])
        report("peak RSS of `update` (seed digest, 63 papers)", f"{rss / 1024:.0f} MB")


def bench_ann(target: int, nprobes: list[int]) -> None:
    """Exact against IVF search at `target` vectors made of real vectors plus small noise."""
    from semsearch.search import SearchIndex

    source = ARXIV_INDEX if (ARXIV_INDEX / "papers.sqlite3").exists() else HF_INDEX
    ensure_hf_index()
    with SearchIndex(source) as search_index:
        _, real = search_index.stored_vectors()
    rng = np.random.default_rng(7)
    copies = -(-target // len(real))
    # Each copy is the real set nudged by noise of about 5% of a vector's length, so neighbours stay realistic
    # while no two vectors are identical.
    noise_scale = 0.05 / np.sqrt(real.shape[1])
    parts = []
    for _ in range(copies):
        block = real + rng.normal(0, noise_scale, real.shape).astype(np.float32)
        parts.append(block / np.linalg.norm(block, axis=1, keepdims=True))
    vectors = np.concatenate(parts)[:target]
    ids = np.arange(target, dtype=np.int64)
    del parts

    compare_indexes(ids, vectors, question_vectors(source), nprobes, f"{target:,} ({source.name} vectors replicated)")
    del vectors


def _latencies(search, qs: np.ndarray) -> tuple[list[float], list[set[int]]]:
    """Per-question milliseconds and top-10 id sets of one search function."""
    times, found = [], []
    for q in qs:
        start = time.perf_counter()
        hits = search(q)
        times.append((time.perf_counter() - start) * 1000)
        found.append({i for i, _ in hits})
    return times, found


def recall_by_set(found: list[set[int]], truth: list[set[int]], question_sets: dict[str, np.ndarray]) -> str:
    """Recall@10 of each question set (its questions lie in `found` and `truth` in the sets' order), as one line."""
    recalls, offset = [], 0
    for name, qs in question_sets.items():
        pairs = zip(found[offset : offset + len(qs)], truth[offset : offset + len(qs)])
        recalls.append(f"{name} {np.mean([len(a & b) / 10 for a, b in pairs]):.3f}")
        offset += len(qs)
    return ", ".join(recalls)


def compare_indexes(
    ids: np.ndarray, vectors: np.ndarray, question_sets: dict[str, np.ndarray], nprobes: list[int], label: str
) -> None:
    """Every kind of FAISS file semsearch writes, over the same vectors: recall@10 against an exact float32 scan
    per question set, p50 / p95 of one search (top 100, as hybrid search asks), and the bytes each search reads.
    The baseline is the exact float16 scan, which semsearch used up to 100k papers before the compressed scan."""
    import faiss

    from semsearch.index import DEFAULT_POLICY
    from semsearch.storage.vectors import EXACT_FACTORY, FLAT_FACTORY, VectorIndex, single_threaded_searches

    single_threaded_searches()  # as the CLI and the server search
    everything = np.concatenate(list(question_sets.values()))
    exact = VectorIndex.build(vectors.shape[1], ids, vectors, factory=FLAT_FACTORY)
    # The search is bound now, so deleting the exact index below frees it once the timing is done.
    _, truth = _latencies(lambda q, search=exact.search: search(q, 10), everything)
    del exact

    def recall_per_set(found: list[set[int]]) -> str:
        return recall_by_set(found, truth, question_sets)

    def measure(index: VectorIndex, name: str, baseline: float | None) -> float:
        times, found = _latencies(lambda q: index.search(q, 100)[:10], everything)
        p50 = percentile(times, 50)
        report(
            f"{label}: {name}, recall@10 {recall_per_set(found)}",
            f"p50 {p50:.2f} ms, p95 {percentile(times, 95):.2f} ms, {index.bytes_per_question() / 1e6:.1f} MB read",
            f"{EXACT_FACTORY} p50 {baseline:.2f} ms" if baseline else "",
            f"{baseline / p50:.1f}x faster" if baseline else "",
        )
        return p50

    size = len(ids)
    chosen = (
        "IVF" if size >= DEFAULT_POLICY.approximate_from
        else "compressed" if size >= DEFAULT_POLICY.compressed_from else "exact"
    )
    print(f"  ({label}: semsearch writes the {chosen} kind at this size)", file=sys.stderr)
    half = VectorIndex.build(vectors.shape[1], ids, vectors, factory=EXACT_FACTORY)
    baseline = measure(half, f"exact {EXACT_FACTORY}", None)
    del half
    start = time.perf_counter()
    compressed = VectorIndex.build_compressed(vectors.shape[1], ids, vectors)
    report(f"{label}: training and adding ({compressed.factory})", f"{time.perf_counter() - start:.1f} s")
    measure(compressed, compressed.factory, baseline)
    with tempfile.TemporaryDirectory() as scratch:
        compressed.save(Path(scratch) / "v.faiss")
        report(f"{label}: {compressed.factory} file per vector",
               f"{(Path(scratch) / 'v.faiss').stat().st_size / size:.0f} bytes")
    del compressed
    if not nprobes:
        return
    start = time.perf_counter()
    ivf = VectorIndex.train_ivf(vectors.shape[1], ids, vectors)
    report(f"{label}: IVF training and adding ({ivf.factory})", f"{time.perf_counter() - start:.1f} s")
    for nprobe in nprobes:
        faiss.extract_index_ivf(ivf._index).nprobe = nprobe
        measure(ivf, f"{ivf.factory} nprobe {nprobe}", baseline)


def bench_scifact() -> None:
    """SciFact test nDCG@10 and Recall@100 per mode with the exact float16 scan (baseline; SciFact's 5,183 abstracts
    are below `compressed_from`) and with the compressed scan forced: what the compressed scan costs in quality.
    Uses the evaluation's embedding cache (`semsearch eval` fills it)."""
    from semsearch.evaluation.evaluate import EmbeddingCache, build_index, default_cache_dir, load_beir, run_queries
    from semsearch.evaluation.metrics import evaluate_run
    from semsearch.index import MergePolicy, embedder_for
    from semsearch.search import SearchIndex

    dataset = load_beir(DATA / "scifact", "test")
    with tempfile.TemporaryDirectory() as scratch:
        embedder = EmbeddingCache(embedder_for(Path(scratch) / "none"), default_cache_dir())
        results = {}
        for name, policy in (("exact", MergePolicy()), ("compressed", MergePolicy(compressed_from=1))):
            folder = Path(scratch) / name
            doc_ids = build_index(folder, dataset, embedder, policy=policy)
            with SearchIndex(folder, embedder) as search_index:
                factory = search_index.info().index_factory
                for mode in ("dense", "hybrid"):
                    run = run_queries(search_index, dataset, doc_ids, mode)
                    results[name, mode] = (factory, evaluate_run(run, dataset.qrels, ("ndcg@10", "recall@100")))
    for mode in ("dense", "hybrid"):
        (exact_factory, exact), (factory, compressed) = results["exact", mode], results["compressed", mode]
        report(
            f"SciFact test ({len(dataset.queries)} queries), {mode}, {factory}: nDCG@10 / Recall@100",
            f"{compressed['ndcg@10']:.4f} / {compressed['recall@100']:.4f}",
            f"{exact_factory}: {exact['ndcg@10']:.4f} / {exact['recall@100']:.4f}",
            f"nDCG@10 {compressed['ndcg@10'] - exact['ndcg@10']:+.4f}",
        )


def bench_switch(sizes: list[int], nprobes: list[int]) -> None:
    """Exact against IVF search on real arXiv vectors at growing sizes: where exact search stops being cheap."""
    from semsearch.index import DEFAULT_POLICY
    from semsearch.search import SearchIndex

    if not (ARXIV_INDEX / "papers.sqlite3").exists():
        print(f"  (needs {ARXIV_INDEX}, see --help)", file=sys.stderr)
        return
    with SearchIndex(ARXIV_INDEX) as search_index:
        all_ids, all_vectors = search_index.stored_vectors()
    question_sets = question_vectors(ARXIV_INDEX)
    for size in sizes:
        label = f"{min(size, len(all_ids)):,} real vectors"
        compare_indexes(all_ids[:size], all_vectors[:size], question_sets, nprobes, label)
    print(
        f"  (semsearch scans compressed codes from {DEFAULT_POLICY.compressed_from:,} papers and switches to IVF from"
        f" {DEFAULT_POLICY.approximate_from:,})",
        file=sys.stderr,
    )


SECTIONS = ("ingest", "cold", "warm", "add", "disk", "switch", "ann", "scifact")


def main() -> None:
    """Run the chosen sections and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these sections")
    parser.add_argument("--ingest-n", type=int, default=2000, help="abstracts to embed per backend")
    parser.add_argument("--ann-size", type=int, default=1_000_000, help="vectors in the ANN section")
    parser.add_argument("--switch-size", type=int, action="append", help="sizes for the switch section")
    parser.add_argument(
        "--nprobe", type=int, action="append", help="nprobe values to try (default: semsearch's and a few around it)"
    )
    args = parser.parse_args()
    from semsearch.storage.vectors import DEFAULT_NPROBE

    chosen = args.only or list(SECTIONS)
    from machine import memory_bandwidth

    bandwidth = memory_bandwidth()
    print(f"memory bandwidth: {bandwidth:.1f} GB/s (one core copying 512 MB)", file=sys.stderr)
    for name in chosen:
        print(f"[{name}]", file=sys.stderr, flush=True)
        if name == "ingest":
            bench_ingest(args.ingest_n)
        elif name == "switch":
            bench_switch(args.switch_size or [25_000, 50_000, 82_779], args.nprobe or [])
        elif name == "ann":
            bench_ann(args.ann_size, args.nprobe or sorted({256, DEFAULT_NPROBE, 1024}))
        else:
            globals()[f"bench_{name}"]()
    print(
        f"\nmachine: {os.cpu_count()} cores, {platform_line()}, memory bandwidth {bandwidth:.1f} GB/s"
        " (one core copying 512 MB; searches are single-threaded)"
    )
    print("| measure | value | baseline | ratio |\n|---|---|---|---|")
    for name, value, baseline, ratio in rows:
        print(f"| {name} | {value} | {baseline} | {ratio} |")


def platform_line() -> str:
    """CPU model and Python version, for the README next to the figures."""
    import platform

    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, Python {platform.python_version()}"


if __name__ == "__main__":
    main()
