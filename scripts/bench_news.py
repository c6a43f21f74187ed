"""How long `news` takes on a real index: every paper new (a first look), and a look at the last days' papers; beside
it, in the same run, `ask` of the same questions (the baseline: a watch costs about one question).

Usage: .venv/bin/python scripts/bench_news.py INDEX_FOLDER [--since YYYY-MM-DD]

Works on a copy of INDEX_FOLDER (it adds watches and likes); the index itself is left as it was.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from machine import machine_line  # noqa: E402

from semsearch import feed  # noqa: E402
from semsearch.index import embedder_for  # noqa: E402
from semsearch.search import SearchIndex  # noqa: E402

QUESTIONS = [
    "parallel corpora for Indic languages",
    "memory-efficient training of trillion-parameter models",
    "video generation that follows physics",
    "robot manipulation from demonstrations",
    "reasoning with reinforcement learning",
]


def best_of(runs: int, fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("index", type=Path)
    parser.add_argument("--since", default="2025-12-20")
    args = parser.parse_args()
    print(f"machine: {machine_line()}")
    with tempfile.TemporaryDirectory(prefix="semsearch-bench-news-") as tmp:
        folder = Path(tmp) / "index"
        shutil.copytree(args.index, folder, ignore=shutil.ignore_patterns("write.lock"))
        for question in QUESTIONS:
            feed.add_watch(folder, question)
        with SearchIndex(folder, embedder_for(folder)) as index:
            index.ask("warm up", 1)
            newest = [hit.paper.key for hit in index.ask("diffusion models for video", 2)]
            feed.set_liked(folder, newest)
            ask, _ = best_of(3, lambda: [index.ask(question, 10) for question in QUESTIONS])
            print(f"baseline: ask of the {len(QUESTIONS)} questions, 10 papers each: {ask * 1000:.0f} ms")
            for label, since in (("every paper new", None), (f"papers since {args.since}", args.since)):
                for why in (False, True):
                    took, picks = best_of(3, lambda s=since, w=why: feed.news(index, peek=True, since=s, why=w))
                    print(
                        f"news, {label} ({picks.new_papers} papers), {len(QUESTIONS)} watches, 2 likes, "
                        f"{'with' if why else 'without'} why: {took * 1000:.0f} ms ({took / ask:.1f}x the baseline)"
                    )


if __name__ == "__main__":
    main()
