"""The known-item test of names and title fragments (README, "Names and titles"): each search mode, asked a name
or a piece of a title that only one paper holds, should put that paper first.

Usage: .venv/bin/python scripts/name_test.py [--index PATH] [--digests PATH...] [--limit N] [--seed N] [--json]
                                             [--misses N]

Items are derived by rule (`semsearch.evaluation.names`) from the papers of the digests the index was built from,
as the index stores them (each is looked up in the index by key, arXiv id or title). Without `--index`, the
seed digest and the 274 hf_daily digests (../shared/data/digests) are indexed with the default int8 model into
indexes/name-test/ (git-ignored); a later run finds it there and embeds nothing. With `--index`, pass the digests
that index was built from with `--digests` (default: the same seed + hf_daily digests).

The figures are retrieval quality, not speed; the CPU line says which machine produced them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]  # the package, and the scripts' shared helpers

from machine import machine_line  # noqa: E402

from semsearch import index  # noqa: E402
from semsearch.errors import PaperNotFoundError, SemsearchError  # noqa: E402
from semsearch.evaluation import names  # noqa: E402
from semsearch.ingest.digest import Digest, DigestPaper, read_digests  # noqa: E402
from semsearch.keys import normalize_arxiv_id, normalize_title, paper_key  # noqa: E402
from semsearch.search import SearchIndex, StoredPaper  # noqa: E402
from semsearch.search.fusion import DEFAULT_MODE, MODES  # noqa: E402

DIGESTS = ROOT.parent / "shared" / "data" / "digests"
DEFAULT_DIGESTS = (DIGESTS / "seed", DIGESTS / "hf_daily" / "digests")
DEFAULT_INDEX = ROOT / "indexes" / "name-test"
KIND_LABELS = {names.NAME: "names", names.TITLE: "title fragments", "all": "all"}


def progress(total: int):
    print(f"Embedding {total} papers into {DEFAULT_INDEX}...", file=sys.stderr, flush=True)
    return lambda _done: None


def build_default_index(digests: Sequence[Path]) -> Path:
    """indexes/name-test holding the digests (an update: only papers it does not hold yet are embedded)."""
    report = index.update(DEFAULT_INDEX, list(digests), index.embedder_for(DEFAULT_INDEX), progress=progress)
    print(f"{report.papers} papers in {DEFAULT_INDEX} ({report.added} added now)", file=sys.stderr)
    return DEFAULT_INDEX


def lookup(search: SearchIndex, paper: DigestPaper) -> StoredPaper | None:
    """The stored paper a digest entry became: by key or arXiv id, else by its exact title."""
    wanted = normalize_title(paper.title)
    arxiv_id = normalize_arxiv_id(paper.arxiv_id) if paper.arxiv_id else None
    for reference in (paper.key or paper_key(paper.title, paper.arxiv_id), arxiv_id, paper.title):
        if not reference:
            continue
        try:
            stored = search.show(reference)
        except PaperNotFoundError:
            continue
        if normalize_title(stored.title) == wanted or (arxiv_id is not None and stored.arxiv_id == arxiv_id):
            return stored
    return None


def stored_papers(search: SearchIndex, digests: Sequence[Digest]) -> tuple[list[StoredPaper], int]:
    """The index's own records of the papers the digests hold, and how many digest entries it does not hold."""
    found: dict[int, StoredPaper] = {}
    seen: set[str] = set()
    missing = 0
    for digest in digests:
        for paper in digest.papers:
            identity = paper.key or paper_key(paper.title, paper.arxiv_id)
            if identity in seen:
                continue
            seen.add(identity)
            stored = lookup(search, paper)
            if stored is None:
                missing += 1
            else:
                found[stored.id] = stored
    return sorted(found.values(), key=lambda stored: stored.key), missing


def table(scores: dict[str, dict[str, names.KnownItemScores]]) -> str:
    """The scores as a Markdown table, one row per mode and kind."""
    lines = ["| mode | items | n | top 1 | top 3 | top 10 | MRR@10 |", "|---|---|---:|---:|---:|---:|---:|"]
    for mode, by_kind in scores.items():
        label = f"{mode} (default)" if mode == DEFAULT_MODE else mode
        for kind, result in by_kind.items():
            lines.append(
                f"| {label} | {KIND_LABELS[kind]} | {result.items} | {result.top1:.3f} | {result.top3:.3f} "
                f"| {result.top10:.3f} | {result.mrr10:.3f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, help="an existing index (default: build indexes/name-test)")
    parser.add_argument("--digests", type=Path, nargs="+", default=list(DEFAULT_DIGESTS), help="its digests")
    parser.add_argument("--limit", type=int, default=names.DEFAULT_LIMIT, help="items per kind at most")
    parser.add_argument("--seed", type=int, default=names.DEFAULT_SEED, help="the sampling seed")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="the modes to score")
    parser.add_argument("--misses", type=int, default=0, metavar="N", help=f"list N items {DEFAULT_MODE} misses")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    try:
        folder = args.index if args.index is not None else build_default_index(args.digests)
        digests = read_digests(args.digests)
        with SearchIndex(folder, index.embedder_for(folder)) as search:
            papers, missing = stored_papers(search, digests)
            held = search.info().papers
            texts = [names.PaperText(paper.key, paper.title, paper.abstract) for paper in papers]
            pools = {names.NAME: names.name_pool(texts, args.seed), names.TITLE: names.title_pool(texts, args.seed)}
            items = [item for pool in pools.values() for item in names.sample_items(pool, args.limit, args.seed)]
            paper_ids = {paper.key: paper.id for paper in papers}
            ranks = {mode: names.item_ranks(search, items, paper_ids, mode) for mode in args.modes}
            model = search.model
    except SemsearchError as exc:
        sys.exit(f"Error: {exc}")
    scores = names.summarize(items, ranks)
    counts = {kind: sum(1 for item in items if item.kind == kind) for kind in names.KINDS}
    notes = []
    if missing:
        notes.append(f"{missing} papers of the digests are not in the index")
    if len(papers) < held:
        notes.append(
            f"the index holds {held} papers, the digests {len(papers)} of them: uniqueness was judged over those"
        )

    if args.json:
        out = {
            "cpu": machine_line(),
            "index": str(folder),
            "model": model,
            "papers": len(papers),
            "index_papers": held,
            "seed": args.seed,
            "limit": args.limit,
            "candidates": {kind: len(pool) for kind, pool in pools.items()},
            "items": counts,
            "modes": {mode: {kind: s.to_dict() for kind, s in by_kind.items()} for mode, by_kind in scores.items()},
            "notes": notes,
        }
        print(json.dumps(out, indent=2))
        return
    print(f"CPU: {machine_line()}")
    print(f"Index: {folder} ({held} papers, {model}); items from {len(papers)} papers, seed {args.seed}")
    print(
        f"Items: {counts[names.NAME]} names (of {len(pools[names.NAME])} papers with a name no other paper holds), "
        f"{counts[names.TITLE]} title fragments (of {len(pools[names.TITLE])} papers with a unique fragment)"
    )
    for note in notes:
        print(f"Note: {note}")
    print()
    print(table(scores))
    if args.misses and DEFAULT_MODE in ranks:
        print(f"\nItems {DEFAULT_MODE} ranks below 3 (rank by mode; - = not in the top {names.DEPTH}):")
        shown = 0
        for position, item in enumerate(items):
            if shown == args.misses:
                break
            if (ranks[DEFAULT_MODE][position] or names.DEPTH + 1) > 3:
                by_mode = ", ".join(f"{mode} {ranks[mode][position] or '-'}" for mode in ranks)
                print(f"  {item.kind:5}  {item.query!r}  ->  {item.paper}  ({by_mode})")
                shown += 1


if __name__ == "__main__":
    main()
