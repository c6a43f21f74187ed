"""Ray against a local update: the same abstracts indexed both ways, back to back, in one run.

    .venv/bin/python scripts/bench_ray.py                  # 2,000 arXiv abstracts, 2 rounds, 1 worker on every core
    .venv/bin/python scripts/bench_ray.py --workers 2 --cpus-per-worker 1

Needs the `ray` extra (`pip install -e '.[ray]'`). Every round runs `index.update` end to end into a new folder
(reading the in-memory digest, planning, embedding, the checkpoints and the commit) with the default int8 model,
first locally, then through a local Ray instance started once by this script; rounds alternate, so a machine
that gets busier part-way slows both alike. Ray's fixed costs are measured apart:
  startup      `ray.init` of a local instance (once per `--ray local` command)
  per run      an update of one abstract through Ray: the Ray Data plan, the actor pool starting, each actor
               loading the int8 model, and the vectors' way back (once per command that embeds anything)
  steady rate  (N - 1) abstracts over (time for N - time for 1): what more workers would multiply
  driver       the same update with vectors that cost nothing (random unit vectors): reading, planning, the
               checkpoints and the commit, the part that stays on one machine however many workers embed
The machine's load average is printed before and after: this project's machine is shared, and a busy one slows
both sides of each comparison.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARXIV = ROOT.parent / "shared" / "data" / "arxiv" / "papers.jsonl.gz"
sys.path.insert(0, str(ROOT))

from scripts.machine import machine_line  # noqa: E402


def arxiv_digest(n: int):
    """The first n arXiv records as one digest built in memory."""
    from semsearch.ingest.digest import Digest, DigestPaper

    papers = []
    with gzip.open(ARXIV, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            line_number = len(papers) + 1
            papers.append(DigestPaper(record["title"], record["abstract"], None, "arxiv", line_number, record["id"]))
            if len(papers) == n:
                break
    return Digest("arxiv", (), tuple(papers))


def timed_update(embedder, digest) -> float:
    """Seconds for one `index.update` of the digest into a new folder."""
    from semsearch import index

    with tempfile.TemporaryDirectory(prefix="bench-ray-") as folder:
        start = time.perf_counter()
        report = index.update(Path(folder) / "index", [digest], embedder)
        elapsed = time.perf_counter() - start
    assert report.embedded == len(digest.papers), report
    return elapsed


class FreeVectors:
    """Random unit vectors under the int8 model's id: an update's own work with the embedding taken out."""

    def __init__(self, model_id: str, dim: int) -> None:
        import numpy as np

        self.model_id, self.dim, self._rng = model_id, dim, np.random.default_rng(0)

    def embed_documents(self, texts, progress=None):
        vectors = self._rng.standard_normal((len(texts), self.dim)).astype("float32")
        return vectors / (vectors**2).sum(axis=1, keepdims=True) ** 0.5

    def embed_query(self, text):
        return self.embed_documents([text])[0]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="arXiv abstracts to index each round")
    parser.add_argument("--rounds", type=int, default=2, help="local/Ray rounds, alternating")
    parser.add_argument("--workers", type=int, default=1, help="Ray workers")
    parser.add_argument("--cpus-per-worker", type=float, default=float(len(os.sched_getaffinity(0))))
    args = parser.parse_args()

    import ray

    from semsearch.model.cluster import RayEmbedder
    from semsearch.model.embed import QuantizedEmbedder

    print(f"machine: {machine_line()}", file=sys.stderr)
    print(f"before: {load()}", file=sys.stderr)
    digest = arxiv_digest(args.n)
    one = type(digest)(digest.source, digest.dates, digest.papers[:1])
    local = QuantizedEmbedder()
    local.embed_query("load the int8 model (and make its export if missing) outside the timings")
    timed_update(local, one)  # warm: SQLite, the page cache, the optimized graph

    cores = int(args.workers * args.cpus_per_worker)
    start = time.perf_counter()
    ray.init(num_cpus=cores, include_dashboard=False, logging_level="WARNING")
    startup = time.perf_counter() - start
    ray.data.DataContext.get_current().enable_progress_bars = False
    cluster = RayEmbedder(local, "local", workers=args.workers, cpus_per_worker=args.cpus_per_worker)
    try:
        timed_update(cluster, one)  # the first run also imports Ray Data's workers' modules
        per_run = statistics.median(timed_update(cluster, one) for _ in range(3))
        local_times, ray_times = [], []
        for round_number in range(1, args.rounds + 1):
            local_times.append(timed_update(local, digest))
            ray_times.append(timed_update(cluster, digest))
            print(
                f"round {round_number}: local {local_times[-1]:.1f} s, Ray {ray_times[-1]:.1f} s ({load()})",
                file=sys.stderr,
            )
    finally:
        ray.shutdown()
    print(f"after: {load()}", file=sys.stderr)

    driver_time = statistics.median(timed_update(FreeVectors(local.model_id, local.dim), digest) for _ in range(3))
    local_time, ray_time = statistics.median(local_times), statistics.median(ray_times)
    steady = (args.n - 1) / max(ray_time - per_run, 1e-9)
    setting = f"{args.workers} worker(s) x {args.cpus_per_worker:g} CPUs"
    rows = [
        (f"local update, int8 ({args.n} arXiv abstracts, median of {args.rounds})",
         f"{local_time:.1f} s, {args.n / local_time:.1f} abstracts/s", "", ""),
        (f"`--ray local` update, {setting}",
         f"{ray_time:.1f} s, {args.n / ray_time:.1f} abstracts/s", f"{local_time:.1f} s local",
         f"{ray_time / local_time:.2f}x the time"),
        ("Ray startup (`ray.init`, local instance)", f"{startup:.1f} s", "", ""),
        ("Ray fixed cost per run (1 abstract: plan, actor pool, model load, way back)", f"{per_run:.1f} s", "", ""),
        ("Ray steady rate, fixed cost taken out", f"{steady:.1f} abstracts/s", f"{args.n / local_time:.1f}/s local",
         f"{steady / (args.n / local_time):.2f}x"),
        ("driver's own work (vectors free: read, plan, checkpoints, commit; median of 3)",
         f"{driver_time:.2f} s, {args.n / driver_time:.0f} papers/s", "", ""),
    ]
    print(f"\nmachine: {machine_line()}; rounds: " + ", ".join(
        f"local {a:.1f} s / Ray {b:.1f} s" for a, b in zip(local_times, ray_times)))
    print("| measure | value | baseline | ratio |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
