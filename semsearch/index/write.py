"""The write path: `update`, `rebuild` and `remove`, and the commit protocol they share.

Every write holds the index's one-writer lock, embeds first (outside any transaction, checkpointing vectors so an
interrupted run's work is reused), then in one SQLite transaction stores the papers and, when a merge is due, writes
the next FAISS and word index files and records them (semsearch/index/merge.py). A crash before that commit leaves
the previous database and files in force.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from semsearch.errors import DiskFullError, ModelMismatchError, SemsearchError, is_disk_full
from semsearch.index.merge import (
    DEFAULT_POLICY,
    MergePolicy,
    merge,
    needs_merge,
    remove_orphans,
    tidy,
    word_counts,
)
from semsearch.ingest.digest import Digest, read_digests
from semsearch.keys import content_hash, document_text, normalize_title, paper_key
from semsearch.model.embed import Embedder
from semsearch.progress import Progress, ProgressFactory
from semsearch.search.resolve import resolve_paper_id
from semsearch.storage.locking import write_lock
from semsearch.storage.store import Store

log = logging.getLogger("semsearch")

# Papers embedded between two checkpoints of an interrupted run; the rest is reused on the rerun.
EMBED_CHECKPOINT = 1024
# Bytes a kept vector costs beyond its float32 values (its row, its hash, the page space rows of ~1.5 KB leave
# unused), and the room left over after a checkpoint.
CHECKPOINT_ROW_OVERHEAD = 1024
CHECKPOINT_MARGIN = 256 * 1024

# What `update` and `rebuild` take: digest files or folders, or digests built in memory.
Inputs = Sequence[Path | Digest]


@dataclass(frozen=True)
class UpdateReport:
    """What an update or rebuild did."""

    added: int
    updated: int
    already_present: int
    papers: int
    digests: int
    embedded: int
    path: str
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """The `--json` shape."""
        return {**asdict(self), "warnings": list(self.warnings)}


@dataclass(frozen=True)
class RemoveReport:
    """What `remove` did."""

    removed: list[str]
    papers: int
    path: str

    def to_dict(self) -> dict:
        """The `--json` shape."""
        return asdict(self)


# -- planning ---------------------------------------------------------------------------------------------------


@dataclass
class _Incoming:
    """One paper of this command's digests, merged over every file that featured it."""

    title: str
    abstract: str
    arxiv_id: str | None
    title_norm: str
    key: str | None = None
    appearances: list[tuple[str, str | None]] = field(default_factory=list)
    authors: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str:
        return content_hash(self.title, self.abstract)


@dataclass
class _Plan:
    new: list[_Incoming] = field(default_factory=list)
    changed: list[tuple[int, _Incoming]] = field(default_factory=list)
    unchanged: list[tuple[int, _Incoming]] = field(default_factory=list)
    learned_arxiv_ids: list[tuple[int, str]] = field(default_factory=list)


def _read(inputs: Inputs, default_date: dt.date | None, input_format: str | None) -> list[Digest]:
    """The digests of the files and folders (every one parsed before anything is written), then those given in
    memory."""
    paths = [item for item in inputs if not isinstance(item, Digest)]
    read = read_digests(paths, default_date=default_date, format=input_format) if paths else []
    # A file's papers are recorded under its absolute path, so `--digest FILE` finds them from any folder.
    return [replace(digest, source=str(Path(digest.source).resolve())) for digest in read] + [
        item for item in inputs if isinstance(item, Digest)
    ]


def _merge_digests(digests: Sequence[Digest]) -> list[_Incoming]:
    """One record per distinct paper; a later digest's text wins (it may carry a revised abstract)."""
    merged: list[_Incoming] = []
    by_key: dict[str, _Incoming] = {}
    by_arxiv: dict[str, _Incoming] = {}
    by_title: dict[str, _Incoming] = {}
    for digest in digests:
        for paper in digest.papers:
            title_norm = normalize_title(paper.title)
            if paper.key is not None:
                record = by_key.get(paper.key)
            else:
                record = by_arxiv.get(paper.arxiv_id) if paper.arxiv_id else None
                if record is None:
                    candidate = by_title.get(title_norm)
                    if candidate is not None and (
                        paper.arxiv_id is None or candidate.arxiv_id in (None, paper.arxiv_id)
                    ):
                        record = candidate
            if record is None:
                record = _Incoming(paper.title, paper.abstract, paper.arxiv_id, title_norm, paper.key)
                merged.append(record)
            else:
                record.title, record.abstract = paper.title, paper.abstract
                record.arxiv_id = record.arxiv_id or paper.arxiv_id
            record.authors = paper.authors or record.authors
            if record.key is not None:
                by_key[record.key] = record
            else:
                if record.arxiv_id:
                    by_arxiv[record.arxiv_id] = record
                by_title.setdefault(title_norm, record)
            record.appearances.append((digest.source, paper.date))
    return merged


def _plan(store: Store, incoming: Sequence[_Incoming]) -> _Plan:
    plan = _Plan()
    for record in incoming:
        match = store.find_match(record.arxiv_id, record.title_norm, record.key)
        if match is None:
            plan.new.append(record)
            continue
        paper_id, stored_hash, stored_arxiv = match
        if record.arxiv_id and not stored_arxiv:
            plan.learned_arxiv_ids.append((paper_id, record.arxiv_id))
        if stored_hash == record.content_hash:
            plan.unchanged.append((paper_id, record))
        else:
            plan.changed.append((paper_id, record))
    return plan


# -- the write path ---------------------------------------------------------------------------------------------


@contextmanager
def _writing(
    folder: Path, wait: bool, on_wait: Callable[[], None] | None, create: bool = False
) -> Iterator[Store]:
    """The open database of an index, under its one-writer lock."""
    with write_lock(folder, wait=wait, on_wait=on_wait):
        store = Store.open(folder, create=create)
        try:
            yield store
        except BaseException as exc:
            # The transaction was rolled back: give back what the failed write took (the write-ahead log it grew,
            # derived files no committed state names), so a full disk is not left full by the failure itself.
            store.give_back_space()
            remove_orphans(store, folder)
            if is_disk_full(exc):
                raise DiskFullError(_disk_full_message(store, folder, exc)) from exc
            raise
        finally:
            store.close()


def _disk_full_message(store: Store, folder: Path, exc: BaseException) -> str:
    """One line for a log nobody watches: which disk, which file, what survived, what to do."""
    if isinstance(exc, OSError):
        name = Path(exc.filename).name if exc.filename else "the index files"
    else:
        name = store.path.name
    name = name.removesuffix(".tmp")
    try:
        kept = store.pending_count()
    except sqlite3.Error:  # the message must not fail on a database that just failed
        kept = 0
    kept_note = f" (the {kept} vectors embedded so far are kept: the rerun does not embed them again)" if kept else ""
    return (
        f"the disk holding {folder} is full (writing {name}); free space and run the same command again: "
        f"nothing in the index was changed{kept_note}"
    )


def update(
    folder: Path,
    inputs: Inputs,
    embedder: Embedder,
    default_date: dt.date | None = None,
    progress: ProgressFactory | None = None,
    wait: bool = True,
    on_wait: Callable[[], None] | None = None,
    input_format: str | None = None,
    policy: MergePolicy = DEFAULT_POLICY,
) -> UpdateReport:
    """Add the papers of these digests (files, folders, or `Digest` records) to the index at `folder`, embedding
    only papers it does not hold yet.

    `progress(total)` is called once with the number of papers to embed and returns a per-step callback.
    """
    digests = _read(inputs, default_date, input_format)
    warnings = _log_warnings(digests)
    incoming = _merge_digests(digests)
    with _writing(folder, wait, on_wait, create=True) as store:
        _claim_model(store, embedder)
        plan = _plan(store, incoming)
        to_embed = {r.content_hash: r for r in plan.new} | {r.content_hash: r for _, r in plan.changed}
        vectors, embedded = _embed_with_checkpoints(
            store, embedder, {h: document_text(r.title, r.abstract) for h, r in to_embed.items()}, progress
        )
        with store.transaction():
            store.ensure_word_tables()
            store.ensure_feed_tables()
            _apply_plan(store, plan, vectors)
            if needs_merge(store, folder, policy):
                merge(store, folder, embedder.dim, policy)
            store.save_state(replace(store.state(), updated_at=_now()))
            store.clear_pending_vectors()
        tidy(store, folder)
        return _report(store, plan, digests, embedded, folder, warnings)


def rebuild(
    folder: Path,
    inputs: Inputs,
    embedder: Embedder,
    default_date: dt.date | None = None,
    progress: ProgressFactory | None = None,
    reuse_vectors: bool = False,
    wait: bool = True,
    on_wait: Callable[[], None] | None = None,
    input_format: str | None = None,
    policy: MergePolicy = DEFAULT_POLICY,
) -> UpdateReport:
    """Re-embed every stored paper (and any papers of `inputs`) with `embedder`, and swap the new index in at once.

    With `reuse_vectors`, the stored vectors are kept and only the derived files are written again (a repair).
    """
    digests = _read(inputs, default_date, input_format)
    warnings = _log_warnings(digests)
    incoming = _merge_digests(digests)
    with _writing(folder, wait, on_wait, create=bool(inputs)) as store:
        recorded_model = store.state().model
        if reuse_vectors and recorded_model not in (None, embedder.model_id):
            raise ModelMismatchError(
                f"the stored vectors come from {recorded_model}, not {embedder.model_id}; "
                "run `semsearch rebuild` without --reuse-vectors to re-embed them"
            )
        plan = _plan(store, incoming)
        texts: dict[str, str] = {}
        if not reuse_vectors:
            for _, title, abstract in store.all_texts():
                texts[content_hash(title, abstract)] = document_text(title, abstract)
        for record in [*plan.new, *(r for _, r in plan.changed)]:
            texts[record.content_hash] = document_text(record.title, record.abstract)
        vectors, embedded = _embed_with_checkpoints(store, embedder, texts, progress)
        with store.transaction():
            store.ensure_word_tables()
            store.ensure_feed_tables()
            _apply_plan(store, plan, vectors)
            if not reuse_vectors:
                rows = store.all_texts()
                store.set_vectors(
                    [paper_id for paper_id, _, _ in rows],
                    np.stack([vectors[content_hash(t, a)] for _, t, a in rows])
                    if rows
                    else np.empty((0, embedder.dim), np.float32),
                )
            store.save_state(replace(store.state(), model=embedder.model_id, dim=embedder.dim))
            merge(store, folder, embedder.dim, policy, from_scratch=True)
            store.save_state(replace(store.state(), updated_at=_now()))
            store.clear_pending_vectors()
        tidy(store, folder)
        return _report(store, plan, digests, embedded, folder, warnings)


def remove(
    folder: Path,
    references: Sequence[str],
    wait: bool = True,
    on_wait: Callable[[], None] | None = None,
    policy: MergePolicy = DEFAULT_POLICY,
) -> RemoveReport:
    """Forget papers named by key, arXiv id or title; all of them or, if one is unknown, none."""
    with _writing(folder, wait, on_wait) as store:
        ids = list(dict.fromkeys(resolve_paper_id(store, reference) for reference in references))
        keys = [paper.key for paper in store.papers(ids).values()]
        with store.transaction():
            store.delete_papers(ids)
            state = store.state()
            if state.model is not None and len(store.superseded_ids()) >= policy.merge_threshold:
                merge(store, folder, state.dim, policy)
            store.save_state(replace(store.state(), updated_at=_now()))
        tidy(store, folder)
        return RemoveReport(removed=keys, papers=store.paper_count(), path=str(folder))


def _report(
    store: Store, plan: _Plan, digests: Sequence[Digest], embedded: int, folder: Path, warnings: tuple[str, ...]
) -> UpdateReport:
    return UpdateReport(
        added=len(plan.new),
        updated=len(plan.changed),
        already_present=len(plan.unchanged),
        papers=store.paper_count(),
        digests=len(digests),
        embedded=embedded,
        path=str(folder),
        warnings=warnings,
    )


def _log_warnings(digests: Sequence[Digest]) -> tuple[str, ...]:
    """Pass the readers' warnings (skipped records or files) to the log, and return them for the report."""
    warnings = tuple(warning for digest in digests for warning in digest.warnings)
    for warning in warnings:
        log.warning("%s", warning)
    return warnings


def _claim_model(store: Store, embedder: Embedder) -> None:
    """Record the model of a new index, or refuse to mix vectors of two models in one index."""
    state = store.state()
    if state.model is None:
        with store.transaction():
            store.save_state(replace(state, model=embedder.model_id, dim=embedder.dim, created_at=_now()))
        return
    if state.model != embedder.model_id or state.dim != embedder.dim:
        raise ModelMismatchError(
            f"the index at {store.path.parent} was built with {state.model} ({state.dim}-d), but semsearch now "
            f"embeds with {embedder.model_id} ({embedder.dim}-d); run `semsearch rebuild` to re-embed it"
        )


def _embed_with_checkpoints(
    store: Store, embedder: Embedder, texts: dict[str, str], progress: ProgressFactory | None
) -> tuple[dict[str, np.ndarray], int]:
    """Vectors for every text and how many were embedded now; reuses those an interrupted run kept."""
    vectors = store.pending_vectors(texts.keys(), embedder.model_id, embedder.dim)
    missing = [h for h in texts if h not in vectors]
    step = progress(len(missing)) if (progress is not None and missing) else None
    done = 0
    for positions, chunk_vectors in _embedded_chunks(embedder, [texts[h] for h in missing], step):
        if chunk_vectors.shape != (len(positions), embedder.dim):
            raise SemsearchError(f"the embedding model returned vectors of shape {chunk_vectors.shape}")
        chunk = [missing[i] for i in positions]
        done += len(chunk)
        _ensure_room_for_checkpoint(store, len(chunk), embedder.dim)
        with store.transaction():
            store.save_pending_vectors(embedder.model_id, zip(chunk, chunk_vectors))
        # Fold the checkpoint into the database file now: should a later write fail on a full disk, the log then
        # holds nothing committed and can be truncated, giving its space back.
        store.give_back_space()
        vectors.update(zip(chunk, chunk_vectors))
    if done != len(missing):
        raise SemsearchError(f"the embedding model returned {done} vectors for {len(missing)} papers")
    return vectors, len(missing)


def _embedded_chunks(
    embedder: Embedder, texts: list[str], step: Progress | None
) -> Iterator[tuple[list[int], np.ndarray]]:
    """(positions in `texts`, their vectors) in chunks of EMBED_CHECKPOINT, each worth a checkpoint.

    An embedder that streams (a Ray cluster, semsearch/model/cluster.py) embeds all the texts in one run, so its
    workers load the model once, and its vectors are checkpointed as they come back; any other embedder is called
    once per chunk.
    """
    stream = getattr(embedder, "embed_stream", None)
    if not texts:
        return
    if stream is None:
        for start in range(0, len(texts), EMBED_CHECKPOINT):
            positions = list(range(start, min(start + EMBED_CHECKPOINT, len(texts))))
            yield positions, embedder.embed_documents([texts[i] for i in positions], progress=step)
        return
    positions, parts = [], []
    for batch_positions, batch_vectors in stream(texts, step):
        positions.extend(int(i) for i in batch_positions)
        parts.append(batch_vectors)
        if len(positions) >= EMBED_CHECKPOINT:
            yield positions, np.concatenate(parts)
            positions, parts = [], []
    if positions:
        yield positions, np.concatenate(parts)


def _ensure_room_for_checkpoint(store: Store, count: int, dim: int) -> None:
    """Refuse to keep a checkpoint the disk cannot hold twice over (the write-ahead log, then the database file):
    one that only fits in the log would keep the disk full after the run fails. The commit that follows needs more
    than the checkpoint, so a disk without room for it fails now, not after the rest of the embedding."""
    needed = 2 * count * (4 * dim + CHECKPOINT_ROW_OVERHEAD) + CHECKPOINT_MARGIN
    free = shutil.disk_usage(store.path.parent).free
    if free < needed:
        raise DiskFullError(
            f"the disk holding {store.path.parent} is nearly full (writing {store.path.name}: {_mb(free)} free, about "
            f"{_mb(needed)} needed to keep the vectors embedded so far); free space and run the same command again: "
            "nothing in the index was changed"
            + (f" (the {store.pending_count()} vectors kept earlier are still kept)" if store.pending_count() else "")
        )


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _apply_plan(store: Store, plan: _Plan, vectors: dict[str, np.ndarray]) -> None:
    """Write the plan's papers, vectors, words and appearances; new vectors wait in the `unindexed` list."""
    written: list[tuple[int, str, str]] = []
    new_ids: list[int] = []
    for paper_id, arxiv_id in plan.learned_arxiv_ids:
        if store.id_by_arxiv_id(arxiv_id) is None:
            store.set_arxiv_id(paper_id, arxiv_id)
    for record in plan.new:
        key = record.key or _free_key(store, paper_key(record.title, record.arxiv_id))
        paper_id = store.insert_paper(
            key,
            record.title_norm,
            record.title,
            record.abstract,
            record.arxiv_id,
            record.content_hash,
            vectors[record.content_hash],
        )
        store.mark_unindexed(paper_id)
        new_ids.append(paper_id)
        written.append((paper_id, record.title, record.abstract))
        for source, date in record.appearances:
            store.add_appearance(paper_id, source, date)
    for paper_id, record in plan.changed:
        vector = vectors[record.content_hash]
        store.update_paper_content(paper_id, record.title, record.abstract, record.content_hash, vector)
        store.mark_unindexed(paper_id, superseded=True)
        written.append((paper_id, record.title, record.abstract))
    store.set_paper_terms(word_counts(store, written))
    for paper_id, record in [*plan.changed, *plan.unchanged]:
        for source, date in record.appearances:
            store.add_appearance(paper_id, source, date)
    # Authors are not part of the embedded text: a digest that names them for a stored paper (an index made before
    # authors were kept, a digest without them read first) adds them without re-embedding anything.
    for paper_id, record in [*zip(new_ids, plan.new), *plan.changed, *plan.unchanged]:
        if record.authors:
            store.set_authors(paper_id, record.authors)


def _free_key(store: Store, key: str) -> str:
    """`key`, or `key-2`, `key-3`... when another paper (a different one with a similar title) holds it."""
    candidate, suffix = key, 2
    while store.key_taken(candidate):
        candidate, suffix = f"{key}-{suffix}", suffix + 1
    return candidate


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
