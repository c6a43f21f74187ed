"""How `news` should rank: the measurement behind the README's "watch, like, news" table (not part of the tests).

Usage: .venv/bin/python scripts/eval_feed.py [--data DIR] [--days-of N] [--noise N] [--seed N]

SciFact's claims play a reader's watches and its judged abstracts the papers each watch should find. A "day" holds
10 claims' judged abstracts hidden among NOISE other abstracts of the corpus (the rest of the corpus is the older
index). The feed ranks the day's papers by every watch at once; a watch scores a hit at k when its right paper is
in the top k of that merged feed, counting only the papers no watch should find (the other watches' right papers
are picks too). A broad watch that scores every paper high pushes the others' papers down: that is what the
normalizations are for. Likes: for claims with two or more judged abstracts, the reader likes one (an older paper)
and the day holds another. Choices (method, threshold) are made on the train claims and reported on the test claims.

Methods: watch/like by the raw search score (`ask` hybrid for a watch, `related` hybrid for a like); the same
standardized over the new papers, or over a background of older papers (semsearch/feed/rank.py); and for likes, a
linear classifier over the liked papers' vectors against the background (arxiv-sanity-lite's per-tag SVM, here a
numpy logistic regression), one model of the reader's taste.

Uses the embedding cache of `semsearch eval` (the corpus is embedded once, then read back).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from machine import machine_line  # noqa: E402

from semsearch.evaluation.evaluate import (  # noqa: E402
    EmbeddingCache,
    build_index,
    default_cache_dir,
    load_beir,
    read_qrels,
)
from semsearch.feed import rank  # noqa: E402
from semsearch.model.embed import embedder_from_spec  # noqa: E402
from semsearch.search import SearchIndex  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "scifact"
CLAIMS_PER_DAY = 10
THRESHOLDS = (2.0, 2.5, 3.0, 3.5, 4.0)
RAW_THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6)


def logistic_scores(positives: np.ndarray, negatives: np.ndarray, papers: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """A logistic regression of liked vectors against the rest (balanced classes, L2), scoring `papers`."""
    x = np.vstack([positives, negatives]).astype(np.float64)
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    weight = np.where(y == 1, len(y) / (2 * len(positives)), len(y) / (2 * len(negatives)))
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(300):  # gradient descent is plenty for 384 features and a few hundred rows
        p = 1 / (1 + np.exp(-(x @ w + b)))
        grad = weight * (p - y)
        w -= 0.5 * (x.T @ grad / len(y) + l2 * w / len(y))
        b -= 0.5 * grad.mean()
    return papers @ w + b


def days(claims: list[str], seed: int) -> list[list[str]]:
    order = sorted(claims)
    random.Random(seed).shuffle(order)
    return [order[i : i + CLAIMS_PER_DAY] for i in range(0, len(order), CLAIMS_PER_DAY)]


def rank_of(target_score: float, noise_scores: list[float]) -> float:
    """The right paper's expected rank among the others: a tie counts half (a feed breaks it one way or the other)."""
    return 1 + sum(score > target_score for score in noise_scores) + 0.5 * sum(
        score == target_score for score in noise_scores
    )


def robust_z(scores: dict[int, float]) -> dict[int, float]:
    """Z-scores with the median and the median absolute deviation instead of the mean and standard deviation."""
    values = np.array(list(scores.values()))
    median = float(np.median(values))
    spread = float(np.median(np.abs(values - median))) * 1.4826 or 1.0
    return {paper_id: (value - median) / spread for paper_id, value in scores.items()}


def round_robin(scores: dict[int, float]) -> dict[int, float]:
    """Each source's first paper, then each one's second...: a score of 1 / rank within the source."""
    ordered = sorted(scores, key=lambda paper_id: -scores[paper_id])
    return {paper_id: 1.0 / position for position, paper_id in enumerate(ordered, start=1)}


def round_robin_by_z(scores: dict[int, float]) -> dict[int, float]:
    """Round robin, the papers of one round ordered by their z-scores over the new papers."""
    z = rank.standardized(scores, list(scores.values()))
    ordered = sorted(scores, key=lambda paper_id: -scores[paper_id])
    return {paper_id: -position + z[paper_id] / 1000 for position, paper_id in enumerate(ordered, start=1)}


# Rankings tried here only (the library keeps rank.NORMALIZATIONS).
EXTRA_METHODS = {"robust": robust_z, "round robin": round_robin, "round robin by z": round_robin_by_z}


def evaluate_split(index, ids, qrels, queries, kind, noise, seed, vectors, present=CLAIMS_PER_DAY):
    """Per method: the rank each claim's right paper reaches in the merged feed, and the threshold statistics."""
    by_doc = {doc: pid for pid, doc in ids.items()}
    all_ids = set(ids)
    relevant = {q: [by_doc[d] for d, r in docs.items() if r > 0 and d in by_doc] for q, docs in qrels.items()}
    if kind == "watch":
        claims = [q for q in relevant if relevant[q] and q in queries]
    else:
        claims = [q for q in relevant if len(relevant[q]) >= 2 and q in queries]
    rng = random.Random(seed)
    ranks: dict[str, list[int]] = {}
    own_matched: dict[str, dict[float, int]] = {}
    noise_matched: dict[str, dict[float, int]] = {}
    for day in days(claims, seed):
        liked = {q: relevant[q][0] for q in day} if kind == "like" else {}
        # Only the first `present` claims of the day have their paper in it; the others' watches find nothing.
        targets = {q: set(relevant[q]) - ({liked[q]} if liked else set()) for q in day[:present]}
        wanted = set().union(*targets.values())
        excluded = wanted | set(liked.values()) | {p for q in day for p in relevant[q]}
        noise_ids = rng.sample(sorted(all_ids - excluded), noise)
        new = wanted | set(noise_ids)
        background = rank.background_sample(all_ids - new - set(liked.values()))
        if kind == "watch":
            sources = {q: rank.watch_source(q, queries[q]) for q in day}
        else:
            sources = {q: rank.like_source(liked[q], q, "", "") for q in day}
            for q in day:  # the like's text is the liked paper's title and abstract, as news builds it
                paper = index.show(ids[liked[q]])
                sources[q] = rank.like_source(paper.id, q, paper.title, paper.abstract)
        raw = {q: rank.raw_scores(index, s, new) for q, s in sources.items()}
        scored = {method: {q: rank.source_scores(index, s, new, background, method) for q, s in sources.items()}
                  for method in rank.NORMALIZATIONS}
        scored.update({name: {q: fn(raw[q]) for q in sources} for name, fn in EXTRA_METHODS.items()})
        for method, per_source in scored.items():
            feed = {pid: max(scores[pid] for scores in per_source.values()) for pid in new}
            noise_scores = [feed[p] for p in noise_ids]
            name = f"{kind}: {method_label(kind, method)}"
            for q in targets:
                ranks.setdefault(name, []).append(rank_of(max(feed[p] for p in targets[q]), noise_scores))
            if method in EXTRA_METHODS:
                continue
            for threshold in RAW_THRESHOLDS if method == "none" else THRESHOLDS:
                hits = sum(max(per_source[q][p] for p in targets[q]) >= threshold for q in targets)
                own_matched.setdefault(method, {}).setdefault(threshold, 0)
                own_matched[method][threshold] += hits
                noisy = sum(any(s[p] >= threshold for s in per_source.values()) for p in noise_ids)
                noise_matched.setdefault(method, {}).setdefault(threshold, 0)
                noise_matched[method][threshold] += noisy
        # the per-watch (or per-like) ranking alone: the search as `ask` / `related` runs it, one source at a time
        for q in targets:
            scores = raw[q]
            others = [scores[p] for p in noise_ids]
            ranks.setdefault(f"{kind}: each alone (no merging)", []).append(
                rank_of(max(scores[p] for p in targets[q]), others)
            )
        if kind == "like":
            positives = np.stack([vectors[liked[q]] for q in day])
            negatives = np.stack([vectors[p] for p in background])
            papers = sorted(new)
            scores = dict(zip(papers, logistic_scores(positives, negatives, np.stack([vectors[p] for p in papers]))))
            noise_scores = [scores[p] for p in noise_ids]
            for q in targets:
                ranks.setdefault("like: classifier over liked vectors", []).append(
                    rank_of(max(scores[p] for p in targets[q]), noise_scores)
                )
    days_count = len(days(claims, seed))
    return ranks, own_matched, noise_matched, len(claims), days_count


def method_label(kind: str, method: str) -> str:
    search = "ask hybrid" if kind == "watch" else "related hybrid"
    return {
        "none": f"{search}, raw score",
        "new": f"{search}, z-score over the new papers",
        "background": f"{search}, z-score over older papers",
        "robust": f"{search}, median/MAD z-score over the new papers",
        "round robin": f"{search}, round robin (each source's 1st, then 2nd...)",
        "round robin by z": f"{search}, round robin, each round by z-score over the new papers",
    }[method]


def recall(ranks: list[int], k: int) -> float:
    return sum(r <= k for r in ranks) / len(ranks)


def days_at_target(ranks: list[int], per_day: int = CLAIMS_PER_DAY, share: float = 0.9) -> str:
    """Of the full days, how many put at least 9 in 10 of their right papers in the top 3."""
    days = [ranks[i : i + per_day] for i in range(0, len(ranks) - per_day + 1, per_day)]
    good = sum(sum(r <= 3 for r in day) >= share * per_day for day in days)
    return f"{good}/{len(days)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--noise", type=int, default=60, help="Other abstracts in each day (a day's worth).")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--present", type=int, default=CLAIMS_PER_DAY, help="Claims a day whose paper is in it (the rest find none)."
    )
    args = parser.parse_args()
    print(f"machine: {machine_line()}")
    started = time.perf_counter()
    dataset = load_beir(args.data, "test")
    embedder = EmbeddingCache(embedder_from_spec(), default_cache_dir())
    all_queries = {}
    import json

    with open(args.data / "queries.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            all_queries[str(row["_id"])] = row["text"]
    with tempfile.TemporaryDirectory(prefix="semsearch-feed-eval-") as tmp:
        folder = Path(tmp) / "index"
        ids = build_index(folder, dataset, embedder)
        print(f"indexed {len(ids)} abstracts with {embedder.model_id} ({embedder.embedded} embedded now)")
        with SearchIndex(folder, embedder) as index:
            paper_ids, matrix = index.stored_vectors()
            vectors = dict(zip(paper_ids.tolist(), matrix))
            for split in ("train", "test"):
                qrels = read_qrels(args.data / "qrels" / f"{split}.tsv")
                print(
                    f"\n## SciFact {split} claims, {args.noise} other abstracts a day, {CLAIMS_PER_DAY} claims a day, "
                    f"{args.present} of them with their paper in it"
                )
                print("| method | claims | days | recall@3 | recall@10 | days with 9 in 10 in the top 3 |")
                print("|---|---:|---:|---:|---:|---:|")
                thresholds = []
                for kind in ("watch", "like"):
                    ranks, own, noisy, claims, day_count = evaluate_split(
                        index, ids, qrels, all_queries, kind, args.noise, args.seed, vectors, args.present
                    )
                    for name, values in ranks.items():
                        r3, r10 = recall(values, 3), recall(values, 10)
                        on_target = days_at_target(values, min(args.present, CLAIMS_PER_DAY))
                        print(f"| {name} | {len(values)} | {day_count} | {r3:.3f} | {r10:.3f} | {on_target} |")
                    for method, by_threshold in own.items():
                        for threshold, count in by_threshold.items():
                            thresholds.append(
                                f"{kind} {method} >= {threshold}: right paper matched {count / claims:.3f}, "
                                f"other papers matched {noisy[method][threshold] / (day_count * args.noise):.3f}"
                            )
                print("\nmatch thresholds (a paper counts as matching when its standardized score reaches them):")
                print("\n".join(thresholds))
    print(f"\ntook {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
