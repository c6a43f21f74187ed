"""Merges: writing the FAISS and word index files from the database, inside the transaction that names them.

Papers added or changed since the last merge are searched from the database beside the files (the recent layer);
a merge folds them into new files of the next generation, written under new names, fsynced and renamed, and the
same SQLite transaction records them. A crash before the commit leaves the previous files and state in force; the
files no committed state names are deleted by `tidy` after the next commit.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from semsearch.errors import IndexCorruptError
from semsearch.storage.state import DerivedFiles, is_derived_file, load_vector_file, load_word_file
from semsearch.storage.store import Store
from semsearch.storage.terms import TermCounter
from semsearch.storage.vectors import VectorIndex, is_ivf_factory
from semsearch.storage.wordindex import Postings, encode_counts

log = logging.getLogger("semsearch")

T = TypeVar("T")


@dataclass(frozen=True)
class MergePolicy:
    """When a write merges the recent layer into new files, and which kind of FAISS index it writes."""

    # Papers added or changed since the files were written are searched from the database; past this many, an
    # update writes new files (a few thousand vectors read from SQLite cost a cold query a few milliseconds).
    merge_threshold: int = 2048
    # From this many papers on, the FAISS file scans 4-bit codes and re-ranks by float16 vectors (storage/vectors.py)
    # instead of scanning float16 vectors: up to here a question reads at most 15 MB; the compressed scan reads
    # 96 bytes a paper (8 MB at 83k, where float16 reads 64 MB) with recall@10 0.997-1.000 against exact float32
    # (scripts/bench.py --only switch). Below it, product quantization has too few vectors to train on well.
    compressed_from: int = 20_000
    # From this many papers on, the FAISS file is an inverted-file (IVF) index, trained once and extended in place.
    # At 1M papers the compressed scan answered in 5.8 ms p50 at recall@10 0.994 on off-field questions, while
    # IVF4096 needed nprobe 1024 for 0.983 in 21.9 ms (scripts/bench.py --only ann); a scan grows with the
    # collection, so IVF pays only past a couple of million papers.
    approximate_from: int = 2_000_000
    # An IVF index is extended in place until the collection is this many times the size it was trained on; then
    # its lists hold ~4x the vectors they were sized for (each search ~4x slower) and the next merge trains anew.
    # A day's digest never triggers this on its own: merges happen every `merge_threshold` papers.
    retrain_growth: float = 4.0


DEFAULT_POLICY = MergePolicy()


def needs_merge(store: Store, folder: Path, policy: MergePolicy) -> bool:
    """Whether to write new files now: the recent layer grew too big, or a committed file is missing."""
    if store.unindexed_count() >= policy.merge_threshold:
        return True
    files = store.state().files
    return any(name is None or not (folder / name).is_file() for name in (files.vector_file, files.word_file))


def merge(store: Store, folder: Path, dim: int, policy: MergePolicy, from_scratch: bool = False) -> DerivedFiles:
    """Write the next generation of FAISS and word index files holding every current paper, and record them in the
    state (in the caller's transaction).

    Exact indexes are rebuilt from the stored vectors; an approximate one is extended in place (no retraining),
    and one is trained when the collection first reaches `policy.approximate_from` papers, has grown
    `policy.retrain_growth` times past the size it was trained on, or on a rebuild (`from_scratch`).
    """
    state = store.state()
    files = state.files
    vectors, trained_on = _merged_vectors(store, folder, dim, files, policy, from_scratch)
    postings = _merged_words(store, folder, files, from_scratch)
    generation, vector_name, word_name = files.next_names()
    vectors.save(folder / vector_name)
    postings.save(folder / word_name)
    merged = DerivedFiles(
        generation=generation,
        vector_file=vector_name,
        vector_count=vectors.size,
        factory=vectors.factory,
        nprobe=vectors.nprobe,
        ivf_trained_on=trained_on,
        word_file=word_name,
        word_count=postings.size,
    )
    store.save_state(replace(state, files=merged))
    # The files now hold every paper; the database keeps only what changes after them.
    store.clear_unindexed()
    store.clear_paper_terms()
    return merged


def _merged_vectors(
    store: Store, folder: Path, dim: int, files: DerivedFiles, policy: MergePolicy, from_scratch: bool
) -> tuple[VectorIndex, int]:
    """The FAISS index of every current vector, and the collection size its IVF was trained at (0: not IVF)."""
    paper_count = store.paper_count()
    base = None
    if not from_scratch and files.vector_file is not None and is_ivf_factory(files.factory):
        # Only an IVF index is extended; a scanned one (exact or compressed) is cheaper to build again than to edit.
        base = _extendable(lambda: load_vector_file(folder, files, dim))
    trained_on = files.ivf_trained_on
    if base is not None and base.is_approximate and trained_on and paper_count >= policy.retrain_growth * trained_on:
        base = None
    if base is not None and base.is_approximate:
        base.remove(np.fromiter(store.superseded_ids(), dtype=np.int64))
        base.add(*store.unindexed_vectors(dim))
        if base.size == paper_count:
            return base, trained_on
        log.warning("the vector file %s is out of step with the database; rebuilding it", files.vector_file)
    ids, matrix = store.all_vectors(dim)
    if paper_count >= policy.approximate_from:
        return VectorIndex.train_ivf(dim, ids, matrix), paper_count
    if paper_count >= policy.compressed_from:
        return VectorIndex.build_compressed(dim, ids, matrix), 0
    return VectorIndex.build(dim, ids, matrix), 0


def _merged_words(store: Store, folder: Path, files: DerivedFiles, from_scratch: bool) -> Postings:
    """The word index of every current paper: the committed file extended with the recent papers' stored counts
    (nothing tokenized again), or, without a usable file, every paper counted anew."""
    store.ensure_word_tables()
    base = None if from_scratch or files.word_file is None else _extendable(lambda: load_word_file(folder, files))
    if base is not None:
        postings = base.merged(store.superseded_ids() | store.unindexed_ids(), store.paper_terms())
        if postings.size == store.paper_count():
            return postings
        log.warning("the word index file %s is out of step with the database; counting every paper's words again",
                    files.word_file)
    stored = store.paper_terms()
    if len(stored) == store.unindexed_count():  # the recent papers' counts are all there: count only the rest
        return Postings.from_counts(stored + word_counts(store, store.indexed_texts()))
    return Postings.from_counts(word_counts(store, store.all_texts()))


def _extendable(load: Callable[[], T]) -> T | None:
    """A committed file to extend, or None (with a warning) when it cannot be used and is written from scratch."""
    try:
        return load()
    except (IndexCorruptError, OSError) as exc:
        log.warning("%s; writing it again from the database", exc)
        return None


def word_counts(store: Store, papers: Sequence[tuple[int, str, str]]) -> list[tuple[int, bytes]]:
    """(id, stored word counts) of these (id, title, abstract) papers; new terms are numbered in the database."""
    found: list[tuple[int, bytes]] = []
    if not papers:
        return found
    with TermCounter() as counter:
        for start in range(0, len(papers), 4096):
            batch = papers[start : start + 4096]
            counts = counter.count([(title, abstract) for _, title, abstract in batch])
            ids = store.term_ids((term for pair in counts for side in pair for term in side), create=True)
            for (paper_id, _, _), (in_title, in_abstract) in zip(batch, counts):
                terms = list(in_title.keys() | in_abstract.keys())
                found.append(
                    (
                        paper_id,
                        encode_counts(
                            np.array([ids[term] for term in terms], dtype=np.int64),
                            np.array([in_title[term] for term in terms], dtype=np.int64),
                            np.array([in_abstract[term] for term in terms], dtype=np.int64),
                        ),
                    )
                )
    return found


def tidy(store: Store, folder: Path) -> None:
    """After a commit: delete derived files no committed state names; return freed pages to the file system."""
    remove_orphans(store, folder)
    try:
        store.release_free_pages()
    except sqlite3.Error as exc:  # the write is committed; the space comes back at the next write
        log.warning("could not return free pages to the file system (%s)", exc)


def remove_orphans(store: Store, folder: Path) -> None:
    """Delete the derived files (and temporaries) no committed state names; the caller holds the write lock.
    Best effort: after a failed write it must not hide the failure."""
    try:
        files = store.state().files
    except sqlite3.Error:
        return
    current = {files.vector_file, files.word_file}
    for path in folder.iterdir():
        if is_derived_file(path.name) and path.name not in current:
            path.unlink(missing_ok=True)
