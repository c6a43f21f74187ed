"""Speed and scale benchmark: one table, each figure beside a baseline measured in the same run.

    .venv/bin/python scripts/bench.py                 # everything that the available indexes allow
    .venv/bin/python scripts/bench.py --only ann      # one section: ingest, cold, warm, add, disk, ann

Sections:
  ingest  abstracts/s embedding arXiv abstracts, per backend (baseline: torch fp32 through sentence-transformers)
  cold    wall time of `semsearch ask` in fresh processes on the 274-digest index (baseline: the torch query path)
          and of `semsearch --help`
  warm    query latency p50/p95 of the library call over 200 real questions (SciFact claims), per index size
  add     time to add one 13-paper digest to the largest index, split into embedding and index work
  disk    bytes on disk per paper; peak RSS of `ask` and of `update`
  ann     at 1M vectors (the 83k real arXiv vectors, or the 3.5k digest vectors, replicated with small noise):
          exact search (baseline) against the IVF index semsearch switches to, recall@10 and p50, memory per paper

Indexes it uses (built once, kept under indexes/, git-ignored):
  indexes/bench-hf-daily  the 274 digests in ../shared/data/digests/hf_daily (built by this script if missing)
  indexes/bench-arxiv     the 82,779 arXiv abstracts, built by
                          `semsearch update ../shared/data/arxiv/papers.jsonl.gz --index indexes/bench-arxiv`
                          (about an hour on 2 cores; the sections that need it say so when it is missing)
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
ARXIV_INDEX = ROOT / "indexes" / "bench-arxiv"
SEMSEARCH = [sys.executable, "-m", "semsearch"]

sys.path.insert(0, str(ROOT))

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
    from semsearch.index import document_text

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


def timed_run(args: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KB) and stdout of one fresh process."""
    start = time.perf_counter()
    wrapped = ["/usr/bin/time", "-f", "%M", *args] if Path("/usr/bin/time").exists() else args
    result = subprocess.run(wrapped, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {result.stderr.strip()}")
    rss = int(result.stderr.strip().splitlines()[-1]) if wrapped is not args else 0
    return elapsed, rss, result.stdout


def ensure_hf_index() -> None:
    """Build the 274-digest index with the real model unless it exists."""
    if (HF_INDEX / "papers.sqlite3").exists():
        return
    print(f"building {HF_INDEX} (274 digests, real model)...", file=sys.stderr, flush=True)
    seconds, rss, _ = timed_run([*SEMSEARCH, "update", str(HF_DAILY), "--index", str(HF_INDEX)])
    report("index 274 digests from scratch", f"{seconds:.0f} s ({3506 / seconds:.1f} papers/s, peak RSS {rss / 1024:.0f} MB)")


# -- sections ---------------------------------------------------------------------------------------------------


def bench_ingest(n: int) -> None:
    """Abstracts per second for each embedding backend on the same texts."""
    from semsearch import embed

    texts = arxiv_abstracts(n)
    backends = embed.available_document_backends()
    results = {}
    for name, factory in backends.items():
        embedder = factory()
        embedder.embed_documents(texts[:32])  # load and warm up outside the timing
        start = time.perf_counter()
        embedder.embed_documents(texts)
        results[name] = n / (time.perf_counter() - start)
    baseline = results.pop("torch-fp32")
    report(f"ingest torch-fp32 ({n} arXiv abstracts)", f"{baseline:.1f} abstracts/s")
    for name, rate in results.items():
        report(f"ingest {name}", f"{rate:.1f} abstracts/s", f"{baseline:.1f}/s", f"{rate / baseline:.2f}x")


def bench_cold() -> None:
    """Fresh-process wall time of `ask` (fast path against the torch path) and of `--help`."""
    ensure_hf_index()
    question = "reinforcement learning for reasoning in language models"
    args = [*SEMSEARCH, "ask", question, "--index", str(HF_INDEX), "-n", "10"]
    timed_run(args)  # the first call may prepare the fast query model; not part of the figure
    fast = [timed_run(args)[0] for _ in range(5)]
    torch_path = [timed_run(args, {"SEMSEARCH_QUERY_BACKEND": "torch"})[0] for _ in range(3)]
    fast_median, torch_median = statistics.median(fast), statistics.median(torch_path)
    report(
        "cold `semsearch ask`, 3.5k index (median of 5)",
        f"{fast_median:.2f} s",
        f"{torch_median:.2f} s torch path",
        f"{torch_median / fast_median:.1f}x faster",
    )
    help_times = [timed_run([*SEMSEARCH, "--help"])[0] for _ in range(5)]
    report("cold `semsearch --help` (median of 5)", f"{statistics.median(help_times):.2f} s")


def warm_latency(folder: Path, label: str, qs: list[str]) -> None:
    """p50/p95 of SearchIndex.ask over real questions, after one warm-up question."""
    from semsearch.embed import embedder_from_spec
    from semsearch.index import SearchIndex

    with SearchIndex(folder, embedder_from_spec()) as search_index:
        search_index.ask(qs[0], 10)
        times = []
        for question in qs:
            start = time.perf_counter()
            search_index.ask(question, 10)
            times.append((time.perf_counter() - start) * 1000)
        papers = search_index.info().papers
    report(f"warm ask p50 / p95, {label} ({papers} papers, {len(qs)} questions)",
           f"{percentile(times, 50):.1f} / {percentile(times, 95):.1f} ms")


def bench_warm() -> None:
    """Warm query latency at each index size available."""
    ensure_hf_index()
    qs = questions(200)
    warm_latency(HF_INDEX, "3.5k", qs)
    if (ARXIV_INDEX / "papers.sqlite3").exists():
        warm_latency(ARXIV_INDEX, "83k", qs)
    else:
        print(f"  (83k: build {ARXIV_INDEX} first, see --help)", file=sys.stderr)


def bench_add() -> None:
    """Add one 13-paper digest (SciFact abstracts: real text, not in arXiv) to a copy of the largest index."""
    source = ARXIV_INDEX if (ARXIV_INDEX / "papers.sqlite3").exists() else HF_INDEX
    ensure_hf_index()
    from semsearch import index
    from semsearch.embed import embedder_from_spec

    with tempfile.TemporaryDirectory(dir=ROOT / "indexes") as scratch:
        copy = Path(scratch) / "index"
        shutil.copytree(source, copy)
        digest = Path(scratch) / "digest_2026-11-25.txt"
        records = [json.loads(line) for line in open(DATA / "scifact" / "corpus.jsonl", encoding="utf-8")][:13]
        digest.write_text(
            "Nov 25\n\n" + "".join(f"{r['title'].rstrip('.')}\n\n{r['text']}\n\n" for r in records), encoding="utf-8"
        )
        embedder = embedder_from_spec()
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
        f"{total:.2f} s in all (embedding the 13 abstracts alone: {embedding:.2f} s)",
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
    from semsearch.store import Store
    from semsearch.vectors import VectorIndex

    source = ARXIV_INDEX if (ARXIV_INDEX / "papers.sqlite3").exists() else HF_INDEX
    ensure_hf_index()
    store = Store.open(source)
    _, real = store.all_vectors(int(store.get_meta("dim")))
    store.close()
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

    from semsearch.embed import embedder_from_spec

    embedder = embedder_from_spec()
    qs = np.stack([embedder.embed_query(q) for q in questions(200)])

    exact = VectorIndex.build(vectors.shape[1], ids, vectors)
    exact_times, truth = [], []
    for q in qs:
        start = time.perf_counter()
        truth.append({i for i, _ in exact.search(q, 10)})
        exact_times.append((time.perf_counter() - start) * 1000)
    del exact
    start = time.perf_counter()
    ivf = VectorIndex.train_ivf(vectors.shape[1], ids, vectors)
    build = time.perf_counter() - start
    report(f"IVF build at {target:,} vectors ({ivf.factory}, from {source.name} vectors)", f"{build:.0f} s")
    exact_p50 = percentile(exact_times, 50)
    for nprobe in nprobes:
        import faiss

        faiss.extract_index_ivf(ivf._index).nprobe = nprobe
        times, recalls = [], []
        for q, expected in zip(qs, truth):
            start = time.perf_counter()
            found = {i for i, _ in ivf.search(q, 10)}
            times.append((time.perf_counter() - start) * 1000)
            recalls.append(len(found & expected) / 10)
        p50 = percentile(times, 50)
        report(
            f"ANN at {target:,}: nprobe {nprobe}, recall@10 {np.mean(recalls):.3f}",
            f"p50 {p50:.2f} ms, p95 {percentile(times, 95):.2f} ms",
            f"exact p50 {exact_p50:.1f} ms",
            f"{exact_p50 / p50:.0f}x faster",
        )
    with tempfile.TemporaryDirectory() as scratch:
        ivf.save(Path(scratch) / "ivf.faiss")
        size = (Path(scratch) / "ivf.faiss").stat().st_size
    report(f"IVF file per vector at {target:,}", f"{size / target:.0f} bytes")


SECTIONS = ("ingest", "cold", "warm", "add", "disk", "ann")


def main() -> None:
    """Run the chosen sections and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these sections")
    parser.add_argument("--ingest-n", type=int, default=2000, help="abstracts to embed per backend")
    parser.add_argument("--ann-size", type=int, default=1_000_000, help="vectors in the ANN section")
    parser.add_argument("--nprobe", type=int, action="append", help="nprobe values to try (default 16 32 48 64)")
    args = parser.parse_args()
    chosen = args.only or list(SECTIONS)
    for name in chosen:
        print(f"[{name}]", file=sys.stderr, flush=True)
        if name == "ingest":
            bench_ingest(args.ingest_n)
        elif name == "ann":
            bench_ann(args.ann_size, args.nprobe or [16, 32, 48, 64])
        else:
            globals()[f"bench_{name}"]()
    print(f"\nmachine: {os.cpu_count()} cores, {platform_line()}")
    print("| measure | value | baseline | ratio |\n|---|---|---|---|")
    for name, value, baseline, ratio in rows:
        print(f"| {name} | {value} | {baseline} | {ratio} |")


def platform_line() -> str:
    """CPU model and Python version, for the README next to the figures."""
    import platform

    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, Python {platform.python_version()}"


if __name__ == "__main__":
    main()
